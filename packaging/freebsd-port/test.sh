#!/bin/bash
# Offline checks of the FreeBSD port in net/wgstun. Run from anywhere:
#   bash packaging/freebsd-port/test.sh
# Needs: go (the daemon is built for freebsd/amd64 and for this host), the
# Debian package shellcheck, and sh. Installs nothing.
#
# 1. files/wgstun.in with %%PREFIX%% substituted passes `sh -n` and
#    `shellcheck -s sh`.
# 2. The rc.d script, run against rc.subr.stub with a test rc.conf: the
#    daemon(8) command line for default and customised knobs (wgstun_flags go
#    to wgstun, never to daemon(8); syslog vs logfile), start refused when the
#    configuration is bad (the real wgstun check runs), reload sends SIGHUP to
#    the child in the child pidfile, configtest, required_modules.
# 3. stage.sh stages what `make stage` would (GO_TARGET built for FreeBSD,
#    USE_RC_SUBR, post-install) and the staged tree must equal pkg-plist plus
#    the framework's own entries, file for file; modes are checked.
# 4. The sample configuration passes `wgstun check`; GO_MODULE matches go.mod.
# 5. makesum.sh writes distinfo as `make makesum` would: run against a
#    file:// Go proxy holding this checkout as the port's version (a module
#    zip of the tracked files, nested modules left out, which `go mod
#    download` validates), the SHA256 and SIZE lines must be those of the
#    served .mod and .zip under go.mk's DIST_SUBDIR; a version the proxy
#    lacks fails and writes nothing.
# 6. portlint-style checks that need no FreeBSD (portlint -AC's rules as far
#    as they read files): the Makefile's variable order and `VAR=<tab>`
#    form, no trailing blanks, COMMENT's form, pkg-descr's width, a final
#    .include <bsd.port.mk>, every FILESDIR file used.
#
# Not verifiable here (needs FreeBSD): bsd.port.mk itself (`make stage
# check-plist`, `portlint -AC`, `poudriere testport`), the cgo wgctrl build,
# distinfo from the real proxy (makesum.sh fetches it when online; the
# test uses a local proxy), portlint itself, daemon(8)'s restart and pidfile behaviour,
# kldload if_wg, and the service actually running.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
port=$here/net/wgstun
failures=0 passes=0

need() {
	command -v "$1" >/dev/null 2>&1 || {
		echo "freebsd-port test: '$1' not found; install $2" >&2
		exit 2
	}
}
need go "Go 1.26 (see scripts/deps.sh)"
need shellcheck "the Debian package shellcheck (apt-get install shellcheck)"
need sh "dash or any POSIX sh"

tmp=$(mktemp -d)
trap 'kill "${hup_pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT

