#!/bin/sh
# cloudflare.sh: a wgstun (and stunmesh-go) shell store plugin that keeps
# records as TXT records on Cloudflare DNS with curl, for routers where the
# wgstun binary is built without the cloudflare store. POSIX sh: runs under
# busybox ash and dash; needs curl, awk and sed (busybox's are enough), no jq.
#
# Records are laid out as stunmesh-go and wgstun's cloudflare store lay them
# out, so all three read each other's: TXT at <key>.<CF_SUBDOMAIN>.<zone>
# (or <key>.<zone>), content = the hex value.
#
# Protocol (stdin, one per line): STUNMESH_ACTION=get|set, STUNMESH_KEY=<40
# hex>, STUNMESH_VALUE=<hex> (set). Exit 0 on success; get prints the value,
# or nothing when there is none. Errors go to stderr, exit 1.
#
# Configuration, from the environment or from a file of KEY=value lines
# given as the first argument (the file wins; # comments and blank lines
# are allowed; values may be in single or double quotes):
#   CF_API_TOKEN or CF_API_TOKEN_FILE   API token with Zone.DNS edit permission
#   CF_ZONE                             zone name, e.g. example.com
#   CF_ZONE_ID                          zone id (saves one request per call)
#   CF_SUBDOMAIN                        optional, e.g. wgstun
#   CF_API     default https://api.cloudflare.com/client/v4
#   CF_TTL     default 1 (automatic), or 60..86400 seconds
#   CF_TIMEOUT default 8 (seconds, per request)
#
# The token reaches curl on its stdin (-K -), never on its command line.
#
# JSON is read by a small awk scanner that flattens an answer to
# path=value lines (result.0.id=...). Its limits: \uXXXX escapes are left
# as they are and \n, \r, \t become spaces; it does not check that the
# JSON is well formed; keys containing "." or "=" would be ambiguous
# (Cloudflare's have none). It is enough for the few fields used here.

set -u

die() {
	printf 'cloudflare.sh: %s\n' "$*" >&2
	exit 1
}

CF_API_TOKEN=${CF_API_TOKEN:-}
CF_API_TOKEN_FILE=${CF_API_TOKEN_FILE:-}
CF_ZONE=${CF_ZONE:-}
CF_ZONE_ID=${CF_ZONE_ID:-}
CF_SUBDOMAIN=${CF_SUBDOMAIN:-}
CF_API=${CF_API:-https://api.cloudflare.com/client/v4}
CF_TTL=${CF_TTL:-1}
CF_TIMEOUT=${CF_TIMEOUT:-8}

cr=$(printf '\r')

read_config() {
	[ -r "$1" ] || die "cannot read the configuration file $1"
	n=0
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line%"$cr"}
		case $line in
		'' | '#'*) continue ;;
		*=*) ;;
		*) die "$1:$n: not KEY=value" ;;
		esac
		k=${line%%=*}
		v=${line#*=}
		case $v in
		\"*\") v=${v#\"} v=${v%\"} ;;
		\'*\') v=${v#\'} v=${v%\'} ;;
		esac
		case $k in
		CF_API_TOKEN) CF_API_TOKEN=$v ;;
		CF_API_TOKEN_FILE) CF_API_TOKEN_FILE=$v ;;
		CF_ZONE) CF_ZONE=$v ;;
		CF_ZONE_ID) CF_ZONE_ID=$v ;;
		CF_SUBDOMAIN) CF_SUBDOMAIN=$v ;;
		CF_API) CF_API=$v ;;
		CF_TTL) CF_TTL=$v ;;
		CF_TIMEOUT) CF_TIMEOUT=$v ;;
		*) die "$1:$n: unknown key $k" ;;
		esac
	done <"$1"
}

