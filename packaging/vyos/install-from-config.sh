#!/bin/sh
# Reinstalls wgstun's files into the running VyOS image from /config/wgstun,
# which `add system image` carries to every new image. Run it from
# /config/scripts/vyos-preconfig-bootup.script (before the saved config is
# loaded, so `service wgstun` finds its script and unit at boot):
#
#   sh /config/wgstun/install-from-config.sh
#
# /config/wgstun holds: wgstun (linux binary), service_wgstun.py,
# wgstun.service, this script, and optionally templates/ (node.def tree).
# WGSTUN_ROOT prefixes every target path (for tests); empty on a router.
set -eu

src=${WGSTUN_SRC:-/config/wgstun}
root=${WGSTUN_ROOT:-}

for f in wgstun service_wgstun.py wgstun.service; do
	if [ ! -f "$src/$f" ]; then
		echo "wgstun: $src/$f is missing; not installed" >&2
		exit 1
	fi
done

mkdir -p "$root/usr/sbin" "$root/usr/libexec/vyos/conf_mode" "$root/etc/systemd/system"
install -m 0755 "$src/wgstun" "$root/usr/sbin/wgstun"
install -m 0755 "$src/service_wgstun.py" "$root/usr/libexec/vyos/conf_mode/service_wgstun.py"
install -m 0644 "$src/wgstun.service" "$root/etc/systemd/system/wgstun.service"
if [ -d "$src/templates" ]; then
	mkdir -p "$root/opt/vyatta/share/vyatta-cfg/templates/service"
	cp -R "$src/templates/." "$root/opt/vyatta/share/vyatta-cfg/templates/service/"
fi
if [ -z "$root" ]; then
	systemctl daemon-reload
fi