fails() { ! "$@" >/dev/null 2>&1; }
pass() { passes=$((passes + 1)); echo "ok   $1"; }
fail() { failures=$((failures + 1)); echo "FAIL $1" >&2; }
check() { # check NAME COMMAND...
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

# --- build: host binary for running check, freebsd binary for staging ---
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$tmp/wgstun-host" ./src/cmd/wgstun)
(cd "$root" && GOOS=freebsd GOARCH=amd64 CGO_ENABLED=0 go build -trimpath -o "$tmp/wgstun-freebsd" ./src/cmd/wgstun)
check "GO_TARGET ./src/cmd/wgstun builds for freebsd/amd64" test -s "$tmp/wgstun-freebsd"

# --- 1. lint ---
sed 's|%%PREFIX%%|/usr/local|g' "$port/files/wgstun.in" >"$tmp/wgstun.rc"
check "rc.d script: sh -n" sh -n "$tmp/wgstun.rc"
# SC1091: /etc/rc.subr is not on this machine. SC2034: rcvar, command,
# command_args, required_*, extra_commands, *_cmd are read by rc.subr.
check "rc.d script: shellcheck -s sh" shellcheck -s sh -e SC1091,SC2034 "$tmp/wgstun.rc"
check "stage.sh, test.sh, rc.subr.stub: shellcheck" shellcheck "$here/stage.sh" "$here/test.sh"
check "rc.subr.stub: shellcheck" shellcheck -s sh "$here/rc.subr.stub"

# --- 2. rc.d script behaviour against the stub rc.subr ---
mkdir -p "$tmp/prefix/sbin" "$tmp/prefix/etc/wgstun" "$tmp/run"
cp "$tmp/wgstun-host" "$tmp/prefix/sbin/wgstun"
cp "$port/files/wgstun.toml.sample" "$tmp/prefix/etc/wgstun/wgstun.toml"
sed -e "s|%%PREFIX%%|$tmp/prefix|g" -e "s|/etc/rc.subr|$here/rc.subr.stub|" \
	-e "s|/var/run/|$tmp/run/|g" "$port/files/wgstun.in" >"$tmp/rc"
export RC_CONF=$tmp/rc.conf RC_ARGV=$tmp/argv RC_MODULES=$tmp/modules

rc() { (unset flags; sh "$tmp/rc" "$@"); }
argv() { paste -sd' ' "$RC_ARGV"; }
P=$tmp/prefix R=$tmp/run

echo 'wgstun_enable="NO"' >"$RC_CONF"
rm -f "$RC_ARGV"
out=$(rc start)
check "start with wgstun_enable=NO does nothing" test ! -e "$RC_ARGV"
check "start with wgstun_enable=NO says why" grep -q "Set wgstun_enable to YES" <<<"$out"

echo 'wgstun_enable="YES"' >"$RC_CONF"
rc start >/dev/null
want="/usr/sbin/daemon -P $R/wgstun.pid -p $R/wgstun.child.pid -r -R 5 -f -S -T wgstun $P/sbin/wgstun run -c $P/etc/wgstun/wgstun.toml"
got=$(argv)
check "default start: daemon(8) supervises, restarts, syslog tag wgstun" test "$got" = "$want"
[ "$got" = "$want" ] || printf '  want: %s\n  got:  %s\n' "$want" "$got" >&2
check "required_modules is if_wg" test "$(cat "$RC_MODULES")" = if_wg

cp "$port/files/wgstun.toml.sample" "$tmp/other.toml"
cat >"$RC_CONF" <<CONF
wgstun_enable="YES"
wgstun_config="$tmp/other.toml"
wgstun_flags="--extra"
wgstun_logfile="/var/log/wgstun.log"
wgstun_restart_delay="30"
CONF
rc start >/dev/null
want="/usr/sbin/daemon -P $R/wgstun.pid -p $R/wgstun.child.pid -r -R 30 -f -o /var/log/wgstun.log -H $P/sbin/wgstun run -c $tmp/other.toml --extra"
got=$(argv)
check "knobs: config, flags after 'run' (not daemon's), logfile, delay" test "$got" = "$want"
[ "$got" = "$want" ] || printf '  want: %s\n  got:  %s\n' "$want" "$got" >&2

printf '[stun]\nservers = []\nbogus = 1\n' >"$tmp/bad.toml"
printf 'wgstun_enable="YES"\nwgstun_config="%s"\n' "$tmp/bad.toml" >"$RC_CONF"
rm -f "$RC_ARGV"
set +e
err=$(rc start 2>&1)
status=$?
set -e
check "start refused when wgstun check fails" test "$status" -ne 0 -a ! -e "$RC_ARGV"
check "refusal names the config file" grep -q "$tmp/bad.toml has errors" <<<"$err"
check "refusal shows wgstun's own problem list" grep -q "bogus" <<<"$err"
check "configtest fails on the bad config" fails rc configtest

printf 'wgstun_enable="YES"\nwgstun_config="%s"\n' "$tmp/missing.toml" >"$RC_CONF"
check "start refused when the config file is missing (required_files)" fails rc start

echo 'wgstun_enable="YES"' >"$RC_CONF"
check "configtest passes on the sample config" rc configtest
rm -f "$R/wgstun.child.pid"
check "reload without a child pidfile fails" fails rc reload
# A stand-in child that records SIGHUP.
sh -c 'trap "echo hup >>\"$1\"" HUP; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done' _ "$tmp/hup" &
hup_pid=$!
echo "$hup_pid" >"$R/wgstun.child.pid"
sleep 0.2
rc reload >/dev/null
for _ in $(seq 50); do [ -s "$tmp/hup" ] && break; sleep 0.1; done
check "reload sends SIGHUP to the pid in the child pidfile" grep -q hup "$tmp/hup"
kill "$hup_pid" 2>/dev/null || true
wait "$hup_pid" 2>/dev/null || true
hup_pid=
rc stop >/dev/null
check "stop removes the child pidfile" test ! -e "$R/wgstun.child.pid"

# --- 3. staged tree vs pkg-plist ---
stage=$tmp/stage
auto=$("$here/stage.sh" "$port" "$stage" "$tmp/wgstun-freebsd")
prefix=/usr/local
: >"$tmp/plist-files"
: >"$tmp/plist-dirs"
while read -r first rest; do
	case $first in
	'' | '@comment') ;;
	'@sample')
		# "@sample X.sample" or "@sample SRC DST": SRC is the staged file.
		echo "${rest%% *}" >>"$tmp/plist-files"
		;;
	'@dir') echo "$rest" >>"$tmp/plist-dirs" ;;
	@*) fail "pkg-plist: keyword $first is not understood by this test" ;;
	*) echo "$first" >>"$tmp/plist-files" ;;
	esac
