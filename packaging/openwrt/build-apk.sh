#!/bin/sh
# build-apk.sh BINARY VERSION ARCH OUTDIR: an OpenWrt 25.12+ (apk-tools v3) package
# OUTDIR/ARCH/wgstun-VERSION-rRELEASE.apk from a built static wgstun, without the SDK.
# The payload is the .ipk's: build-ipk.sh stages and packs the tree, this script unpacks its
# data.tar.gz and adds what OpenWrt's include/package-pack.mk adds for apk
# (/lib/apk/packages/wgstun.{list,conffiles,conffiles_static}), then apk3/cmd/apk3-mkpkg writes
# the ADB container with the --info/--script options package-pack.mk gives `apk mkpkg`.
# The name is OpenWrt's (<name>-<version>.apk, no arch in it), so each arch gets its own
# directory, as in the SDK's bin/packages/<arch>/. The package is unsigned: install it with
# `apk add --allow-untrusted`. Reproducible with SOURCE_DATE_EPOCH (else mtime 0).
# VERSION: 1.2.3, 1.2.3-2 or 1.2.3-r2 (release defaults to 1); a leading v is dropped.
# Needs Go (to build apk3-mkpkg) unless APK3_MKPKG names a built one.
set -eu
umask 022

usage() {
	echo "usage: $0 BINARY VERSION ARCH OUTDIR" >&2
	echo "  e.g. $0 dist/wgstun-linux-mipsle 0.1.0 mipsel_24kc dist/openwrt-apk" >&2
	exit 2
}
die() {
	echo "build-apk.sh: $*" >&2
	exit 1
}

[ $# -eq 4 ] || usage
bin=$1
version=${2#v}
arch=$3
outdir=$4
here=$(cd "$(dirname "$0")" && pwd)

# <upstream>-r<release> for apk, <upstream>-<release> for the ipk it starts from.
release=1
case $version in
*-r*)
	release=${version##*-r}
	version=${version%-r*}
	;;
*-*)
	release=${version##*-}
	version=${version%-*}
	;;
esac
case $release in
'' | *[!0-9]*) die "version '$2': release '$release' is not a number" ;;
esac
case $version in
[0-9]*) ;;
*) die "version '$2': must start with a digit" ;;
esac
case $version in
*[!0-9a-z._~]*) die "version '$2': apk versions are digits and dots with optional letter, _suffix and ~hash (e.g. 1.2.3, 1.2.3_rc1)" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

mkpkg=${APK3_MKPKG:-}
if [ -z "$mkpkg" ]; then
	command -v go >/dev/null 2>&1 || die "go not found (Go 1.26 builds apk3-mkpkg; or set APK3_MKPKG)"
	(cd "$here/apk3" && GOWORK=off CGO_ENABLED=0 go build -trimpath -o "$work/apk3-mkpkg" ./cmd/apk3-mkpkg) ||
		die "building apk3-mkpkg failed"
	mkpkg=$work/apk3-mkpkg
fi
[ -x "$mkpkg" ] || die "apk3-mkpkg $mkpkg: not executable"

ipk=$("$here/build-ipk.sh" "$bin" "$version-$release" "$arch" "$work/ipk") || exit 1
mkdir -p "$work/x" "$work/c" "$work/root"
tar -xzf "$ipk" -C "$work/x"
tar -xzf "$work/x/control.tar.gz" -C "$work/c"
tar -xpzf "$work/x/data.tar.gz" -C "$work/root" --no-same-owner

field() { sed -n "s/^$1: //p" "$work/c/control"; }
# Description: the control's first line and its continuation lines, as one line.
description=$(sed -n '/^Description: /,$p' "$work/c/control" | sed 's/^Description: //; s/^ //' | tr '\n' ' ' | sed 's/ *$//')

pk=$work/root/lib/apk/packages
mkdir -p "$pk"
# Files and symlinks of the payload, made before the conffiles lists are added (as package-pack.mk).
(cd "$work/root" && find . -type f,l -printf '/%P\n' | LC_ALL=C sort) >"$work/wgstun.list"
mv "$work/wgstun.list" "$pk/wgstun.list"
cp "$work/c/conffiles" "$pk/wgstun.conffiles"
: >"$pk/wgstun.conffiles_static"
while read -r f; do
	[ -f "$work/root$f" ] || continue
	echo "$f $(sha256sum <"$work/root$f" | cut -d' ' -f1)" >>"$pk/wgstun.conffiles_static"
done <"$pk/wgstun.conffiles"
chmod 0644 "$pk"/*

mkdir -p "$outdir/$arch"
out=$outdir/$arch/wgstun-$version-r$release.apk
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0} "$mkpkg" \
	--info "name:$(field Package)" \
	--info "version:$version-r$release" \
	--info "description:$description" \
	--info "arch:$arch" \
	--info "license:$(field License)" \
	--info "origin:$(field Source)" \
	--info "url:$(field URL)" \
	--info "maintainer:$(field Maintainer)" \
	--script "post-install:$here/files/wgstun.apk-post-install" \
	--script "post-upgrade:$here/files/wgstun.apk-post-upgrade" \
	--script "pre-deinstall:$here/files/wgstun.apk-pre-deinstall" \
	--info "depends:$(field Depends)" \
	--files "$work/root" \
	--output "$out" || {
	rmdir "$outdir/$arch" "$outdir" 2>/dev/null || true
	die "apk3-mkpkg failed for $out"
}
echo "$out"