[ $# -gt 0 ] && read_config "$1"

# The request, from stdin.
action='' key='' value=''
while IFS= read -r line || [ -n "$line" ]; do
	line=${line%"$cr"}
	case $line in
	STUNMESH_ACTION=*) action=${line#*=} ;;
	STUNMESH_KEY=*) key=${line#*=} ;;
	STUNMESH_VALUE=*) value=${line#*=} ;;
	esac
done
case $action in
get | set) ;;
*) die "STUNMESH_ACTION must be get or set, not '$action'" ;;
esac
case $key in
'' | *[!0-9a-f]*) die "STUNMESH_KEY must be 40 lowercase hex digits" ;;
esac
[ ${#key} -eq 40 ] || die "STUNMESH_KEY must be 40 lowercase hex digits"
if [ "$action" = set ]; then
	case $value in
	'' | *[!0-9a-fA-F]*) die "STUNMESH_VALUE must be hex digits" ;;
	esac
fi

# The configuration, checked.
token=$CF_API_TOKEN
if [ -z "$token" ] && [ -n "$CF_API_TOKEN_FILE" ]; then
	[ -r "$CF_API_TOKEN_FILE" ] || die "cannot read CF_API_TOKEN_FILE $CF_API_TOKEN_FILE"
	IFS= read -r token <"$CF_API_TOKEN_FILE" || [ -n "$token" ] || die "CF_API_TOKEN_FILE $CF_API_TOKEN_FILE is empty"
	token=${token%"$cr"}
fi
[ -n "$token" ] || die "no API token: set CF_API_TOKEN or CF_API_TOKEN_FILE"
case $token in
*[!A-Za-z0-9._-]*) die "the API token has characters an API token does not have" ;;
esac
# DNS names here are ASCII (IDNs in punycode); ranges work in every tr.
# shellcheck disable=SC2018,SC2019
lower() { printf '%s' "$1" | tr 'A-Z' 'a-z'; }
zone=$(lower "${CF_ZONE%.}")
sub=$(lower "$CF_SUBDOMAIN")
sub=${sub%.}
sub=${sub#.}
for name in "$zone" "$sub"; do
	case $name in
	*[!a-z0-9._-]*) die "CF_ZONE and CF_SUBDOMAIN take letters, digits, '-', '_' and '.', not '$name'" ;;
	esac
done
[ -n "$zone" ] || [ -n "$CF_ZONE_ID" ] || die "set CF_ZONE (or CF_ZONE_ID)"
case $CF_ZONE_ID in
*[!A-Za-z0-9_-]*) die "CF_ZONE_ID '$CF_ZONE_ID' is not a zone id" ;;
esac
case $CF_TTL in
'' | *[!0-9]*) die "CF_TTL must be a number of seconds" ;;
esac
case $CF_TIMEOUT in
'' | *[!0-9]*) die "CF_TIMEOUT must be a number of seconds" ;;
esac
api=${CF_API%/}

# flatten: JSON on stdin to path=value lines, scalars only.
flatten() {
	awk '
	{ s = s $0 "\n" }
	function emit(v,   p, d) {
		p = ""
		for (d = 1; d <= depth; d++) p = (d == 1 ? comp[d] : p "." comp[d])
		print p "=" v
	}
	END {
		n = length(s); depth = 0; expectkey = 0
		for (i = 1; i <= n; ) {
			c = substr(s, i, 1)
			if (c == "{" || c == "[") {
				depth++; kind[depth] = c; comp[depth] = (c == "[" ? 0 : ""); expectkey = (c == "{"); i++
			} else if (c == "}" || c == "]") {
				depth--; i++
			} else if (c == ",") {
				if (kind[depth] == "[") comp[depth]++; else expectkey = 1
				i++
			} else if (c == ":") {
				expectkey = 0; i++
			} else if (c == "\"") {
				str = ""
				for (j = i + 1; j <= n; ) {
					ch = substr(s, j, 1)
					if (ch == "\\") {
						nx = substr(s, j + 1, 1)
						if (nx == "n" || nx == "r" || nx == "t") str = str " "
						else if (nx == "u" || nx == "b" || nx == "f") str = str "\\" nx
						else str = str nx
						j += 2
					} else if (ch == "\"") {
						break
					} else {
						str = str ch; j++
					}
				}
				i = j + 1
				if (kind[depth] == "{" && expectkey) comp[depth] = str
				else emit(str)
			} else if (c == " " || c == "\t" || c == "\n" || c == "\r") {
				i++
			} else {
				for (j = i; j <= n; j++) {
					ch = substr(s, j, 1)
					if (ch == "," || ch == "}" || ch == "]" || ch == " " || ch == "\n" || ch == "\t" || ch == "\r") break
				}
				emit(substr(s, i, j - i)); i = j
			}
		}
	}'
}

