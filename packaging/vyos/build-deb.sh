#!/bin/sh
# build-deb.sh BINARY VERSION ARCH OUTDIR: the VyOS package OUTDIR/wgstun-vyos_VERSION_ARCH.deb
# for VyOS 1.4/1.5 (Debian 12 based): the daemon, the conf_mode script, the node.def tree
# generated from service_wgstun.xml by gen-node-defs.py, the systemd unit and the boot-time
# reinstall script. BINARY is a linux/amd64 or linux/arm64 build (dist/wgstun-V-linux-amd64 from
# `make dist`, or `go build ./src`). Needs dpkg-deb and python3; files are owned by root
# (--root-owner-group); reproducible when SOURCE_DATE_EPOCH is set.
set -eu
umask 022

usage() {
	echo "usage: $0 BINARY VERSION ARCH OUTDIR" >&2
	echo "  e.g. $0 dist/wgstun-v0.1.0-linux-arm64 0.1.0 arm64 dist" >&2
	exit 2
}
die() {
	echo "build-deb.sh: $*" >&2
	exit 1
}

[ $# -eq 4 ] || usage
bin=$1
version=${2#v}
arch=$3
outdir=$4
here=$(cd "$(dirname "$0")" && pwd)

command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (apt-get install dpkg)"
command -v python3 >/dev/null 2>&1 || die "python3 not found (apt-get install python3)"
[ -f "$bin" ] || die "binary $bin: not a file"
case $version in
[0-9]*) ;;
*) die "version '$2': must start with a digit (a git describe without a tag is not a Debian version)" ;;
esac
case $version in
*[!A-Za-z0-9.+~-]*) die "version '$2': only letters, digits and . + ~ - are allowed" ;;
esac
# VyOS is built for these two only.
case $arch in
amd64 | arm64) ;;
*) die "architecture '$arch': VyOS runs on amd64 and arm64 only" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root
tmpl=opt/vyatta/share/vyatta-cfg/templates

install -d -m 0755 "$root" "$root/DEBIAN" "$root/usr/sbin" "$root/usr/libexec/vyos/conf_mode" \
	"$root/lib/systemd/system" "$root/usr/share/wgstun-vyos" "$root/usr/share/doc/wgstun-vyos" "$root/$tmpl"
install -m 0755 "$bin" "$root/usr/sbin/wgstun"
install -m 0755 "$here/service_wgstun.py" "$root/usr/libexec/vyos/conf_mode/service_wgstun.py"
install -m 0644 "$here/wgstun.service" "$root/lib/systemd/system/wgstun.service"
install -m 0755 "$here/install-from-config.sh" "$root/usr/share/wgstun-vyos/install-from-config.sh"
install -m 0644 "$here/README.md" "$root/usr/share/doc/wgstun-vyos/README.md"
"$here/../debian/copyright.sh" "$here/../../LICENSE" >"$root/usr/share/doc/wgstun-vyos/copyright"
chmod 0644 "$root/usr/share/doc/wgstun-vyos/copyright"
python3 "$here/gen-node-defs.py" "$here/service_wgstun.xml" "$work/templates" ||
	die "node.def generation from service_wgstun.xml failed"
cp -R "$work/templates/." "$root/$tmpl/"
find "$root/$tmpl" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0} "$here/../debian/docs.sh" wgstun-vyos "$version" "$root" <<'OVERRIDES'
# Go programs are statically linked by design (CGO_ENABLED=0); Debian's own Go packages carry
# the same override.
wgstun-vyos: statically-linked-binary [usr/sbin/wgstun]
# VyOS reads its CLI templates from /opt/vyatta/share/vyatta-cfg/templates: every VyOS
# package that adds configuration nodes installs them there.
wgstun-vyos: dir-or-file-in-opt [opt/vyatta/*]
OVERRIDES
install -m 0755 "$here/debian/postinst" "$here/debian/prerm" "$here/debian/postrm" "$root/DEBIAN/"

size=$(du -sk --apparent-size "$root/usr" "$root/lib" "$root/opt" | awk '{s += $1} END {print s}')
cat >"$root/DEBIAN/control" <<CONTROL
Package: wgstun-vyos
Version: $version
Architecture: $arch
Maintainer: wgstun developers <wgstun@users.noreply.github.com>
Installed-Size: $size
Depends: python3
Recommends: wireguard-tools
Conflicts: wgstun
Section: net
Priority: optional
Homepage: https://github.com/wgstun/wgstun
Description: direct WireGuard paths through NAT, as VyOS's "service wgstun"
 wgstun learns a WireGuard interface's public endpoint with STUN from
 WireGuard's own port, seals it for each peer with the WireGuard keys,
 exchanges it through a store and sets the peers' endpoints, with no relay.
 .
 This package adds "set service wgstun ..." to VyOS 1.4/1.5: configuration
 templates, the conf_mode script that writes the daemon's configuration and
 drives wgstun.service, and a script that reinstalls the package from /config
 at boot after an image upgrade.
CONTROL
chmod 0644 "$root/DEBIAN/control"

mkdir -p "$outdir"
out="$outdir/wgstun-vyos_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
