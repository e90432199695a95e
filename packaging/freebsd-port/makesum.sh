#!/usr/bin/env bash
# makesum.sh: the port's distinfo, as `make makesum` writes it, without
# FreeBSD. With USES=go:modules and GO_MODULE, the distfiles are the
# release's VERSION.mod and VERSION.zip from the Go module proxy, kept under
# DIST_SUBDIR go/CATEGORY_PORTNAME/PORTNAME-DISTVERSIONFULL (Mk/Uses/go.mk);
# the dependencies are fetched at `make fetch` by `go mod download` and
# checked against go.sum, so distinfo does not list them. This script fetches
# the two files with `go mod download` (which checks them against the
# checksum database, or GOSUMDB's setting) into a module cache of its own,
# and writes their SHA256 and SIZE.
#
#   packaging/freebsd-port/makesum.sh [OUTPUT]   (default net/wgstun/distinfo)
#
# The version is the port's DISTVERSIONPREFIX and DISTVERSION. GOPROXY,
# GOSUMDB and GOFLAGS come from the environment, as for go itself; TIMESTAMP
# is SOURCE_DATE_EPOCH when set, else now. packaging/freebsd-port/test.sh
# runs it against a file:// proxy holding a module zip of the checkout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
port=$here/net/wgstun
out=${1:-$port/distinfo}

var() { # NAME: a plain NAME=<tab>value assignment of the port Makefile
	sed -nE "s/^$1=[[:space:]]+([^[:space:]]+)[[:space:]]*$/\\1/p" "$port/Makefile" | head -n1
}
name=$(var PORTNAME) prefix=$(var DISTVERSIONPREFIX) version=$(var DISTVERSION) module=$(var GO_MODULE)
for v in name version module; do
	[[ -n ${!v} ]] || { echo "makesum.sh: no ${v^^} in $port/Makefile" >&2; exit 1; }
done
category=$(basename "$(dirname "$port")")
full=$prefix$version
subdir=go/${category}_$name/$name-$full

tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
json=$(cd "$tmp" && GOMODCACHE=$tmp/mod GOFLAGS="${GOFLAGS:-} -modcacherw" go mod download -json "$module@$full") || {
	echo "makesum.sh: go mod download $module@$full failed:" >&2
	printf '%s\n' "$json" >&2
	exit 1
}
field() { sed -nE "s/^[[:space:]]*\"$1\": \"(.*)\",?$/\\1/p" <<<"$json" | head -n1; }
zip=$(field Zip) mod=$(field GoMod)
[[ -s $zip && -s $mod ]] || { echo "makesum.sh: no .zip or .mod for $module@$full in: $json" >&2; exit 1; }

{
	echo "TIMESTAMP = ${SOURCE_DATE_EPOCH:-$(date +%s)}"
	for f in "$mod:$full.mod" "$zip:$full.zip"; do
		path=${f%%:*} dist=$subdir/${f#*:}
		echo "SHA256 ($dist) = $(sha256sum "$path" | cut -d' ' -f1)"
		echo "SIZE ($dist) = $(stat -c %s "$path")"
	done
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "makesum.sh: wrote $out for $module@$full" >&2
