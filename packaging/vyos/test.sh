#!/bin/bash
# Offline checks of the VyOS integration: bash packaging/vyos/test.sh
# Needs: python3, xmllint (Debian package libxml2-utils), go, shellcheck.
# Installs nothing. The RelaxNG schema is VyOS's, kept in shared/vyos next to
# the repository (CI has it there) or next to the local checkout a clone
# was made from; set VYOS_RNG to use another copy.
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
trap 'rm -rf "$tmp"' EXIT
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

check "install-from-config.sh: sh -n" sh -n "$here/install-from-config.sh"
check "shellcheck install-from-config.sh test.sh" shellcheck "$here/install-from-config.sh" "$here/test.sh"

(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$tmp/wgstun" ./src)

# Boot-time reinstall from /config/wgstun into an empty root.
mkdir -p "$tmp/config/wgstun/templates/wgstun" "$tmp/root"
cp "$tmp/wgstun" "$here/service_wgstun.py" "$here/wgstun.service" "$tmp/config/wgstun/"
echo 'help: wgstun' >"$tmp/config/wgstun/templates/wgstun/node.def"
WGSTUN_SRC=$tmp/config/wgstun WGSTUN_ROOT=$tmp/root sh "$here/install-from-config.sh"
mode() { stat -c %a "$tmp/root/$1"; }
check "boot script installs the binary 755" test "$(mode usr/sbin/wgstun)" = 755
check "boot script installs the conf_mode script 755" test "$(mode usr/libexec/vyos/conf_mode/service_wgstun.py)" = 755
check "boot script installs the unit 644" test "$(mode etc/systemd/system/wgstun.service)" = 644
check "boot script copies node.def templates" test -f "$tmp/root/opt/vyatta/share/vyatta-cfg/templates/service/wgstun/node.def"
rm "$tmp/config/wgstun/wgstun"
check "boot script refuses when a file is missing" fails env WGSTUN_SRC="$tmp/config/wgstun" WGSTUN_ROOT="$tmp/root2" sh "$here/install-from-config.sh"
check "unit runs the file the conf_mode script writes" \
	grep -q '^ExecStart=/usr/sbin/wgstun run -c /run/wgstun/wgstun.toml$' "$here/wgstun.service"
check "conf_mode writes /run/wgstun/wgstun.toml" \
	grep -q "^CONFIG_FILE = '/run/wgstun/wgstun.toml'$" "$here/service_wgstun.py"

if PYTHONDONTWRITEBYTECODE=1 WGSTUN_BIN=$tmp/wgstun python3 "$here/conf_mode_test.py"; then
	passes=$((passes + 1)); echo "ok   conf_mode tests"
else
	failures=$((failures + 1)); echo "FAIL conf_mode tests" >&2
fi

echo "vyos: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