# field PATH: the value at PATH in the last answer ($flat), or nothing.
field() {
	printf '%s\n' "$flat" | awk -v p="$1=" 'index($0, p) == 1 { print substr($0, length(p) + 1); exit }'
}

# call METHOD PATH [BODY]: one API request; sets $status and $flat, and
# fails with Cloudflare's message unless it succeeded.
call() {
	if [ $# -ge 3 ]; then
		resp=$(printf 'header = "Authorization: Bearer %s"\n' "$token" |
			curl -sS -K - -X "$1" --max-time "$CF_TIMEOUT" -H 'Accept: application/json' \
				-H 'Content-Type: application/json' --data "$3" -w '\n%{http_code}' "$api$2") ||
			die "$1 $2: curl failed"
	else
		resp=$(printf 'header = "Authorization: Bearer %s"\n' "$token" |
			curl -sS -K - -X "$1" --max-time "$CF_TIMEOUT" -H 'Accept: application/json' \
				-w '\n%{http_code}' "$api$2") ||
			die "$1 $2: curl failed"
	fi
	status=${resp##*[!0-9]}
	flat=$(printf '%s\n' "${resp%"$status"}" | flatten)
	msg=$(field errors.0.message)
	case $status in
	401 | 403) die "Cloudflare rejected the API token (HTTP $status${msg:+: $msg})" ;;
	429) die "rate limited by Cloudflare (HTTP 429); the next call retries" ;;
	2??) [ "$(field success)" = true ] || die "$1 $2: HTTP $status: ${msg:-not an API answer}" ;;
	*) die "$1 $2: HTTP ${status:-?}${msg:+: $msg}" ;;
	esac
}

# The zone.
zid=$CF_ZONE_ID
if [ -z "$zid" ]; then
	call GET "/zones?name=$zone"
	zid=$(field result.0.id)
	[ -n "$zid" ] || die "zone $zone not found (or the token cannot read it)"
elif [ -z "$zone" ]; then
	call GET "/zones/$zid"
	zone=$(lower "$(field result.name)")
	[ -n "$zone" ] || die "zone id $zid has no name"
fi
case $zid in
*[!A-Za-z0-9_-]*) die "Cloudflare gave an odd zone id" ;;
esac

fqdn=$key.${sub:+$sub.}$zone
call GET "/zones/$zid/dns_records?type=TXT&name=$fqdn"
rid=$(field result.0.id)
content=$(field result.0.content)
case $content in
\"*) content=$(printf '%s\n' "$content" | sed 's/" *"//g; s/^"//; s/"$//') ;;
esac

if [ "$action" = get ]; then
	[ -n "$content" ] && printf '%s\n' "$content"
	exit 0
fi

[ "$content" = "$value" ] && exit 0
if [ -n "$rid" ]; then
	case $rid in
	*[!A-Za-z0-9_-]*) die "Cloudflare gave an odd record id" ;;
	esac
	call PATCH "/zones/$zid/dns_records/$rid" "{\"content\":\"$value\"}"
else
	call POST "/zones/$zid/dns_records" "{\"type\":\"TXT\",\"name\":\"$fqdn\",\"content\":\"$value\",\"ttl\":$CF_TTL}"
fi
exit 0
