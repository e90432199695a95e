#!/usr/bin/env bash
# dist.sh: the release matrix. Builds every target into dist/, stripped
# and reproducible, writes SHA256SUMS, and checks the router size budget.
#
#   scripts/dist.sh [OUTDIR]        (default dist)
#   VERSION=v1.2.3 SOURCE_DATE_EPOCH=... FREEBSD_CC=... scripts/dist.sh
#
# Reproducible: -trimpath, an empty build ID, no VCS stamping, the version
# from VERSION (default: git describe), file times set to SOURCE_DATE_EPOCH
# (default: the last commit's time). FreeBSD is built with cgo (wgctrl needs
# it there) only when FREEBSD_CC names a FreeBSD C cross compiler; otherwise
# the FreeBSD entries are cgo-off builds and the script says so, since such
# a binary cannot reach WireGuard on FreeBSD (the port builds natively).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$root/dist}
# shellcheck source=scripts/size-budget.sh
. "$here/size-budget.sh"
# shellcheck source=scripts/builds.sh
. "$here/builds.sh"

version=${VERSION:-$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)}
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH=$epoch

# name GOOS GOARCH build extra-env... (build: router or full, see builds.sh).
# Linux has both where routers and servers share an architecture; the
# -full binaries feed the Debian and VyOS packages.
targets=(
	"linux-mipsle linux mipsle router GOMIPS=softfloat"
	"linux-mips linux mips router GOMIPS=softfloat"
	"linux-armv7 linux arm router GOARM=7"
	"linux-armv5 linux arm router GOARM=5"
	"linux-arm64 linux arm64 router"
	"linux-amd64 linux amd64 router"
	"linux-armv7-full linux arm full GOARM=7"
	"linux-arm64-full linux arm64 full"
	"linux-amd64-full linux amd64 full"
	"darwin-amd64 darwin amd64 full"
	"darwin-arm64 darwin arm64 full"
	"freebsd-amd64 freebsd amd64 full"
	"freebsd-arm64 freebsd arm64 full"
)

rm -rf "$out"
mkdir -p "$out"
for t in "${targets[@]}"; do
	read -r name goos goarch build extra <<<"$t"
	tags=$router_tags gcflags=$router_gcflags
	[[ $build == full ]] && tags=$full_tags gcflags=""
	cgo=0 cc=""
	if [[ $goos == freebsd ]]; then
		if [[ -n ${FREEBSD_CC:-} && $goarch == amd64 ]]; then
			cgo=1 cc=$FREEBSD_CC
		else
			echo "dist: $name built with cgo off (no FREEBSD_CC for $goarch): it cannot reach WireGuard; FreeBSD users build the port" >&2
		fi
	fi
	echo "dist: $name" >&2
	# shellcheck disable=SC2086 # extra and gcflags are lists of words
	(cd "$root" && env GOOS="$goos" GOARCH="$goarch" CGO_ENABLED=$cgo ${cc:+CC="$cc"} $extra \
		go build -trimpath -buildvcs=false ${tags:+-tags "$tags"} $gcflags \
		-ldflags "-s -w -buildid= -X main.version=$version" \
		-o "$out/wgstun-$version-$name" ./src/cmd/wgstun)
	touch -d "@$epoch" "$out/wgstun-$version-$name"
done
(cd "$out" && sha256sum wgstun-* >SHA256SUMS && touch -d "@$epoch" SHA256SUMS)

mips=$(stat -c %s "$out/wgstun-$version-linux-mipsle")
printf '\n| binary | build | bytes |\n|---|---|---|\n'
for t in "${targets[@]}"; do
	read -r name _ _ build _ <<<"$t"
	printf '| %s | %s | %s |\n' "wgstun-$version-$name" "$build" "$(stat -c %s "$out/wgstun-$version-$name")"
done
echo
if ((mips > size_budget)); then
	echo "dist: linux/mipsle is $mips bytes, OVER the budget of $size_budget bytes (scripts/size-budget.sh)" >&2
	exit 3
fi
echo "dist: linux/mipsle is $mips bytes, within the budget of $size_budget bytes"
