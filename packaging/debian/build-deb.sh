#!/bin/sh
# build-deb.sh BINARY VERSION ARCH OUTDIR: wrap a built wgstun binary in a Debian package
# OUTDIR/wgstun_VERSION_ARCH.deb (systemd units, sample conffile, maintainer scripts).
# Offline; needs only dpkg-deb. Files are owned by root (--root-owner-group, no fakeroot).
# Reproducible when SOURCE_DATE_EPOCH is set (dpkg-deb honours it for mtimes).
set -eu
umask 022

usage() {
	echo "usage: $0 BINARY VERSION ARCH OUTDIR" >&2
	echo "  e.g. $0 bin/wgstun 0.1.0 amd64 dist" >&2
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
top=$(cd "$here/../.." && pwd)

command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (apt-get install dpkg)"
[ -f "$bin" ] || die "binary $bin: not a file"
# Debian policy: upstream version starts with a digit; only these characters.
case $version in
[0-9]*) ;;
*) die "version '$2': must start with a digit (a git describe without a tag is not a Debian version)" ;;
esac
case $version in
*[!A-Za-z0-9.+~-]*) die "version '$2': only letters, digits and . + ~ - are allowed" ;;
esac
case $arch in
'' | *[!a-z0-9-]*) die "architecture '$arch': not a Debian architecture name (amd64, arm64, armhf, ...)" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root

install -d -m 0755 "$root" "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
	"$root/etc/wgstun" "$root/usr/share/doc/wgstun"
install -m 0755 "$bin" "$root/usr/bin/wgstun"
install -m 0644 "$here/wgstun.service" "$here/wgstun@.service" "$root/lib/systemd/system/"
# The sample configuration may name plugin arguments (tokens): not world-readable.
install -m 0640 "$here/wgstun.toml" "$root/etc/wgstun/wgstun.toml"
if [ -f "$top/README.md" ]; then
	install -m 0644 "$top/README.md" "$root/usr/share/doc/wgstun/README.md"
fi
"$here/copyright.sh" "$top/LICENSE" >"$root/usr/share/doc/wgstun/copyright"
chmod 0644 "$root/usr/share/doc/wgstun/copyright"
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0} "$here/docs.sh" wgstun "$version" "$root" <<'OVERRIDES'
# Go programs are statically linked by design (CGO_ENABLED=0: no libc, one file for any
# Debian release); Debian's own Go packages carry the same override.
wgstun: statically-linked-binary [usr/bin/wgstun]
# Plugin arguments and tokens may sit in the configuration: not world-readable on purpose.
wgstun: non-standard-file-perm 0640 != 0644 [etc/wgstun/wgstun.toml]
# wgstun@IFACE runs beside wg-quick@IFACE and starts with it: WantedBy that unit on purpose.
wgstun: systemd-service-file-refers-to-unusual-wantedby-target wg-quick@%i.service [lib/systemd/system/wgstun@.service]
OVERRIDES
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
echo /etc/wgstun/wgstun.toml >"$root/DEBIAN/conffiles"
chmod 0644 "$root/DEBIAN/conffiles"

size=$(du -sk --apparent-size "$root/usr" "$root/lib" "$root/etc" | awk '{s += $1} END {print s}')
cat >"$root/DEBIAN/control" <<CONTROL
Package: wgstun
Version: $version
Architecture: $arch
Maintainer: wgstun developers <wgstun@users.noreply.github.com>
Installed-Size: $size
Recommends: wireguard-tools
Section: net
Priority: optional
Homepage: https://github.com/wgstun/wgstun
Description: direct WireGuard paths between peers behind NAT
 wgstun runs next to a WireGuard interface (kernel or wireguard-go). It learns
 the interface's public endpoint with STUN from WireGuard's own port, seals it
 for each peer with the WireGuard keys, exchanges it through a store (a shared
 directory or a plugin) and sets the peers' endpoints, with no relay.
 .
 The static binary needs no libraries. wgstun.service runs one daemon from
 /etc/wgstun/wgstun.toml; wgstun@IFACE.service runs one per wg-quick interface.
CONTROL
chmod 0644 "$root/DEBIAN/control"

mkdir -p "$outdir"
out="$outdir/wgstun_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