done <"$port/pkg-plist"
printf '%s\n' "$auto" >>"$tmp/plist-files"
sort -u "$tmp/plist-files" -o "$tmp/plist-files"
(cd "$stage$prefix" && find . -type f -o -type l | sed 's|^\./||' | sort) >"$tmp/staged"
if diff -u "$tmp/plist-files" "$tmp/staged" >"$tmp/plist.diff"; then
	pass "pkg-plist (+ etc/rc.d/wgstun from USE_RC_SUBR) lists exactly the staged files"
else
	fail "pkg-plist vs staged tree (- plist only, + staged only):"
	cat "$tmp/plist.diff" >&2
fi
while read -r d; do
	check "@dir $d is staged" test -d "$stage$prefix/$d"
done <"$tmp/plist-dirs"
check "@sample entry names a .sample file" grep -Eq '^@sample [^ ]+\.sample$' "$port/pkg-plist"
mode() { stat -c %a "$stage$prefix/$1"; }
check "sbin/wgstun is 555" test "$(mode sbin/wgstun)" = 555
check "etc/rc.d/wgstun is 555" test "$(mode etc/rc.d/wgstun)" = 555
check "sample config is 444" test "$(mode etc/wgstun/wgstun.toml.sample)" = 444
check "staged rc.d script has no %%placeholders%% left" fails grep -q %% "$stage$prefix/etc/rc.d/wgstun"
# ELF e_ident[EI_OSABI] (byte 7) is 9, ELFOSABI_FREEBSD, in Go's FreeBSD binaries.
check "staged binary is a FreeBSD ELF" test "$(od -An -tu1 -j7 -N1 "$stage$prefix/sbin/wgstun" | tr -d ' ')" = 9

# --- 4. sample config and module path ---
check "sample config passes wgstun check" "$tmp/wgstun-host" check -c "$port/files/wgstun.toml.sample" >/dev/null
mod=$(sed -n 's/^module //p' "$root/go.mod")
check "GO_MODULE matches go.mod ($mod)" grep -Eq "^GO_MODULE=[[:space:]]+$mod\$" "$port/Makefile"
gofloor=$(sed -n 's/^go \([0-9]*\.[0-9]*\).*/\1/p' "$root/go.mod")
check "Makefile uses go:$gofloor+,modules (go.mod's floor, as a range)" grep -Eq "^USES=[[:space:]]+go:${gofloor//./\\.}\\+,modules\$" "$port/Makefile"
check "MAINTAINER is a real address, the packages' own" grep -Eq '^MAINTAINER=[[:space:]]+wgstun@users\.noreply\.github\.com$' "$port/Makefile"
check "the manual page is installed" grep -q 'INSTALL_MAN.*src/cmd/wgstun/wgstun.8' "$port/Makefile"
full_tags=$(sed -n 's/^full_tags="\(.*\)"$/\1/p' "$root/scripts/builds.sh")
check "GO_BUILDFLAGS builds the full build (-tags $full_tags, as scripts/builds.sh says)" \
	grep -Eq "^GO_BUILDFLAGS=[[:space:]]+-tags $full_tags " "$port/Makefile"
check "LICENSE_FILE names the LICENSE the tarball carries" grep -Eq '^LICENSE_FILE=[[:space:]]+\$\{WRKSRC\}/LICENSE$' "$port/Makefile"
check "the repository has that LICENSE" test -s "$root/LICENSE"
check "USE_RC_SUBR=wgstun" grep -Eq '^USE_RC_SUBR=[[:space:]]+wgstun$' "$port/Makefile"

# --- 5. distinfo (makesum.sh) ---
version=$(sed -nE 's/^DISTVERSIONPREFIX=[[:space:]]+//p' "$port/Makefile")$(sed -nE 's/^DISTVERSION=[[:space:]]+//p' "$port/Makefile")
proxy=$tmp/proxy/$mod/@v
mkdir -p "$proxy"
python3 - "$root" "$proxy" "$mod" "$version" <<'PYEOF2'
import os, subprocess, sys, zipfile
root, proxy, module, version = sys.argv[1:]
files = [f for f in subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True, check=True).stdout.decode().split("\0") if f]
nested = [os.path.dirname(f) + "/" for f in files if f.endswith("/go.mod")]
keep = sorted(f for f in files if not any(f.startswith(n) for n in nested) and not f.startswith("vendor/")
              and os.path.isfile(os.path.join(root, f)) and not os.path.islink(os.path.join(root, f)))
