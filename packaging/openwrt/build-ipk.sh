#!/bin/sh
# build-ipk.sh BINARY VERSION ARCH OUTDIR: an OpenWrt (opkg, releases up to 24.10) package
# OUTDIR/wgstun_VERSION_ARCH.ipk from a built static wgstun, without the SDK.
# The layout follows OpenWrt's scripts/ipkg-build: the .ipk is a gzip-compressed GNU tar holding
# ./debian-binary ("2.0"), ./data.tar.gz and ./control.tar.gz, all owned 0:0, sorted, with one
# mtime (SOURCE_DATE_EPOCH, else 0) so equal inputs give equal bytes. control.tar.gz carries
# control, conffiles and OpenWrt's default postinst/prerm (enable+start / stop+disable).
# ARCH: mipsel_24kc mips_24kc arm_cortex-a7_neon-vfpv4 aarch64_generic x86_64 (or any opkg arch).
set -eu
umask 022

usage() {
	echo "usage: $0 BINARY VERSION ARCH OUTDIR" >&2
	echo "  e.g. $0 dist/wgstun-linux-mipsle 0.1.0-1 mipsel_24kc dist" >&2
	exit 2
}
die() {
	echo "build-ipk.sh: $*" >&2
	exit 1
}

[ $# -eq 4 ] || usage
bin=$1
version=${2#v}
arch=$3
outdir=$4
here=$(cd "$(dirname "$0")" && pwd)

command -v tar >/dev/null 2>&1 || die "tar not found (apt-get install tar)"
command -v gzip >/dev/null 2>&1 || die "gzip not found (apt-get install gzip)"
[ -f "$bin" ] || die "binary $bin: not a file"
case $version in
[0-9]*) ;;
*) die "version '$2': must start with a digit" ;;
esac
case $version in
*[!A-Za-z0-9.+~-]*) die "version '$2': only letters, digits and . + ~ - are allowed" ;;
esac
# Without a release, the SDK's convention <version>-<release> with release 1.
case $version in
*-*) ;;
*) version=$version-1 ;;
esac
case $arch in
'' | *[!A-Za-z0-9_-]*) die "architecture '$arch': not an opkg architecture (e.g. mipsel_24kc)" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
data=$work/data
ctl=$work/control
mtime=@${SOURCE_DATE_EPOCH:-0}

install -d -m 0755 "$data" "$ctl" "$data/usr/bin" "$data/etc/init.d" "$data/etc/config" \
	"$data/lib/upgrade/keep.d" "$data/usr/share/wgstun/plugins"
install -m 0755 "$bin" "$data/usr/bin/wgstun"
# Store plugins that use the router's own tools (the Cloudflare one needs curl).
install -m 0755 "$here/../../plugins/cloudflare.sh" "$data/usr/share/wgstun/plugins/cloudflare.sh"
install -m 0755 "$here/files/wgstun.init" "$data/etc/init.d/wgstun"
# INSTALL_CONF in the SDK is mode 0600.
install -m 0600 "$here/files/wgstun.config" "$data/etc/config/wgstun"
# What the SDK writes for conffiles, so sysupgrade keeps the config too.
echo /etc/config/wgstun >"$data/lib/upgrade/keep.d/wgstun"
chmod 0644 "$data/lib/upgrade/keep.d/wgstun"

tarc() { # tarc DIR OUT MEMBERS...: reproducible gzip'd GNU tar of MEMBERS relative to DIR
	d=$1
	o=$2
	shift 2
	(cd "$d" && tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name \
		--mtime="$mtime" -cf - "$@") | gzip -n -9 >"$o"
}
tarc "$data" "$work/data.tar.gz" .
size=$(gzip -dc "$work/data.tar.gz" | wc -c)

# License and maintainer come from the feed Makefile, the one place they
# are written (the SDK takes them from there too).
mkvar() { sed -n "s/^$1:=//p" "$here/Makefile"; }
license=$(mkvar PKG_LICENSE)
license_files=$(mkvar PKG_LICENSE_FILES)
maintainer=$(mkvar PKG_MAINTAINER)
if [ -z "$license" ] || [ -z "$maintainer" ]; then
	echo "build-ipk.sh: PKG_LICENSE or PKG_MAINTAINER missing in $here/Makefile" >&2
	exit 1
fi
cat >"$ctl/control" <<CONTROL
Package: wgstun
Version: $version
Source: feeds/packages/net/wgstun
SourceName: wgstun
License: $license
LicenseFiles: $license_files
Section: net
URL: https://github.com/wgstun/wgstun
Maintainer: $maintainer
Architecture: $arch
Installed-Size: $size
Description: Direct WireGuard paths between peers behind NAT. wgstun learns the
 WireGuard port's public endpoint with STUN, seals it for each peer with the
 WireGuard keys, exchanges it through a store and sets the peers' endpoints.
 Needs kernel WireGuard (kmod-wireguard) or wireguard-go. Configure in
 /etc/config/wgstun (shipped disabled).
CONTROL
echo /etc/config/wgstun >"$ctl/conffiles"
cat >"$ctl/postinst" <<'SCRIPT'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck disable=SC1091 # OpenWrt's, on the router
. "${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
SCRIPT
cat >"$ctl/prerm" <<'SCRIPT'
#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck disable=SC1091 # OpenWrt's, on the router
. "${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
SCRIPT
chmod 0644 "$ctl/control" "$ctl/conffiles"
chmod 0755 "$ctl/postinst" "$ctl/prerm"
tarc "$ctl" "$work/control.tar.gz" .

echo "2.0" >"$work/debian-binary"
chmod 0644 "$work/debian-binary" "$work/data.tar.gz" "$work/control.tar.gz"
mkdir -p "$outdir"
out=$outdir/wgstun_${version}_${arch}.ipk
tarc "$work" "$out" ./debian-binary ./data.tar.gz ./control.tar.gz
echo "$out"
