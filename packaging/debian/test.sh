#!/bin/bash
# Tests for the Debian/systemd packaging. Installs nothing on the host, cleans up after itself.
#   bash packaging/debian/test.sh
# As root, section 6 installs the real package into a debootstrap'd bookworm chroot
# (scripts/chroot-bookworm.sh: needs debootstrap and the machine's Debian mirror the first time,
# then a cached tarball in /var/cache/wgstun-test).
# Needs: dpkg (dpkg-deb, dpkg), systemd (systemd-analyze), shellcheck, coreutils; Go (or
# WGSTUN_BIN=path/to/wgstun) to check the sample configuration with the real daemon.
# The install/upgrade/remove/purge part runs dpkg --root into a scratch root (dpkg chroots
# into it for the maintainer scripts), so it needs root; without root it is skipped, said so.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
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
for t in dpkg-deb:dpkg dpkg:dpkg systemd-analyze:systemd shellcheck:shellcheck ldd:libc-bin chroot:coreutils; do
	command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t%%:*} (apt package ${t##*:})")
done
if [ ${#missing[@]} -gt 0 ]; then
	fatal "missing tools: ${missing[*]}"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# --- 1. shell syntax and shellcheck ---------------------------------------------------------
for f in postinst prerm postrm build-deb.sh docs.sh; do
	if sh -n "$here/$f" && shellcheck -s sh "$here/$f"; then ok "sh -n + shellcheck $f"; else bad "shellcheck $f"; fi
done
if bash -n "$here/test.sh" && shellcheck "$here/test.sh"; then ok "shellcheck test.sh"; else bad "shellcheck test.sh"; fi

# --- 2. systemd-analyze verify in a scratch root ----------------------------------------------
# verify wants every referenced unit and executable to exist: the host's unit directory is copied,
# /usr/bin/wgstun and /bin/kill are stubs, wg-quick@.service a stub if wireguard-tools is absent.
vr=$tmp/verifyroot
mkdir -p "$vr/usr/bin" "$vr/bin" "$vr/etc/systemd/system" "$vr/lib/systemd"
cp -a /lib/systemd/system "$vr/lib/systemd/"
for b in usr/bin/wgstun bin/kill; do
	printf '#!/bin/sh\nexit 0\n' >"$vr/$b"
	chmod 755 "$vr/$b"
done
if [ ! -e "$vr/lib/systemd/system/wg-quick@.service" ]; then
	printf '[Unit]\nDescription=stub wg-quick %%i\n[Service]\nType=oneshot\nExecStart=/bin/kill\n' \
		>"$vr/etc/systemd/system/wg-quick@.service"
fi
cp "$here/wgstun.service" "$here/wgstun@.service" "$vr/etc/systemd/system/"
for u in wgstun.service wgstun@wg0.service; do
	if out=$(systemd-analyze verify --man=no --generators=no --root="$vr" "/etc/systemd/system/$u" 2>&1) && [ -z "$out" ]; then
		ok "systemd-analyze verify $u: no warnings"
	else
		bad "systemd-analyze verify $u: $out"
	fi
done
# The same check must catch a broken unit, or the pass above means nothing.
sed 's/^NoNewPrivileges=yes/NoNewPrivileges=yes\nNoSuchKey=1/' "$here/wgstun.service" >"$vr/etc/systemd/system/broken.service"
if out=$(systemd-analyze verify --man=no --generators=no --root="$vr" /etc/systemd/system/broken.service 2>&1) && [ -z "$out" ]; then
	bad "systemd-analyze verify accepted a unit with an unknown key"
else
	ok "systemd-analyze verify rejects a unit with an unknown key"
fi

# The settings that matter, exactly as written (a typo in a value would not be caught by verify).
# shellcheck disable=SC2016 # $MAINPID is unit text, not shell
want_both=(
	'Restart=on-failure'
	'ExecReload=/bin/kill -HUP $MAINPID'
	'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW'
	'AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW'
	'NoNewPrivileges=yes'
	'ProtectSystem=strict'
	'ProtectHome=yes'
	'PrivateTmp=yes'
	'ReadWritePaths=/var/lib/wgstun'
	'StateDirectory=wgstun'
	'RuntimeDirectory=wgstun'
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK'
)
for u in wgstun.service wgstun@.service; do
	for w in "${want_both[@]}"; do
		grep -qxF -- "$w" "$here/$u" || bad "$u lacks line: $w"
	done
	if grep -q '^PrivateNetwork=\|^IPAddressDeny=\|^DynamicUser=' "$here/$u"; then bad "$u isolates the network or the user"; fi
	# Only the two capabilities anywhere.
	if grep -E '^(CapabilityBoundingSet|AmbientCapabilities)=' "$here/$u" | grep -vqxE '[A-Za-z]+=CAP_NET_ADMIN CAP_NET_RAW'; then
		bad "$u grants more than CAP_NET_ADMIN CAP_NET_RAW"
	fi
done
grep -qxF 'ExecStart=/usr/bin/wgstun run -c /etc/wgstun/wgstun.toml' "$here/wgstun.service" || bad "wgstun.service ExecStart"
grep -qxF 'WantedBy=multi-user.target' "$here/wgstun.service" || bad "wgstun.service WantedBy"
for w in 'ExecStart=/usr/bin/wgstun run -c /etc/wgstun/%i.toml' 'BindsTo=wg-quick@%i.service' \
	'After=network-online.target wg-quick@%i.service' 'WantedBy=wg-quick@%i.service'; do
	grep -qxF -- "$w" "$here/wgstun@.service" || bad "wgstun@.service lacks line: $w"
done
[ "$fails" -eq 0 ] && ok "unit settings: ExecStart, reload, restart, capabilities, sandbox, wg-quick binding"

# --- 3. the sample configuration is accepted by the real daemon --------------------------------
wgstun=${WGSTUN_BIN:-}
if [ -z "$wgstun" ]; then
	command -v go >/dev/null 2>&1 || fatal "go not found (Go 1.26 in /usr/local/go, or set WGSTUN_BIN)"
	(cd "$top" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/wgstun" ./src/cmd/wgstun) || fatal "go build ./src/cmd/wgstun"
	wgstun=$tmp/wgstun
fi
if out=$("$wgstun" check -c "$here/wgstun.toml" 2>&1) && grep -q 'control socket: /run/wgstun/wgstun.sock' <<<"$out"; then
	ok "wgstun check accepts wgstun.toml (socket in /run/wgstun, the unit's RuntimeDirectory)"
else
	bad "wgstun check wgstun.toml: $out"
fi

# --- 4. build a .deb from a stub binary and inspect it ----------------------------------------
stub=$tmp/stub
printf '#!/bin/sh\necho "wgstun stub $*"\n' >"$stub"
chmod 644 "$stub" # build-deb.sh must set the mode itself
if SOURCE_DATE_EPOCH=1700000000 "$here/build-deb.sh" "$stub" v1.2.3 amd64 "$tmp/out" >"$tmp/build.log" 2>&1; then
	ok "build-deb.sh stub v1.2.3 amd64"
else
	cat "$tmp/build.log" >&2
	fatal "build-deb.sh failed"
fi
deb=$tmp/out/wgstun_1.2.3_amd64.deb
[ -f "$deb" ] || fatal "expected $deb"
[ "$(tail -n1 "$tmp/build.log")" = "$deb" ] || bad "build-deb.sh should print the package path"

for kv in Package=wgstun Version=1.2.3 Architecture=amd64 Section=net Priority=optional Recommends=wireguard-tools; do
	got=$(dpkg-deb -f "$deb" "${kv%%=*}")
	[ "$got" = "${kv#*=}" ] || bad "control ${kv%%=*}: got '$got' want '${kv#*=}'"
done
dpkg-deb -f "$deb" Depends | grep -q . && bad "a static binary should not Depend on anything"
[ -n "$(dpkg-deb -f "$deb" Maintainer)" ] || bad "no Maintainer"
isz=$(dpkg-deb -f "$deb" Installed-Size)
if ! [[ $isz =~ ^[1-9][0-9]*$ ]]; then bad "Installed-Size '$isz'"; fi
ok "control fields"

# Contents: mode, owner and path of every entry, compared with the exact expected list.
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' | sort >"$tmp/contents"
sort >"$tmp/contents.want" <<'WANT'
drwxr-xr-x root/root ./
drwxr-xr-x root/root ./etc/
drwxr-xr-x root/root ./etc/wgstun/
-rw-r----- root/root ./etc/wgstun/wgstun.toml
drwxr-xr-x root/root ./lib/
drwxr-xr-x root/root ./lib/systemd/
drwxr-xr-x root/root ./lib/systemd/system/
-rw-r--r-- root/root ./lib/systemd/system/wgstun.service
-rw-r--r-- root/root ./lib/systemd/system/wgstun@.service
drwxr-xr-x root/root ./usr/
drwxr-xr-x root/root ./usr/bin/
-rwxr-xr-x root/root ./usr/bin/wgstun
drwxr-xr-x root/root ./usr/share/
drwxr-xr-x root/root ./usr/share/doc/
drwxr-xr-x root/root ./usr/share/doc/wgstun/
-rw-r--r-- root/root ./usr/share/doc/wgstun/README.md
-rw-r--r-- root/root ./usr/share/doc/wgstun/changelog.gz
-rw-r--r-- root/root ./usr/share/doc/wgstun/copyright
drwxr-xr-x root/root ./usr/share/lintian/
drwxr-xr-x root/root ./usr/share/lintian/overrides/
-rw-r--r-- root/root ./usr/share/lintian/overrides/wgstun
drwxr-xr-x root/root ./usr/share/man/
drwxr-xr-x root/root ./usr/share/man/man8/
-rw-r--r-- root/root ./usr/share/man/man8/wgstun.8.gz
WANT
if diff -u "$tmp/contents.want" "$tmp/contents"; then ok "data: paths, modes, root ownership"; else bad "data contents differ"; fi

mkdir "$tmp/x" "$tmp/ctl"
dpkg-deb -x "$deb" "$tmp/x"
dpkg-deb -e "$deb" "$tmp/ctl"
cmp -s "$stub" "$tmp/x/usr/bin/wgstun" || bad "binary not shipped byte for byte"
cmp -s "$here/wgstun.toml" "$tmp/x/etc/wgstun/wgstun.toml" || bad "sample config differs"
# debian/copyright: DEP-5, the MIT text exactly as in LICENSE, and every module the
# daemon links named.
cr=$tmp/x/usr/share/doc/wgstun/copyright
head -1 "$cr" | grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/$' || bad "copyright: no DEP-5 Format line"
grep -qx 'License: MIT' "$cr" || bad "copyright: License: MIT missing"
if ! diff <(sed '1,/^Copyright/d' "$top/LICENSE" | sed '/./,$!d') \
	<(sed -n '/^License: MIT$/,$p' "$cr" | sed '1d; s/^ //; s/^\.$//') >/dev/null; then
	bad "copyright: license text differs from LICENSE"
fi
for m in $(cd "$top" && GOOS=linux go list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}' ./src/cmd/wgstun | sort -u); do
	grep -q "$m" "$cr" || bad "copyright: module $m (linked into the daemon) not named"
done
[ "$(cat "$tmp/ctl/conffiles")" = /etc/wgstun/wgstun.toml ] || bad "conffiles: $(cat "$tmp/ctl/conffiles")"
for s in postinst prerm postrm; do
	[ "$(stat -c %a "$tmp/ctl/$s")" = 755 ] || bad "$s mode $(stat -c %a "$tmp/ctl/$s")"
	if ! { sh -n "$tmp/ctl/$s" && shellcheck -s sh "$tmp/ctl/$s"; }; then bad "$s from the package fails sh -n/shellcheck"; fi
done
ok "control archive: conffiles, maintainer scripts 0755 and clean"
# Reproducible: the same inputs and SOURCE_DATE_EPOCH give the same bytes.
SOURCE_DATE_EPOCH=1700000000 "$here/build-deb.sh" "$stub" 1.2.3 amd64 "$tmp/out2" >/dev/null
if cmp -s "$deb" "$tmp/out2/wgstun_1.2.3_amd64.deb"; then ok "reproducible with SOURCE_DATE_EPOCH"; else bad "two builds differ"; fi

# The manual page renders without a warning, and is the one in the tree.
cmp -s <(gzip -dc "$tmp/x/usr/share/man/man8/wgstun.8.gz") "$top/src/cmd/wgstun/wgstun.8" || bad "man page differs from src/cmd/wgstun/wgstun.8"
if out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$tmp/x/usr/share/man/man8/wgstun.8.gz" 2>&1 >/dev/null) && [ -z "$out" ]; then
	ok "man page: shipped gzip'd, renders without warnings"
else
	bad "man --warnings wgstun.8: $out"
fi

# --- 4b. lintian (Debian's own checker) on a package of the real binary ------------------------
# Zero errors and zero warnings; what is overridden carries its reason in the package. The
# binary is built as the releases are (static, stripped); with WGSTUN_BIN it is the caller's.
if command -v lintian >/dev/null 2>&1; then
	SOURCE_DATE_EPOCH=1700000000 "$here/build-deb.sh" "$wgstun" 1.2.3 amd64 "$tmp/lint" >/dev/null
	# (--show-overrides would make the overridden tags fail too: asked for separately.)
	if out=$(lintian --fail-on error,warning --tag-display-limit 0 "$tmp/lint/wgstun_1.2.3_amd64.deb" 2>&1); then
		overridden=$(lintian --tag-display-limit 0 --show-overrides "$tmp/lint/wgstun_1.2.3_amd64.deb" 2>/dev/null | grep -c '^O: ' || true)
		ok "lintian: no errors or warnings ($overridden overridden, each with a reason)"
	else
		bad "lintian: $out"
	fi
	while read -r tag; do
		grep -B1 -F "$tag" "$tmp/x/usr/share/lintian/overrides/wgstun" | head -1 | grep -q '^#' || bad "override without a reason: $tag"
	done < <(grep -v '^#' "$tmp/x/usr/share/lintian/overrides/wgstun")
else
	fatal "lintian not found (apt-get install lintian; scripts/deps.sh installs it)"
fi

# Bad arguments are refused with a message naming the fault.
expect_refusal() {
	local want=$1
	shift
	if out=$("$here/build-deb.sh" "$@" 2>&1); then
		bad "build-deb.sh $* succeeded"
	elif ! grep -q -- "$want" <<<"$out"; then
		bad "build-deb.sh $*: message '$out' lacks '$want'"
	fi
}
expect_refusal 'must start with a digit' "$stub" f43626d-dirty amd64 "$tmp/o"
expect_refusal 'only letters' "$stub" '1.0;rm' amd64 "$tmp/o"
expect_refusal 'not a Debian architecture' "$stub" 1.0 'x86 64' "$tmp/o"
expect_refusal 'not a file' "$tmp/nothere" 1.0 amd64 "$tmp/o"
expect_refusal usage "$stub" 1.0 amd64
[ ! -e "$tmp/o" ] || bad "a refused build left $tmp/o behind"
ok "bad version, arch, binary and argument count refused"

# --- 5. install, upgrade, remove, purge with dpkg into a scratch root --------------------------
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP dpkg --root install test: needs root (dpkg chroots into the scratch root for the maintainer scripts)"
else
	r=$tmp/root
	mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/bin" "$r/usr/bin" "$r/tmp" "$r/run/systemd/system"
	: >"$r/var/lib/dpkg/status"
	: >"$r/var/lib/dpkg/available"
	# A shell and rm for the maintainer scripts, with their libraries.
	for b in /bin/dash /bin/rm; do
		cp "$b" "$r/bin/"
		for lib in $(ldd "$b" | grep -o '/[^ ]*'); do
			mkdir -p "$r$(dirname "$lib")"
			cp -L "$lib" "$r$lib"
		done
	done
	ln -s dash "$r/bin/sh"
	mkdir -p "$r/dev"
	mknod -m 666 "$r/dev/null" c 1 3
	# systemctl and deb-systemd-helper record their arguments. was-enabled behaves like the real
	# helper: true when it has no state yet (first install) or the unit was enabled, false after
	# the admin disabled it (modelled by /disabled).
	cat >"$r/usr/bin/systemctl" <<'STUB'
#!/bin/sh
echo "systemctl $*" >>/calls
STUB
	cat >"$r/usr/bin/deb-systemd-invoke" <<'STUB'
#!/bin/sh
echo "deb-systemd-invoke $*" >>/calls
STUB
	cat >"$r/usr/bin/deb-systemd-helper" <<'STUB'
#!/bin/sh
echo "deb-systemd-helper $*" >>/calls
case "$*" in
"--quiet was-enabled "*) [ -e /disabled ] && exit 1; exit 0 ;;
esac
exit 0
STUB
	chmod 755 "$r/usr/bin/systemctl" "$r/usr/bin/deb-systemd-helper" "$r/usr/bin/deb-systemd-invoke"
	dp() { PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg --root="$r" --force-not-root --force-confold "$@" >>"$tmp/dpkg.log" 2>&1; }
	calls() {
		cat "$r/calls" 2>/dev/null
		rm -f "$r/calls"
	}

	if dp -i "$deb"; then ok "dpkg --root -i"; else
		cat "$tmp/dpkg.log" >&2
		fatal "dpkg -i failed"
	fi
	st=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-query --root="$r" -W -f='${Status} ${Version}' wgstun)
	[ "$st" = "install ok installed 1.2.3" ] || bad "status after install: $st"
	[ "$(stat -c '%a %u:%g' "$r/usr/bin/wgstun")" = "755 0:0" ] || bad "installed binary mode/owner"
	[ "$(stat -c '%a %u:%g' "$r/etc/wgstun/wgstun.toml")" = "640 0:0" ] || bad "installed conffile mode/owner"
	[ -f "$r/lib/systemd/system/wgstun@.service" ] || bad "template unit not installed"
	PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-query --root="$r" -W -f='${Conffiles}' wgstun | grep -q '^ /etc/wgstun/wgstun.toml [0-9a-f]\{32\}$' ||
		bad "dpkg does not record /etc/wgstun/wgstun.toml as a conffile"
	got=$(calls)
	want="deb-systemd-helper unmask wgstun.service
deb-systemd-helper --quiet was-enabled wgstun.service
deb-systemd-helper enable wgstun.service
systemctl --system daemon-reload
deb-systemd-invoke start wgstun.service"
	[ "$got" = "$want" ] || bad "postinst (install) calls:
$got
want:
$want"
	ok "installed: files, modes, conffile recorded; postinst unmasks, enables, reloads, starts"

	# Upgrade with an edited conffile: the edit survives, running units are restarted.
	echo '# local edit' >>"$r/etc/wgstun/wgstun.toml"
	touch "$r/disabled" # the admin ran systemctl disable wgstun
	SOURCE_DATE_EPOCH=1700000000 "$here/build-deb.sh" "$stub" 1.2.4 amd64 "$tmp/out3" >/dev/null
	dp -i "$tmp/out3/wgstun_1.2.4_amd64.deb" || fatal "upgrade failed: $(cat "$tmp/dpkg.log")"
	tail -n1 "$r/etc/wgstun/wgstun.toml" | grep -qx '# local edit' || bad "upgrade lost the local conffile edit"
	got=$(calls)
	want="deb-systemd-helper unmask wgstun.service
deb-systemd-helper --quiet was-enabled wgstun.service
deb-systemd-helper update-state wgstun.service
systemctl --system daemon-reload
deb-systemd-invoke try-restart wgstun.service wgstun@*.service"
	[ "$got" = "$want" ] || bad "upgrade calls:
$got
want:
$want"
	ok "upgrade 1.2.3 -> 1.2.4 keeps the edited conffile, respects the admin disabling it, restarts running units"

	mkdir -p "$r/var/lib/wgstun/store"
	echo record >"$r/var/lib/wgstun/store/k"
	dp -r wgstun || fatal "remove failed: $(cat "$tmp/dpkg.log")"
	[ ! -e "$r/usr/bin/wgstun" ] || bad "remove left the binary"
	[ -f "$r/etc/wgstun/wgstun.toml" ] || bad "remove deleted the conffile"
	[ -f "$r/var/lib/wgstun/store/k" ] || bad "remove deleted /var/lib/wgstun"
	got=$(calls)
	want="deb-systemd-invoke stop wgstun.service wgstun@*.service
systemctl --system daemon-reload
deb-systemd-helper mask wgstun.service"
	[ "$got" = "$want" ] || bad "remove calls:
$got
want:
$want"
	ok "remove: stops daemon and instances, keeps conffile and /var/lib/wgstun"

	dp -P wgstun || fatal "purge failed: $(cat "$tmp/dpkg.log")"
	[ ! -e "$r/etc/wgstun/wgstun.toml" ] || bad "purge left the conffile"
	[ ! -e "$r/var/lib/wgstun" ] || bad "purge left /var/lib/wgstun"
	got=$(calls)
	want="systemctl --system daemon-reload
deb-systemd-helper purge wgstun.service
deb-systemd-helper unmask wgstun.service"
	[ "$got" = "$want" ] || bad "purge calls:
$got
want:
$want"
	ok "purge: conffile and /var/lib/wgstun gone, unit state purged"

	# Without systemd and without the helpers the scripts still succeed (containers, sysvinit).
	rm -rf "$r/run/systemd" "$r/usr/bin/systemctl" "$r/usr/bin/deb-systemd-helper" "$r/usr/bin/deb-systemd-invoke"
	if dp -i "$deb" && dp -P wgstun; then ok "install and purge without systemd"; else bad "install/purge without systemd: $(cat "$tmp/dpkg.log")"; fi
fi

# --- 6. the real package in a real debootstrap'd bookworm chroot -------------------------------
# dpkg inside the chroot runs the maintainer scripts with the real deb-systemd-helper and a
# systemctl that is installed but not running (as in any chroot or image build).
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP chroot install test: needs root (debootstrap, chroot)"
else
	command -v go >/dev/null 2>&1 || fatal "go not found (the chroot test builds version-stamped binaries)"
	for v in 1.2.3 1.2.4; do
		(cd "$top" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$v" -o "$tmp/wgstun-$v" ./src/cmd/wgstun) ||
			fatal "go build ./src/cmd/wgstun"
		SOURCE_DATE_EPOCH=1700000000 "$here/build-deb.sh" "$tmp/wgstun-$v" "$v" amd64 "$tmp/real" >/dev/null ||
			fatal "build-deb.sh $v"
	done
	c=$tmp/chroot
	bash "$top/scripts/chroot-bookworm.sh" "$c" || fatal "bookworm chroot (see above)"
	cp "$tmp/real/"*.deb "$c/tmp/"
	inch() { timeout 300 chroot "$c" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C "$@" </dev/null; }
	cdp() { inch dpkg "$@" >>"$tmp/chroot.log" 2>&1 || { cat "$tmp/chroot.log" >&2; return 1; }; }
	# shellcheck disable=SC2016 # dpkg-query formats, not shell
	cst() { inch dpkg-query -W -f='${Status} ${Version}' wgstun 2>/dev/null; }
	cmode() { stat -c '%a %u:%g' "$c/$1"; }
	wants=$c/etc/systemd/system/multi-user.target.wants/wgstun.service
	dsh=$c/var/lib/systemd/deb-systemd-helper-enabled/wgstun.service.dsh-also

	cdp -i /tmp/wgstun_1.2.3_amd64.deb || fatal "chroot: dpkg -i wgstun_1.2.3_amd64.deb"
	[ "$(cst)" = "install ok installed 1.2.3" ] || bad "chroot: status after install: $(cst)"
	[ "$(cmode usr/bin/wgstun)" = "755 0:0" ] || bad "chroot: /usr/bin/wgstun $(cmode usr/bin/wgstun)"
	[ "$(cmode etc/wgstun/wgstun.toml)" = "640 0:0" ] || bad "chroot: conffile $(cmode etc/wgstun/wgstun.toml)"
	[ "$(cmode lib/systemd/system/wgstun@.service)" = "644 0:0" ] || bad "chroot: template unit mode"
	# shellcheck disable=SC2016
	got=$(inch dpkg-query -W -f='${Conffiles}' wgstun)
	want=" /etc/wgstun/wgstun.toml $(md5sum <"$here/wgstun.toml" | cut -d' ' -f1)"
	[ "$got" = "$want" ] || bad "chroot: Conffiles '$got', want '$want'"
	[ "$(inch wgstun version)" = "wgstun 1.2.3" ] || bad "chroot: wgstun version: $(inch wgstun version 2>&1)"
	inch wgstun check -c /etc/wgstun/wgstun.toml >/dev/null 2>&1 || bad "chroot: wgstun check of the installed conffile"
	[ "$(readlink "$wants")" = /lib/systemd/system/wgstun.service ] || bad "chroot: postinst did not enable wgstun.service ($wants)"
	[ -f "$dsh" ] || bad "chroot: deb-systemd-helper recorded no state ($dsh)"
	ls -d "$c"/etc/systemd/system/wg-quick@*.wants >/dev/null 2>&1 && bad "chroot: a wgstun@ instance was enabled"
	[ "$fails" -eq 0 ] && ok "chroot install: status, modes, conffile and its md5, wgstun version and check run, enabled through deb-systemd-helper, no instance enabled, systemctl not running"

	# The admin disables the service and edits the conffile; the upgrade keeps both choices.
	inch systemctl disable wgstun.service >>"$tmp/chroot.log" 2>&1 || bad "chroot: systemctl disable"
	[ ! -e "$wants" ] || bad "chroot: systemctl disable left $wants"
	echo '# local edit' >>"$c/etc/wgstun/wgstun.toml"
	cdp -i /tmp/wgstun_1.2.4_amd64.deb || fatal "chroot: upgrade to 1.2.4"
	[ "$(cst)" = "install ok installed 1.2.4" ] || bad "chroot: status after upgrade: $(cst)"
	[ "$(inch wgstun version)" = "wgstun 1.2.4" ] || bad "chroot: upgraded binary: $(inch wgstun version 2>&1)"
	tail -n1 "$c/etc/wgstun/wgstun.toml" | grep -qx '# local edit' || bad "chroot: upgrade lost the conffile edit"
	[ ! -e "$c/etc/wgstun/wgstun.toml.dpkg-new" ] || bad "chroot: upgrade left wgstun.toml.dpkg-new"
	[ ! -e "$wants" ] || bad "chroot: upgrade re-enabled the disabled service"
	[ "$fails" -eq 0 ] && ok "chroot upgrade 1.2.3 -> 1.2.4: new binary, edited conffile kept, disabled service stays disabled"

	mkdir -p "$c/var/lib/wgstun/store"
	echo record >"$c/var/lib/wgstun/store/k"
	cdp -r wgstun || fatal "chroot: dpkg -r"
	[ "$(cst)" = "deinstall ok config-files 1.2.4" ] || bad "chroot: status after remove: $(cst)"
	[ ! -e "$c/usr/bin/wgstun" ] || bad "chroot: remove left the binary"
	[ -f "$c/etc/wgstun/wgstun.toml" ] || bad "chroot: remove deleted the conffile"
	[ -f "$c/var/lib/wgstun/store/k" ] || bad "chroot: remove deleted /var/lib/wgstun"
	[ "$fails" -eq 0 ] && ok "chroot remove: binary gone, conffile and /var/lib/wgstun kept"
	cdp -P wgstun || fatal "chroot: dpkg -P"
	[ -z "$(cst)" ] || bad "chroot: purge left a dpkg record: $(cst)"
	[ ! -e "$c/etc/wgstun/wgstun.toml" ] || bad "chroot: purge left the conffile"
	[ ! -e "$c/var/lib/wgstun" ] || bad "chroot: purge left /var/lib/wgstun"
	[ ! -e "$dsh" ] || bad "chroot: purge left deb-systemd-helper state"
	[ "$fails" -eq 0 ] && ok "chroot purge: conffile, /var/lib/wgstun and unit state gone"
fi

if [ "$fails" -ne 0 ]; then
	echo "packaging/debian: $fails failure(s)" >&2
	exit 1
fi
echo "packaging/debian: all passed"
