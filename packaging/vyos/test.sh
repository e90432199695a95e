#!/bin/bash
# Checks of the VyOS integration: bash packaging/vyos/test.sh
# Needs: python3, xmllint (Debian package libxml2-utils), go, shellcheck, dpkg; as root also
# debootstrap and the machine's Debian mirror: the package is installed into a bookworm chroot
# (scripts/chroot-bookworm.sh, cached in /var/cache/wgstun-test after the first run). Installs
# nothing on the host. The RelaxNG schema is VyOS's, kept in shared/vyos next to the repository
# (CI has it there) or next to the local checkout a clone was made from; set VYOS_RNG to use
# another copy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

need() {
	command -v "$1" >/dev/null 2>&1 || {
		echo "vyos test: '$1' not found; install $2" >&2
		exit 2
	}
}
need python3 "the Debian package python3"
need xmllint "the Debian package libxml2-utils"
need go "Go 1.26 (see scripts/deps.sh)"
need shellcheck "the Debian package shellcheck"
rng=${VYOS_RNG:-$root/../shared/vyos/interface_definition.rng}
# A clone made from a local checkout (git clone . /tmp/x) has no shared/
# beside it; the checkout it came from does.
if [ -z "${VYOS_RNG:-}" ] && [ ! -f "$rng" ]; then
	origin=$(git -C "$root" remote get-url origin 2>/dev/null || true)
	if [ -d "$origin" ] && [ -f "$origin/../shared/vyos/interface_definition.rng" ]; then
		rng=$origin/../shared/vyos/interface_definition.rng
	fi
