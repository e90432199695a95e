#!/bin/sh
# Reinstalls wgstun into the running VyOS image from /config/wgstun, which
# `add system image` carries to every new image (packages are not carried).
# Run it from /config/scripts/vyos-preconfig-bootup.script (before the saved
# config is loaded, so `service wgstun` finds its templates, script and unit):
#
#   sh /config/wgstun/install-from-config.sh
#
# /config/wgstun holds either
#   - wgstun-vyos_VERSION_ARCH.deb (built by packaging/vyos/build-deb.sh; the
#     highest version is installed with dpkg unless it already is), or
#   - the loose files: wgstun (linux binary), service_wgstun.py,
#     wgstun.service and optionally templates/ (gen-node-defs.py's output,
#     templates/service/wgstun/...).
# WGSTUN_ROOT prefixes every target path (for tests); empty on a router.
set -eu

src=${WGSTUN_SRC:-/config/wgstun}
root=${WGSTUN_ROOT:-}

reload_systemd() {
	if [ -z "$root" ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload
	fi
}

deb="" best=""
for f in "$src"/wgstun-vyos_*.deb; do
	[ -f "$f" ] || continue
	v=$(dpkg-deb -f "$f" Version) || {
		echo "wgstun: $f is not a readable package; skipped" >&2
		continue
	}
	if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then
		deb=$f best=$v
	fi
done
if [ -n "$deb" ]; then
	have=$(dpkg-query ${root:+--root="$root"} -W -f='${Status} ${Version}' wgstun-vyos 2>/dev/null || true)
	if [ "$have" = "install ok installed $best" ]; then
		echo "wgstun: wgstun-vyos $best is installed"
		exit 0
	fi
	echo "wgstun: installing $deb"
	dpkg ${root:+--root="$root"} -i "$deb"
	exit 0
fi

for f in wgstun service_wgstun.py wgstun.service; do
	if [ ! -f "$src/$f" ]; then
		echo "wgstun: no wgstun-vyos_*.deb in $src and $src/$f is missing; not installed" >&2
		exit 1
	fi
done

mkdir -p "$root/usr/sbin" "$root/usr/libexec/vyos/conf_mode" "$root/etc/systemd/system"
install -m 0755 "$src/wgstun" "$root/usr/sbin/wgstun"
install -m 0755 "$src/service_wgstun.py" "$root/usr/libexec/vyos/conf_mode/service_wgstun.py"
install -m 0644 "$src/wgstun.service" "$root/etc/systemd/system/wgstun.service"
if [ -d "$src/templates" ]; then
	mkdir -p "$root/opt/vyatta/share/vyatta-cfg/templates"
	cp -R "$src/templates/." "$root/opt/vyatta/share/vyatta-cfg/templates/"
fi
reload_systemd
