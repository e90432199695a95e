#!/bin/bash
# Shell snippets in single quotes are run by the shell under test, so they do not expand here.
# shellcheck disable=SC2016
# Tests for the OpenWrt packaging. Offline, installs nothing, cleans up after itself.
#   bash packaging/openwrt/test.sh
# Needs: shellcheck, tar, gzip, make, coreutils; Go 1.26 (the apk v3 writer in apk3/ and its
# tests; the real daemon checks the TOML the init script writes, or WGSTUN_BIN=path/to/wgstun). busybox (optional) reruns the init script under
# busybox ash, the shell OpenWrt has.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
td=$here/testdata
fails=0
ok() { echo "ok   $*"; }
bad() {
	echo "FAIL $*" >&2
	fails=$((fails + 1))
}
fatal() {
	echo "FAIL $*" >&2
	exit 1
}

missing=()
for t in shellcheck:shellcheck tar:tar gzip:gzip make:make sed:sed; do
	command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t%%:*} (apt package ${t##*:})")
done
[ ${#missing[@]} -eq 0 ] || fatal "missing tools: ${missing[*]}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# --- 1. syntax and shellcheck -----------------------------------------------------------------
for f in files/wgstun.init build-ipk.sh build-apk.sh testdata/uci-stubs.sh files/wgstun.apk-post-install files/wgstun.apk-post-upgrade files/wgstun.apk-pre-deinstall; do
	if sh -n "$here/$f" && shellcheck "$here/$f"; then ok "sh -n + shellcheck $f"; else bad "shellcheck $f"; fi
done
if bash -n "$here/test.sh" && shellcheck "$here/test.sh"; then ok "shellcheck test.sh"; else bad "shellcheck test.sh"; fi
[ "$(head -n1 "$here/files/wgstun.init")" = "#!/bin/sh /etc/rc.common" ] || bad "init script shebang"
grep -qx 'USE_PROCD=1' "$here/files/wgstun.init" || bad "init script lacks USE_PROCD=1"
grep -qx 'CONF_OUT=/var/etc/wgstun.toml' "$here/files/wgstun.init" || bad "TOML is not written to /var/etc/wgstun.toml"

wgstun=${WGSTUN_BIN:-}
if [ -z "$wgstun" ]; then
	command -v go >/dev/null 2>&1 || fatal "go not found (Go 1.26 in /usr/local/go, or set WGSTUN_BIN)"
	(cd "$top" && CGO_ENABLED=0 go build -trimpath -o "$tmp/wgstun" ./src/cmd/wgstun) || fatal "go build ./src/cmd/wgstun"
	wgstun=$tmp/wgstun
fi

# run_init SHELL UCIFILE PROCD_RUNNING SCRIPT: source the stubs and the init script in SHELL with
# UCIFILE as /etc/config/wgstun and the TOML going to $tmp/run/var/etc/wgstun.toml, run SCRIPT.
# Trace in $tmp/run/trace, stderr in $tmp/run/stderr, exit status returned.
run_init() {
	local uci=$2 running=$3 script=$4 shell
	read -r -a shell <<<"$1" # "sh" or "busybox sh"
	rm -rf "$tmp/run"
	mkdir -p "$tmp/run/uci"
	cp "$uci" "$tmp/run/uci/wgstun"
	: >"$tmp/run/trace"
	TRACE=$tmp/run/trace UCI_DIR=$tmp/run/uci OUT=$tmp/run/var/etc/wgstun.toml PROCD_RUNNING=$running \
		STUBS=$td/uci-stubs.sh INIT=$here/files/wgstun.init timeout 20 "${shell[@]}" -c '
		. "$STUBS"
		. "$INIT"
		CONF_OUT=$OUT
		'"$script" 2>"$tmp/run/stderr"
}
trace() { sed "s|$tmp/run/var/etc/wgstun.toml|@OUT@|" "$tmp/run/trace"; }

shells=(sh)
if command -v busybox >/dev/null 2>&1; then shells+=("busybox sh"); else echo "note: busybox not found, init script run with sh (dash) only"; fi

for sh in "${shells[@]}"; do
	# --- 2. start_service on the full fixture: exact TOML and procd calls ---------------------
	if run_init "$sh" "$td/full.uci" 0 start_service; then ok "[$sh] start_service (full fixture)"; else bad "[$sh] start_service failed: $(cat "$tmp/run/stderr")"; fi
	if diff -u "$td/full.toml" "$tmp/run/var/etc/wgstun.toml"; then ok "[$sh] TOML equals testdata/full.toml"; else bad "[$sh] TOML differs"; fi
	if diff -u "$td/full.start" <(trace); then ok "[$sh] procd instance: command, respawn, stdout/stderr to logd"; else bad "[$sh] procd calls differ"; fi
	[ "$(stat -c %a "$tmp/run/var/etc/wgstun.toml")" = 600 ] || bad "[$sh] TOML mode $(stat -c %a "$tmp/run/var/etc/wgstun.toml"), want 600"
	[ ! -e "$tmp/run/var/etc/wgstun.toml.new" ] || bad "[$sh] temporary file left"
	if out=$("$wgstun" check -c "$tmp/run/var/etc/wgstun.toml" 2>&1) &&
		grep -qF 'kv: exec plugin /usr/libexec/wgstun-kv --token a"b\c d (timeout 3s)' <<<"$out" &&
		grep -qF 'wg-mesh: store kv, ipv4, refresh every 5m0s' <<<"$out" &&
		grep -qF 'at fd00::2 every 1s' <<<"$out"; then
		ok "[$sh] wgstun check accepts it; \" and \\ in a value reach the daemon unchanged"
	else
		bad "[$sh] wgstun check: $out"
	fi

	# --- 3. service_triggers ---------------------------------------------------------------
	run_init "$sh" "$td/full.uci" 0 service_triggers || bad "[$sh] service_triggers failed"
	if diff -u "$td/full.triggers" <(trace); then ok "[$sh] triggers: reload on uci commit wgstun, restart on interface up"; else bad "[$sh] triggers differ"; fi

	# --- 4. the shipped /etc/config/wgstun ----------------------------------------------------
	run_init "$sh" "$here/files/wgstun.config" 0 start_service || bad "[$sh] start_service on the shipped config"
	if [ ! -s "$tmp/run/trace" ] && [ ! -e "$tmp/run/var/etc/wgstun.toml" ]; then
		ok "[$sh] shipped config is disabled: no instance, no TOML"
	else
		bad "[$sh] disabled config started: $(trace)"
	fi
	sed "s/option enabled '0'/option enabled '1'/" "$here/files/wgstun.config" >"$tmp/enabled.uci"
	run_init "$sh" "$tmp/enabled.uci" 0 start_service || bad "[$sh] start_service on the enabled shipped config"
	if out=$("$wgstun" check -c "$tmp/run/var/etc/wgstun.toml" 2>&1); then ok "[$sh] shipped config, enabled, passes wgstun check"; else bad "[$sh] shipped config: $out"; fi

	# --- 5. bad values: refused, nothing started, the previous TOML kept -----------------------
	for case in "option:option path '/var/lib/a\\tb'" "list:list arg 'x\\ny'"; do
		name=${case%%:*}
		line=${case#*:}
		{
			cat "$td/full.uci"
			printf '\nconfig store bad\n\toption type exec\n\toption command /bin/true\n\t%b\n' "$line"
		} >"$tmp/bad.uci"
		run_init "$sh" "$tmp/bad.uci" 0 '
			mkdir -p "${OUT%/*}"; echo previous >"$OUT"
			start_service; echo "rc=$?" >>"$TRACE"; cat "$OUT" >>"$TRACE"' || true
		got=$(trace)
		want="logger [-t] [wgstun] [not applied: /etc/config/wgstun cannot be converted (see above)]
rc=1
previous"
		if [ "$got" = "$want" ] && grep -q "store bad .*: control characters are not allowed" "$tmp/run/stderr"; then
			ok "[$sh] control character in an $name refused (named), nothing started, old TOML kept"
		else
			bad "[$sh] bad $name: trace:
$got
stderr: $(cat "$tmp/run/stderr")"
		fi
	done

	# A UCI boolean that is not one: refused, named, nothing started, old TOML kept.
	sed "s/option fast_handshake '0'/option fast_handshake 'maybe'/" "$td/full.uci" >"$tmp/badbool.uci"
	run_init "$sh" "$tmp/badbool.uci" 0 '
		mkdir -p "${OUT%/*}"; echo previous >"$OUT"
		start_service; echo "rc=$?" >>"$TRACE"; cat "$OUT" >>"$TRACE"' || true
	if [ "$(trace | tail -n 2)" = "rc=1
previous" ] && grep -q "interface wg0 fast_handshake: 'maybe' is not a boolean" "$tmp/run/stderr"; then
		ok "[$sh] fast_handshake 'maybe' refused (named), nothing started, old TOML kept"
	else
		bad "[$sh] bad boolean: trace: $(trace) stderr: $(cat "$tmp/run/stderr")"
	fi

	# --- 6. reload_service: HUP only to a running daemon, never on a bad config ---------------
	run_init "$sh" "$td/full.uci" 1 reload_service || bad "[$sh] reload_service (running) failed"
	want="procd_running [wgstun] [main]
start
$(cat "$td/full.start")
procd_running [wgstun] [main]
procd_send_signal [wgstun] [main] [HUP]"
	if [ "$(trace)" = "$want" ]; then ok "[$sh] reload of a running daemon: TOML rewritten, SIGHUP"; else bad "[$sh] reload (running): $(trace)"; fi
	cmp -s "$td/full.toml" "$tmp/run/var/etc/wgstun.toml" || bad "[$sh] reload did not write the TOML"
	run_init "$sh" "$td/full.uci" 0 reload_service || bad "[$sh] reload_service (stopped) failed"
	want="procd_running [wgstun] [main]
start
$(cat "$td/full.start")"
	if [ "$(trace)" = "$want" ]; then ok "[$sh] reload of a stopped daemon: started, no signal"; else bad "[$sh] reload (stopped): $(trace)"; fi
	run_init "$sh" "$tmp/bad.uci" 1 'reload_service; echo "rc=$?" >>"$TRACE"' || true
	want="logger [-t] [wgstun] [not applied: /etc/config/wgstun cannot be converted (see above)]
rc=1"
	if [ "$(trace)" = "$want" ]; then ok "[$sh] reload with a bad config: daemon left alone"; else bad "[$sh] reload (bad): $(trace)"; fi
done

# --- 7. .ipk for each target architecture ------------------------------------------------------
stub=$tmp/stub
printf '#!/bin/sh\necho stub\n' >"$stub"
chmod 644 "$stub"
for arch in mipsel_24kc mips_24kc arm_cortex-a7_neon-vfpv4 aarch64_generic x86_64; do
	SOURCE_DATE_EPOCH=1700000000 "$here/build-ipk.sh" "$stub" v1.2.3 "$arch" "$tmp/out" >"$tmp/build.log" 2>&1 ||
		fatal "build-ipk.sh $arch: $(cat "$tmp/build.log")"
	ipk=$tmp/out/wgstun_1.2.3-1_${arch}.ipk
	[ "$(cat "$tmp/build.log")" = "$ipk" ] || bad "$arch: build-ipk.sh printed $(cat "$tmp/build.log")"
	# Outer: gzip'd tar with exactly the three members, root-owned.
	gzip -t "$ipk" || bad "$arch: outer file is not gzip"
	got=$(tar tzvf "$ipk" | awk '{print $1, $2, $6}')
	# In the order OpenWrt's ipkg-build writes them.
	want="-rw-r--r-- 0/0 ./debian-binary
-rw-r--r-- 0/0 ./data.tar.gz
-rw-r--r-- 0/0 ./control.tar.gz"
	[ "$got" = "$want" ] || bad "$arch: outer members:
$got"
	x=$tmp/x-$arch
	mkdir -p "$x/c" "$x/d"
	tar xzf "$ipk" -C "$x"
	[ "$(cat "$x/debian-binary")" = 2.0 ] || bad "$arch: debian-binary"
	tar xzf "$x/control.tar.gz" -C "$x/c"
	tar xzf "$x/data.tar.gz" -C "$x/d"
	got=$(tar tzvf "$x/data.tar.gz" | awk '{print $1, $2, $6}')
	want="drwxr-xr-x 0/0 ./
drwxr-xr-x 0/0 ./etc/
drwxr-xr-x 0/0 ./etc/config/
-rw------- 0/0 ./etc/config/wgstun
drwxr-xr-x 0/0 ./etc/init.d/
-rwxr-xr-x 0/0 ./etc/init.d/wgstun
drwxr-xr-x 0/0 ./lib/
drwxr-xr-x 0/0 ./lib/upgrade/
drwxr-xr-x 0/0 ./lib/upgrade/keep.d/
-rw-r--r-- 0/0 ./lib/upgrade/keep.d/wgstun
drwxr-xr-x 0/0 ./usr/
drwxr-xr-x 0/0 ./usr/bin/
-rwxr-xr-x 0/0 ./usr/bin/wgstun
drwxr-xr-x 0/0 ./usr/share/
drwxr-xr-x 0/0 ./usr/share/wgstun/
drwxr-xr-x 0/0 ./usr/share/wgstun/plugins/
-rwxr-xr-x 0/0 ./usr/share/wgstun/plugins/cloudflare.sh"
	[ "$got" = "$want" ] || bad "$arch: data members:
$got"
	cmp -s "$stub" "$x/d/usr/bin/wgstun" || bad "$arch: binary not shipped byte for byte"
	cmp -s "$here/../../plugins/cloudflare.sh" "$x/d/usr/share/wgstun/plugins/cloudflare.sh" || bad "$arch: cloudflare plugin not shipped as in plugins/"
	cmp -s "$here/files/wgstun.init" "$x/d/etc/init.d/wgstun" || bad "$arch: init script differs"
	cmp -s "$here/files/wgstun.config" "$x/d/etc/config/wgstun" || bad "$arch: config differs"
	[ "$(cat "$x/d/lib/upgrade/keep.d/wgstun")" = /etc/config/wgstun ] || bad "$arch: keep.d"
	got=$(tar tzvf "$x/control.tar.gz" | awk '{print $1, $2, $6}')
	want="drwxr-xr-x 0/0 ./
-rw-r--r-- 0/0 ./conffiles
-rw-r--r-- 0/0 ./control
-rwxr-xr-x 0/0 ./postinst
-rwxr-xr-x 0/0 ./prerm"
	[ "$got" = "$want" ] || bad "$arch: control members:
$got"
	[ "$(cat "$x/c/conffiles")" = /etc/config/wgstun ] || bad "$arch: conffiles"
	field() { sed -n "s/^$1: //p" "$x/c/control"; }
	[ "$(field Package)" = wgstun ] || bad "$arch: Package"
	[ "$(field Version)" = 1.2.3-1 ] || bad "$arch: Version $(field Version)"
	[ "$(field Architecture)" = "$arch" ] || bad "$arch: Architecture $(field Architecture)"
	# One place for license and maintainer: the feed Makefile.
	[ "$(field License)" = "$(sed -n 's/^PKG_LICENSE:=//p' "$here/Makefile")" ] || bad "$arch: License $(field License) is not the Makefile's PKG_LICENSE"
	[ "$(field Maintainer)" = "$(sed -n 's/^PKG_MAINTAINER:=//p' "$here/Makefile")" ] || bad "$arch: Maintainer $(field Maintainer) is not the Makefile's PKG_MAINTAINER"
	[ "$(field License)" = MIT ] || bad "$arch: License $(field License)"
	[ "$(field Installed-Size)" = "$(gzip -dc "$x/data.tar.gz" | wc -c)" ] || bad "$arch: Installed-Size"
	grep -q '^Depends:' "$x/c/control" && bad "$arch: a static binary needs no Depends"
	grep -q '^Description: .' "$x/c/control" || bad "$arch: Description"
	grep -qx 'default_postinst "$0" "$@"' "$x/c/postinst" || bad "$arch: postinst does not call default_postinst"
	grep -qx 'default_prerm "$0" "$@"' "$x/c/prerm" || bad "$arch: prerm does not call default_prerm"
	for s in postinst prerm; do
		if ! { sh -n "$x/c/$s" && shellcheck -s sh "$x/c/$s"; }; then bad "$arch: $s fails sh -n/shellcheck"; fi
	done
done
[ "$fails" -eq 0 ] && ok "ipk x5 (mipsel_24kc mips_24kc arm_cortex-a7_neon-vfpv4 aarch64_generic x86_64): outer tar.gz, members, modes, owners, control, conffiles, scripts"

# The maintainer scripts do what OpenWrt's do: with an IPKG_INSTROOT holding a functions.sh that
# records the call, postinst calls default_postinst with its arguments; IPKG_NO_SCRIPT=1 skips.
x=$tmp/x-x86_64
mkdir -p "$tmp/instroot/lib"
printf 'default_postinst() { echo "postinst $*" >>"$IPKG_INSTROOT/calls"; }\ndefault_prerm() { echo "prerm $*" >>"$IPKG_INSTROOT/calls"; }\n' >"$tmp/instroot/lib/functions.sh"
IPKG_INSTROOT=$tmp/instroot sh "$x/c/postinst" configure
IPKG_INSTROOT=$tmp/instroot sh "$x/c/prerm" remove
IPKG_INSTROOT=$tmp/instroot IPKG_NO_SCRIPT=1 sh "$x/c/postinst" configure
want="postinst $x/c/postinst configure
prerm $x/c/prerm remove"
if [ "$(cat "$tmp/instroot/calls")" = "$want" ]; then ok "postinst/prerm call default_postinst/default_prerm; IPKG_NO_SCRIPT skips"; else bad "scripts: $(cat "$tmp/instroot/calls")"; fi

SOURCE_DATE_EPOCH=1700000000 "$here/build-ipk.sh" "$stub" 1.2.3 x86_64 "$tmp/out2" >/dev/null
if cmp -s "$tmp/out/wgstun_1.2.3-1_x86_64.ipk" "$tmp/out2/wgstun_1.2.3-1_x86_64.ipk"; then ok "ipk reproducible with SOURCE_DATE_EPOCH"; else bad "two ipk builds differ"; fi

expect_refusal() {
	local want=$1 out
	shift
	if out=$("$here/build-ipk.sh" "$@" 2>&1); then
		bad "build-ipk.sh $* succeeded"
	elif ! grep -q -- "$want" <<<"$out"; then
		bad "build-ipk.sh $*: message '$out' lacks '$want'"
	fi
}
expect_refusal 'must start with a digit' "$stub" dev x86_64 "$tmp/o"
expect_refusal 'only letters' "$stub" '1.0 x' x86_64 "$tmp/o"
expect_refusal 'not an opkg architecture' "$stub" 1.0 'mips/el' "$tmp/o"
expect_refusal 'not a file' "$tmp/none" 1.0 x86_64 "$tmp/o"
expect_refusal usage "$stub" 1.0
[ ! -e "$tmp/o" ] || bad "a refused build left output"
ok "bad version, arch, binary and argument count refused"

# --- 8. the feed Makefile's install recipe, run by make against a stand-in SDK ---------------
# The stand-in defines only what the Makefile uses (INSTALL_*, GO_PKG_BUILD_BIN_DIR, BuildPackage
# running Package/wgstun/install into a directory); the result must match the .ipk's data tree
# (minus keep.d, which the real SDK adds from conffiles).
sdk=$tmp/sdk
mkdir -p "$sdk/include" "$sdk/feed/lang/golang" "$sdk/feed/net" "$sdk/bin" "$sdk/root"
cp -r "$here" "$sdk/feed/net/wgstun"
cp "$stub" "$sdk/bin/wgstun"
: >"$sdk/rules.mk"
cat >"$sdk/include/package.mk" <<'MK'
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_CONF:=install -m0600
MK
cat >"$sdk/feed/lang/golang/golang-package.mk" <<'MK'
GO_ARCH_DEPENDS:=@(aarch64||arm||i386||mips||mipsel||x86_64)
GoBinPackage=
GoPackage/Build/Compile=@echo 'go install $(1)'
MK
cat >>"$sdk/include/package.mk" <<'MK'
define BuildPackage
show:
	@echo 'PKG_NAME=$(PKG_NAME) GO_PKG=$(GO_PKG) GO_PKG_BUILD_PKG=$(GO_PKG_BUILD_PKG) LDFLAGS_X=$(GO_PKG_LDFLAGS_X)'
	@echo 'conffiles=$$(strip $(Package/$(1)/conffiles))'
install:
	$$(call Package/$(1)/install,$$(DEST))
compile:
	$$(call Build/Compile)
endef
MK
mk() { make --no-print-directory -C "$sdk/feed/net/wgstun" TOPDIR="$sdk" INCLUDE_DIR="$sdk/include" \
	GO_PKG_BUILD_BIN_DIR="$sdk/bin" PKG_BUILD_DIR="$here/../.." DEST="$sdk/root" "$@"; }
if got=$(mk show 2>&1) && [ "$got" = "PKG_NAME=wgstun GO_PKG=github.com/wgstun/wgstun GO_PKG_BUILD_PKG=github.com/wgstun/wgstun/src/cmd/wgstun LDFLAGS_X=main.version=0.1.0
conffiles=/etc/config/wgstun" ]; then ok "feed Makefile: PKG_NAME, GO_PKG, GO_PKG_BUILD_PKG, version stamp, conffiles"; else bad "feed Makefile variables: $got"; fi
# shellcheck source=/dev/null
router_gcflags=$(. "$here/../../scripts/builds.sh" && echo "$router_gcflags")
if got=$(mk compile 2>&1) && [ "$got" = "go install $router_gcflags" ]; then ok "feed Makefile: go install gets builds.sh's router_gcflags"; else bad "feed Makefile compile: '$got', want 'go install $router_gcflags'"; fi
if mk install >"$tmp/mk.log" 2>&1; then
	got=$(cd "$sdk/root" && find . -mindepth 1 | sort | while read -r p; do stat -c '%A %n' "$p"; done)
	want=$(cd "$x/d" && find . -mindepth 1 -not -path './lib*' | sort | while read -r p; do stat -c '%A %n' "$p"; done)
	if [ "$got" = "$want" ]; then ok "feed Makefile installs the same files and modes as build-ipk.sh"; else bad "Makefile install tree:
$got
ipk tree:
$want"; fi
else
	bad "make install: $(cat "$tmp/mk.log")"
fi

# --- 9. apk v3 (OpenWrt 25.12+) ----------------------------------------------------------------
# The writer's own tests (an independent ADB reader, encodings, reproducibility, bad input),
# then the packages build-apk.sh makes, read back by that reader against the staged files.
command -v go >/dev/null 2>&1 || fatal "go not found (Go 1.26 in /usr/local/go): the apk v3 writer needs it"
if (cd "$here/apk3" && GOWORK=off go vet ./... && GOWORK=off go test -count=1 ./...) >"$tmp/apk3.log" 2>&1; then
	ok "apk3: go vet + go test (ADB reader, value encodings, blocks, depends, refusals, reproducible)"
else
	bad "apk3 go test: $(cat "$tmp/apk3.log")"
fi
(cd "$here/apk3" && GOWORK=off CGO_ENABLED=0 go build -trimpath -o "$tmp/apk3-mkpkg" ./cmd/apk3-mkpkg) || fatal "go build apk3-mkpkg"
arches="mipsel_24kc mips_24kc arm_cortex-a7_neon-vfpv4 aarch64_generic x86_64"
for arch in $arches; do
	SOURCE_DATE_EPOCH=1700000000 APK3_MKPKG=$tmp/apk3-mkpkg "$here/build-apk.sh" "$stub" v1.2.3 "$arch" "$tmp/apk" >"$tmp/build.log" 2>&1 ||
		fatal "build-apk.sh $arch: $(cat "$tmp/build.log")"
	apk=$tmp/apk/$arch/wgstun-1.2.3-r1.apk
	[ "$(cat "$tmp/build.log")" = "$apk" ] || bad "$arch: build-apk.sh printed $(cat "$tmp/build.log")"
	[ "$(head -c 4 "$apk")" = ADBd ] || bad "$arch: apk does not start with ADBd (deflated ADB)"
done
if (cd "$here/apk3" && APK3_CHECK_DIR=$tmp/apk APK3_CHECK_VERSION=1.2.3-r1 APK3_CHECK_BINARY=$stub \
	APK3_CHECK_FILES=$here/files APK3_CHECK_ARCHES="$arches" APK3_CHECK_DESCRIPTION="$(sed -n '/^Description: /,$p' "$x/c/control" | sed 's/^Description: //; s/^ //' | tr '\n' ' ' | sed 's/ *$//')" \
	GOWORK=off go test -count=1 -run TestBuiltPackages -v . >"$tmp/apkcheck.log" 2>&1) && [ "$(grep -c -- '--- PASS: TestBuiltPackages/' "$tmp/apkcheck.log")" = 5 ]; then
	ok "apk x5: ADB schema pckg, info (name, version 1.2.3-r1, arch, description as the ipk's), files and modes as the ipk, DATA = SHA-256 in the index, conffiles + conffiles_static + list, scripts"
else
	bad "apk check: $(cat "$tmp/apkcheck.log")"
fi
# The second build takes the go build path and must give the same bytes.
SOURCE_DATE_EPOCH=1700000000 "$here/build-apk.sh" "$stub" 1.2.3-1 x86_64 "$tmp/apk2" >/dev/null
if cmp -s "$tmp/apk/x86_64/wgstun-1.2.3-r1.apk" "$tmp/apk2/x86_64/wgstun-1.2.3-r1.apk"; then ok "apk reproducible with SOURCE_DATE_EPOCH; 1.2.3-1 names the same package as 1.2.3"; else bad "two apk builds differ"; fi
SOURCE_DATE_EPOCH=1700000001 APK3_MKPKG=$tmp/apk3-mkpkg "$here/build-apk.sh" "$stub" 1.2.3 x86_64 "$tmp/apk3" >/dev/null
cmp -s "$tmp/apk/x86_64/wgstun-1.2.3-r1.apk" "$tmp/apk3/x86_64/wgstun-1.2.3-r1.apk" && bad "SOURCE_DATE_EPOCH does not reach the apk"
out=$(APK3_MKPKG=$tmp/apk3-mkpkg "$here/build-apk.sh" "$stub" 1.2.3-r4 x86_64 "$tmp/apk4")
[ "$out" = "$tmp/apk4/x86_64/wgstun-1.2.3-r4.apk" ] || bad "release -r4: $out"
expect_apk_refusal() {
	local want=$1 out
	shift
	if out=$(APK3_MKPKG=$tmp/apk3-mkpkg "$here/build-apk.sh" "$@" 2>&1); then
		bad "build-apk.sh $* succeeded"
	elif ! grep -q -- "$want" <<<"$out"; then
		bad "build-apk.sh $*: message '$out' lacks '$want'"
	fi
}
expect_apk_refusal 'must start with a digit' "$stub" dev x86_64 "$tmp/ao"
expect_apk_refusal "release 'c1' is not a number" "$stub" 1.2.3-rc1 x86_64 "$tmp/ao"
expect_apk_refusal "release 'gabc123' is not a number" "$stub" 1.2.3-4-gabc123 x86_64 "$tmp/ao"
expect_apk_refusal 'apk versions are digits' "$stub" 1.2.3+x x86_64 "$tmp/ao"
expect_apk_refusal 'version "1..2-r1": not an apk version' "$stub" 1..2 x86_64 "$tmp/ao"
expect_apk_refusal 'not an opkg architecture' "$stub" 1.0 'mips/el' "$tmp/ao"
expect_apk_refusal 'not a file' "$tmp/none" 1.0 x86_64 "$tmp/ao"
expect_apk_refusal usage "$stub" 1.0
[ ! -e "$tmp/ao" ] || bad "a refused apk build left output"
ok "apk: bad version, release, arch, binary and argument count refused"

# The apk scripts do what OpenWrt 25.12's do: export root and pkgname, then call
# add_group_and_user + default_postinst (post-install, post-upgrade with PKG_UPGRADE=1) or
# default_prerm (pre-deinstall); IPKG_NO_SCRIPT=1 skips post-install.
ir=$tmp/apkroot
mkdir -p "$ir/lib"
cat >"$ir/lib/functions.sh" <<'FN'
add_group_and_user() { echo "add_group_and_user $pkgname" >>"$IPKG_INSTROOT/calls"; }
default_postinst() { echo "postinst pkgname=$pkgname root=$root upgrade=${PKG_UPGRADE:-} args=$#" >>"$IPKG_INSTROOT/calls"; }
default_prerm() { echo "prerm pkgname=$pkgname root=$root args=$#" >>"$IPKG_INSTROOT/calls"; }
FN
for s in post-install post-upgrade pre-deinstall; do IPKG_INSTROOT=$ir sh "$here/files/wgstun.apk-$s"; done
IPKG_INSTROOT=$ir IPKG_NO_SCRIPT=1 sh "$here/files/wgstun.apk-post-install"
want="add_group_and_user wgstun
postinst pkgname=wgstun root=$ir upgrade= args=0
add_group_and_user wgstun
postinst pkgname=wgstun root=$ir upgrade=1 args=0
prerm pkgname=wgstun root=$ir args=0"
if [ "$(cat "$ir/calls")" = "$want" ]; then ok "apk scripts: post-install/post-upgrade/pre-deinstall call OpenWrt's functions with pkgname and root"; else bad "apk scripts: $(cat "$ir/calls")"; fi

if [ "$fails" -ne 0 ]; then
	echo "packaging/openwrt: $fails failure(s)" >&2
	exit 1
fi
echo "packaging/openwrt: all passed"
