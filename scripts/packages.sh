#!/usr/bin/env bash
# packages.sh: every package users install, from the release binaries of
# scripts/dist.sh, into OUTDIR (default dist/packages):
#
#   debian/  wgstun_VERSION_{amd64,arm64,armhf}.deb           (packaging/debian)
#   vyos/    wgstun-vyos_VERSION_{amd64,arm64}.deb            (packaging/vyos)
#   openwrt/ wgstun_VERSION-1_ARCH.ipk for opkg (24.10) and
#            ARCH/wgstun-VERSION-r1.apk for apk v3 (25.12+)   (packaging/openwrt)
#
# The FreeBSD port and the Homebrew formula build from source on their own
# systems; see their folders.
#
#   VERSION=1.2.3 scripts/packages.sh [DISTDIR [OUTDIR]]
#
# VERSION must be a plain release number (digits and dots): the package
# managers order versions by it, and a `git describe` string is not one.
# Without VERSION the tag on HEAD is used, if there is one. File times are
# SOURCE_DATE_EPOCH, by default the last commit's.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dist=${1:-$root/dist}
out=${2:-$dist/packages}

version=${VERSION:-$(git -C "$root" describe --tags --exact-match 2>/dev/null || true)}
version=${version#v}
if ! [[ $version =~ ^[0-9]+(\.[0-9]+)*$ ]]; then
	echo "packages.sh: VERSION '${VERSION:-}' is not a release number like 1.2.3 (HEAD has no such tag): set VERSION=" >&2
	exit 2
fi
# The binaries must carry the same version (dist.sh stamps VERSION into them).
bin() { # dist target name
	local f
	f=$(find "$dist" -maxdepth 1 -name "wgstun-*-$1" -type f | head -n 1)
	[[ -n $f ]] || {
		echo "packages.sh: no $dist/wgstun-*-$1: run VERSION=$version make dist first" >&2
		exit 1
	}
	echo "$f"
}

# Every file in every package carries the last commit's time (or the caller's
# SOURCE_DATE_EPOCH), so two builds of one commit give the same bytes wherever
# they run (scripts/reproducible.sh proves it).
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
	SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || true)
fi
[[ ${SOURCE_DATE_EPOCH:-} =~ ^[0-9]+$ ]] || {
	echo "packages.sh: no SOURCE_DATE_EPOCH and no git history to take it from: set SOURCE_DATE_EPOCH=" >&2
	exit 2
}
export SOURCE_DATE_EPOCH

rm -rf "$out"
mkdir -p "$out/debian" "$out/vyos" "$out/openwrt"
# Debian and VyOS get the full build (every store); OpenWrt the router build.
for t in "linux-amd64-full amd64" "linux-arm64-full arm64" "linux-armv7-full armhf"; do
	read -r name arch <<<"$t"
	"$root/packaging/debian/build-deb.sh" "$(bin "$name")" "$version" "$arch" "$out/debian" >/dev/null
done
for t in "linux-amd64-full amd64" "linux-arm64-full arm64"; do
	read -r name arch <<<"$t"
	"$root/packaging/vyos/build-deb.sh" "$(bin "$name")" "$version" "$arch" "$out/vyos" >/dev/null
done
for t in "linux-mipsle mipsel_24kc" "linux-mips mips_24kc" "linux-armv7 arm_cortex-a7_neon-vfpv4" \
	"linux-arm64 aarch64_generic" "linux-amd64 x86_64"; do
	read -r name arch <<<"$t"
	"$root/packaging/openwrt/build-ipk.sh" "$(bin "$name")" "$version" "$arch" "$out/openwrt" >/dev/null
	"$root/packaging/openwrt/build-apk.sh" "$(bin "$name")" "$version" "$arch" "$out/openwrt" >/dev/null
done
(cd "$out" && find . -type f \( -name '*.deb' -o -name '*.ipk' -o -name '*.apk' \) | sort | xargs sha256sum >SHA256SUMS)

printf '| package | bytes |\n|---|---|\n'
(cd "$out" && find . -type f ! -name SHA256SUMS | sort | while read -r f; do
	printf '| %s | %s |\n' "${f#./}" "$(stat -c %s "$f")"
done)