with zipfile.ZipFile(os.path.join(proxy, version + ".zip"), "w", zipfile.ZIP_DEFLATED) as z:
    for f in keep:
        z.write(os.path.join(root, f), module + "@" + version + "/" + f)
with open(os.path.join(root, "go.mod"), "rb") as src, open(os.path.join(proxy, version + ".mod"), "wb") as dst:
    dst.write(src.read())
with open(os.path.join(proxy, version + ".info"), "w") as f:
    f.write('{"Version":"%s","Time":"2026-01-01T00:00:00Z"}\n' % version)
with open(os.path.join(proxy, "list"), "w") as f:
    f.write(version + "\n")
PYEOF2
dist=go/$(basename "$(dirname "$port")")_wgstun/wgstun-$version
if GOPROXY="file://$tmp/proxy" GOSUMDB=off GOFLAGS='' SOURCE_DATE_EPOCH=1767225600 \
	bash "$here/makesum.sh" "$tmp/distinfo" 2>"$tmp/makesum.err"; then
	want=$(printf '%s\n' "TIMESTAMP = 1767225600" \
		"SHA256 ($dist/$version.mod) = $(sha256sum "$proxy/$version.mod" | cut -d' ' -f1)" \
		"SIZE ($dist/$version.mod) = $(stat -c %s "$proxy/$version.mod")" \
		"SHA256 ($dist/$version.zip) = $(sha256sum "$proxy/$version.zip" | cut -d' ' -f1)" \
		"SIZE ($dist/$version.zip) = $(stat -c %s "$proxy/$version.zip")")
	check "makesum.sh: distinfo lists $version.mod and $version.zip under $dist, as served" test "$(cat "$tmp/distinfo")" = "$want"
	check "makesum.sh: the .mod it hashed is go.mod" grep -q "SHA256 ($dist/$version.mod) = $(sha256sum "$root/go.mod" | cut -d' ' -f1)" "$tmp/distinfo"
else
	fail "makesum.sh against the local proxy: $(cat "$tmp/makesum.err")"
fi
rm "$proxy/$version.zip"
check "makesum.sh: a version the proxy lacks fails" fails env GOPROXY="file://$tmp/proxy" GOSUMDB=off GOFLAGS='' bash "$here/makesum.sh" "$tmp/distinfo2"
check "makesum.sh: ... and writes nothing" test ! -e "$tmp/distinfo2"
check "makesum.sh: shellcheck" shellcheck "$here/makesum.sh"

# --- 6. portlint-style checks (what portlint -AC reads in the files) ---
mk=$port/Makefile
# The order portlint wants (Porter's Handbook, "Order of Variables in Port
# Makefiles"), for the variables this port sets.
order="PORTNAME DISTVERSIONPREFIX DISTVERSION CATEGORIES MAINTAINER COMMENT WWW LICENSE LICENSE_FILE RUN_DEPENDS USES GO_MODULE GO_TARGET GO_BUILDFLAGS USE_RC_SUBR SUB_FILES"
got=$(sed -nE 's/^([A-Z_]+)[?+:]?=.*/\1/p' "$mk" | tr '\n' ' ' | sed 's/ $//')
check "Makefile: variables in portlint's order ($order)" test "$got" = "$order"
check "Makefile: every assignment is VAR=<tab>value" fails grep -En '^[A-Z_]+[?+:]?= |^[A-Z_]+ +[?+:]?=' "$mk"
check "port files: no trailing blanks" fails grep -rnE '[[:space:]]+$' "$mk" "$port/pkg-descr" "$port/pkg-plist" "$port/files"
comment=$(sed -nE 's/^COMMENT=[[:space:]]+//p' "$mk")
check "COMMENT: under 70 characters" test "${#comment}" -lt 70
check "COMMENT: starts with a capital, no article, no final period" \
	grep -Eq '^[A-Z]' <<<"$comment" && fails grep -Eiq '^(a|an|the) |\.$' <<<"$comment"
check "pkg-descr: lines of at most 80 characters" fails grep -En '.{81,}' "$port/pkg-descr"
check "Makefile: ends with .include <bsd.port.mk>" test "$(grep -v '^$' "$mk" | tail -n1)" = ".include <bsd.port.mk>"
check "Makefile: WWW is an https URL" grep -Eq '^WWW=[[:space:]]+https://' "$mk"
for f in "$port"/files/*; do
	b=$(basename "$f")
	case $b in
	*.in) use=${b%.in} ;;
	*) use=$b ;;
	esac
	check "files/$b is used by the Makefile" grep -Eq "(USE_RC_SUBR|SUB_FILES)=.*\<$use\>|FILESDIR\}/$b" "$mk"
done

echo "freebsd-port: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