fi
[ -f "$rng" ] || {
	echo "vyos test: schema $rng not found (shared/vyos/interface_definition.rng beside the repository, or set VYOS_RNG)" >&2
	exit 2
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
passes=0 failures=0
check() {
	local name=$1
	shift
	if "$@"; then passes=$((passes + 1)); echo "ok   $name"; else failures=$((failures + 1)); echo "FAIL $name" >&2; fi
}
fails() { ! "$@" >/dev/null 2>&1; }

check "service_wgstun.xml validates against VyOS's RelaxNG schema" \
	xmllint --noout --relaxng "$rng" "$here/service_wgstun.xml"
# The validation is live: an element VyOS does not know is rejected.
sed 's|<priority>990</priority>|<priority>990</priority><bogus/>|' "$here/service_wgstun.xml" >"$tmp/bad.xml"
check "the schema rejects an unknown element" fails xmllint --noout --relaxng "$rng" "$tmp/bad.xml"
check "owner is the conf_mode script's install path" \
	grep -q 'owner="/usr/libexec/vyos/conf_mode/service_wgstun.py"' "$here/service_wgstun.xml"

check "install-from-config.sh, build-deb.sh, maintainer scripts: sh -n" \
	sh -n "$here/install-from-config.sh" "$here/build-deb.sh" "$here/debian/postinst" "$here/debian/prerm" "$here/debian/postrm"
check "shellcheck install-from-config.sh build-deb.sh maintainer scripts test.sh" \
	shellcheck -x "$here/install-from-config.sh" "$here/build-deb.sh" "$here/debian/postinst" \
	"$here/debian/prerm" "$here/debian/postrm" "$here/test.sh"

# node.def generator: expectations read from the XML, exact texts, constraints run through sh.
if PYTHONDONTWRITEBYTECODE=1 python3 "$here/gen_node_defs_test.py" 2>"$tmp/gen.log"; then
	passes=$((passes + 1)); echo "ok   gen-node-defs tests ($(grep -o 'Ran [0-9]* tests' "$tmp/gen.log"))"
else
	cat "$tmp/gen.log" >&2
	failures=$((failures + 1)); echo "FAIL gen-node-defs tests" >&2
fi
python3 "$here/gen-node-defs.py" "$here/service_wgstun.xml" "$tmp/templates"

# The VyOS package carries the full build (every store; scripts/builds.sh).
full_tags=$(sed -n 's/^full_tags="\(.*\)"$/\1/p' "$root/scripts/builds.sh")
build() { # version -> $tmp/wgstun-VERSION with the version stamped
	(cd "$root" && CGO_ENABLED=0 go build -trimpath -tags "$full_tags" -ldflags "-s -w -X main.version=$1" -o "$tmp/wgstun-$1" ./src/cmd/wgstun)
}
build 1.2.3
build 1.2.4

# Boot-time reinstall of the loose files from /config/wgstun into an empty root.
mkdir -p "$tmp/config/wgstun" "$tmp/root"
cp "$tmp/wgstun-1.2.3" "$tmp/config/wgstun/wgstun"
cp "$here/service_wgstun.py" "$here/wgstun.service" "$tmp/config/wgstun/"
cp -R "$tmp/templates" "$tmp/config/wgstun/templates"
WGSTUN_SRC=$tmp/config/wgstun WGSTUN_ROOT=$tmp/root sh "$here/install-from-config.sh"
mode() { stat -c %a "$tmp/root/$1"; }
check "boot script (loose files) installs the binary 755" test "$(mode usr/sbin/wgstun)" = 755
check "boot script (loose files) installs the conf_mode script 755" test "$(mode usr/libexec/vyos/conf_mode/service_wgstun.py)" = 755
check "boot script (loose files) installs the unit 644" test "$(mode etc/systemd/system/wgstun.service)" = 644
check "boot script (loose files) copies the node.def tree" \
	diff -r "$tmp/templates" "$tmp/root/opt/vyatta/share/vyatta-cfg/templates"
rm "$tmp/config/wgstun/wgstun"
check "boot script refuses when a file is missing" fails env WGSTUN_SRC="$tmp/config/wgstun" WGSTUN_ROOT="$tmp/root2" sh "$here/install-from-config.sh"
check "unit runs the file the conf_mode script writes" \
	grep -q '^ExecStart=/usr/sbin/wgstun run -c /run/wgstun/wgstun.toml$' "$here/wgstun.service"
check "conf_mode writes /run/wgstun/wgstun.toml" \
	grep -q "^CONFIG_FILE = '/run/wgstun/wgstun.toml'$" "$here/service_wgstun.py"
check "unit's RuntimeDirectory holds the config and the socket" \
	grep -q '^RuntimeDirectory=wgstun$' "$here/wgstun.service"

if PYTHONDONTWRITEBYTECODE=1 WGSTUN_BIN=$tmp/wgstun-1.2.3 python3 "$here/conf_mode_test.py"; then
	passes=$((passes + 1)); echo "ok   conf_mode tests"
else
	failures=$((failures + 1)); echo "FAIL conf_mode tests" >&2
fi

# --- the package ------------------------------------------------------------------------------
for v in 1.2.3 1.2.4; do
	SOURCE_DATE_EPOCH=1700000000 "$here/build-deb.sh" "$tmp/wgstun-$v" "v$v" amd64 "$tmp/out" >"$tmp/build.log" 2>&1 ||
		{ cat "$tmp/build.log" >&2; echo "FAIL build-deb.sh $v" >&2; exit 1; }
done
deb=$tmp/out/wgstun-vyos_1.2.3_amd64.deb
check "build-deb.sh prints the package path" test "$(tail -n1 "$tmp/build.log")" = "$tmp/out/wgstun-vyos_1.2.4_amd64.deb"
field() { dpkg-deb -f "$deb" "$1"; }
check "control: Package wgstun-vyos" test "$(field Package)" = wgstun-vyos
check "control: Version 1.2.3 (v stripped)" test "$(field Version)" = 1.2.3
check "control: Architecture amd64" test "$(field Architecture)" = amd64
check "control: Depends python3 (the conf_mode script)" test "$(field Depends)" = python3
check "control: Conflicts wgstun (the plain Debian package)" test "$(field Conflicts)" = wgstun
check "control: Recommends wireguard-tools" test "$(field Recommends)" = wireguard-tools

# Every path, mode and owner, against a list built from the generator's own output.
t=opt/vyatta/share/vyatta-cfg/templates
{
	for d in ./ ./lib/ ./lib/systemd/ ./lib/systemd/system/ ./opt/ ./opt/vyatta/ ./opt/vyatta/share/ \
		./opt/vyatta/share/vyatta-cfg/ ./usr/ ./usr/libexec/ ./usr/libexec/vyos/ ./usr/libexec/vyos/conf_mode/ \
		./usr/sbin/ ./usr/share/ ./usr/share/doc/ ./usr/share/doc/wgstun-vyos/ ./usr/share/wgstun-vyos/ \
		./usr/share/lintian/ ./usr/share/lintian/overrides/ ./usr/share/man/ ./usr/share/man/man8/; do
		echo "drwxr-xr-x root/root $d"
	done
	echo "drwxr-xr-x root/root ./$t/"
	(cd "$tmp/templates" && find . -mindepth 1 -type d | sed "s|^\./\(.*\)|drwxr-xr-x root/root ./$t/\1/|")
	(cd "$tmp/templates" && find . -type f | sed "s|^\./|-rw-r--r-- root/root ./$t/|")
	echo "-rw-r--r-- root/root ./lib/systemd/system/wgstun.service"
	echo "-rwxr-xr-x root/root ./usr/libexec/vyos/conf_mode/service_wgstun.py"
	echo "-rwxr-xr-x root/root ./usr/sbin/wgstun"
	echo "-rw-r--r-- root/root ./usr/share/doc/wgstun-vyos/README.md"
	echo "-rw-r--r-- root/root ./usr/share/doc/wgstun-vyos/changelog.gz"
	echo "-rw-r--r-- root/root ./usr/share/lintian/overrides/wgstun-vyos"
	echo "-rw-r--r-- root/root ./usr/share/man/man8/wgstun.8.gz"
	echo "-rw-r--r-- root/root ./usr/share/doc/wgstun-vyos/copyright"
	echo "-rwxr-xr-x root/root ./usr/share/wgstun-vyos/install-from-config.sh"
} | sort >"$tmp/contents.want"
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' | sort >"$tmp/contents"
check "package contents: paths, modes, root ownership (34 node.defs)" diff -u "$tmp/contents.want" "$tmp/contents"
check "node.def count" test "$(grep -c '/node.def$' "$tmp/contents")" = 34
# Debian's own checker: no errors, no warnings; the overrides in the package say why.
check "lintian: no errors or warnings" lintian --fail-on error,warning --tag-display-limit 0 "$deb"
# The unit is sandboxed as the Debian package's is (systemd-analyze security, offline).
exposure() { systemd-analyze security --offline=true "$1" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p'; }
check "unit exposure (systemd-analyze security) at most the Debian unit's and below 3" \
	awk -v v="$(exposure "$here/wgstun.service")" -v d="$(exposure "$here/../debian/wgstun.service")" 'BEGIN { exit !(v != "" && v <= d && v < 3) }'
mkdir "$tmp/x" "$tmp/ctl"
dpkg-deb -x "$deb" "$tmp/x"
dpkg-deb -e "$deb" "$tmp/ctl"
check "the package ships the generated node.def tree byte for byte" diff -r "$tmp/templates" "$tmp/x/$t"
check "the package ships the binary byte for byte" cmp -s "$tmp/wgstun-1.2.3" "$tmp/x/usr/sbin/wgstun"
check "no conffiles (the configuration is VyOS's config tree; /etc is not kept across images)" \
	test ! -e "$tmp/ctl/conffiles"
SOURCE_DATE_EPOCH=1700000000 "$here/build-deb.sh" "$tmp/wgstun-1.2.3" 1.2.3 amd64 "$tmp/out2" >/dev/null
check "reproducible with SOURCE_DATE_EPOCH" cmp -s "$deb" "$tmp/out2/wgstun-vyos_1.2.3_amd64.deb"
"$here/build-deb.sh" "$tmp/wgstun-1.2.3" 1.2.3 arm64 "$tmp/out2" >/dev/null
check "arm64 package" test "$(dpkg-deb -f "$tmp/out2/wgstun-vyos_1.2.3_arm64.deb" Architecture)" = arm64
refused() { # message args...
	local want=$1 out
	shift
	out=$("$here/build-deb.sh" "$@" 2>&1) && return 1
	grep -q -- "$want" <<<"$out"
}
check "armhf refused (VyOS is amd64/arm64)" refused 'amd64 and arm64 only' "$tmp/wgstun-1.2.3" 1.0 armhf "$tmp/o"
check "untagged version refused" refused 'must start with a digit' "$tmp/wgstun-1.2.3" d4dab27-dirty amd64 "$tmp/o"
check "missing binary refused" refused 'not a file' "$tmp/nothere" 1.0 amd64 "$tmp/o"
check "refusals leave no output directory" test ! -e "$tmp/o"

# --- install, upgrade, reinstall from /config, remove, purge in a real bookworm chroot ----------
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP chroot install tests: need root (debootstrap, chroot)"
else
	# The plain Debian package, to show the two cannot be installed together.
	"$root/packaging/debian/build-deb.sh" "$tmp/wgstun-1.2.3" 1.2.3 amd64 "$tmp/out" >/dev/null
	c=$tmp/chroot
	bash "$root/scripts/chroot-bookworm.sh" "$c" || { echo "FAIL bookworm chroot (see above)" >&2; exit 1; }
	inch() { timeout 300 chroot "$c" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C "$@" </dev/null; }
	# dpkg's chatter goes to a log, shown when a check fails.
	dp() { inch dpkg "$@" >>"$tmp/chroot.log" 2>&1; }
	cp "$tmp/out/"*.deb "$c/tmp/"
	# shellcheck disable=SC2016 # ${Status} is dpkg-query's format, not shell
	cst() { inch dpkg-query -W -f='${Status} ${Version}' wgstun-vyos 2>/dev/null; }
	check "dpkg -i wgstun-vyos in the chroot (Depends satisfied, no --force)" dp -i /tmp/wgstun-vyos_1.2.3_amd64.deb
	check "status: install ok installed 1.2.3" test "$(cst)" = "install ok installed 1.2.3"
	cmode() { stat -c '%a %u:%g' "$c/$1"; }
	check "installed /usr/sbin/wgstun 755 root" test "$(cmode usr/sbin/wgstun)" = "755 0:0"
	check "installed conf_mode script 755 root" test "$(cmode usr/libexec/vyos/conf_mode/service_wgstun.py)" = "755 0:0"
	check "installed unit 644" test "$(cmode lib/systemd/system/wgstun.service)" = "644 0:0"
	check "installed boot script 755" test "$(cmode usr/share/wgstun-vyos/install-from-config.sh)" = "755 0:0"
	check "installed node.def tree equals the generated one" diff -r "$tmp/templates/service/wgstun" "$c/$t/service/wgstun"
	# shellcheck disable=SC2016 # dpkg-query's format
	check "dpkg records no conffiles" test -z "$(inch dpkg-query -W -f='${Conffiles}' wgstun-vyos)"
	check "chroot: wgstun version prints 1.2.3" test "$(inch wgstun version)" = "wgstun 1.2.3"
	check "chroot: the conf_mode script compiles under the chroot's python3" \
		inch python3 -c 'import ast,sys; ast.parse(open(sys.argv[1]).read())' /usr/libexec/vyos/conf_mode/service_wgstun.py
	check "not enabled by the package (VyOS starts it on commit)" \
		test ! -e "$c/etc/systemd/system/multi-user.target.wants/wgstun.service"
	check "python3 cannot be removed under it (Depends recorded)" fails dp -r --dry-run python3
	check "the Debian package wgstun conflicts" fails dp -i /tmp/wgstun_1.2.3_amd64.deb
	check "status unchanged after the refused conflict" test "$(cst)" = "install ok installed 1.2.3"

	# A local edit of a shipped (non-conffile) file is replaced by the upgrade.
	echo '# local edit' >>"$c/$t/service/wgstun/node.def"
	check "upgrade 1.2.3 -> 1.2.4" dp -i /tmp/wgstun-vyos_1.2.4_amd64.deb
	check "status: install ok installed 1.2.4" test "$(cst)" = "install ok installed 1.2.4"
	check "chroot: wgstun version prints 1.2.4" test "$(inch wgstun version)" = "wgstun 1.2.4"
	check "upgrade restores the node.def tree" diff -r "$tmp/templates/service/wgstun" "$c/$t/service/wgstun"

	# Image upgrade: the new image has no package; /config/wgstun has the .debs and the boot script.
	mkdir -p "$c/config/wgstun"
	dp_boot() { inch sh /config/wgstun/install-from-config.sh >>"$tmp/chroot.log" 2>&1; }
	cp "$tmp/out/wgstun-vyos_1.2.3_amd64.deb" "$tmp/out/wgstun-vyos_1.2.4_amd64.deb" "$c/config/wgstun/"
	cp "$c/usr/share/wgstun-vyos/install-from-config.sh" "$c/config/wgstun/"
	check "purge (the new image has no package)" dp -P wgstun-vyos
	check "purge removes the binary, script, unit and tree" \
		test ! -e "$c/usr/sbin/wgstun" -a ! -e "$c/usr/libexec/vyos/conf_mode/service_wgstun.py" \
		-a ! -e "$c/lib/systemd/system/wgstun.service" -a ! -e "$c/$t/service/wgstun"
	check "purge leaves no dpkg record" test -z "$(cst)"
	check "boot script reinstalls from /config/wgstun" dp_boot
	check "... the highest version, 1.2.4" test "$(cst)" = "install ok installed 1.2.4"
	check "... with its node.def tree" diff -r "$tmp/templates/service/wgstun" "$c/$t/service/wgstun"
	out=$(inch sh /config/wgstun/install-from-config.sh)
	check "a second boot finds it installed and does nothing" test "$out" = "wgstun: wgstun-vyos 1.2.4 is installed"

	check "remove" dp -r wgstun-vyos
	check "remove: files gone" test ! -e "$c/usr/sbin/wgstun" -a ! -e "$c/$t/service/wgstun"
	check "remove: status deinstall ok config-files (postrm kept for purge)" \
		test "$(cst)" = "deinstall ok config-files 1.2.4"
	check "purge after remove" dp -P wgstun-vyos
	check "purge after remove leaves no dpkg record" test -z "$(cst)"
	if [ "$failures" -ne 0 ]; then
		echo "--- dpkg in the chroot:" >&2
		cat "$tmp/chroot.log" >&2
	fi
fi

echo "vyos: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
