#!/usr/bin/env bash
# size-floor.sh: how much of the linux/mipsle router binary is set by the
# dependencies wgstun's design fixes, and how much is wgstun's own. Builds
# the probe programs in src/internal/tools/sizefloor (each links one more
# fixed dependency than the last) and wgstun itself, stripped, reproducible
# and with the router build's gcflags (scripts/builds.sh), as scripts/dist.sh
# builds the router binary, and prints them as a table beside the budget
# from scripts/size-budget.sh.
#
#   scripts/size-floor.sh [GOARCH]    (default mipsle; GOMIPS=softfloat)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/size-budget.sh
. "$here/size-budget.sh"
# shellcheck source=scripts/builds.sh
. "$here/builds.sh"
arch=${1:-mipsle}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

size() { # pkg
	local out
	out=$tmp/$(basename "$1")
	# shellcheck disable=SC2086 # router_gcflags is a list of flags
	(cd "$root" && env GOOS=linux GOARCH="$arch" GOMIPS=softfloat GOARM=7 CGO_ENABLED=0 \
		go build -trimpath -buildvcs=false $router_gcflags -ldflags '-s -w -buildid=' -o "$out" "$1")
	stat -c %s "$out"
}

mib() { awk -v n="$1" 'BEGIN {printf "%.2f", n/1048576}'; }

echo "## linux/$arch stripped size: the dependency floor and wgstun"
echo
printf '| program | links | bytes | MiB | added |\n|---|---|---|---|---|\n'
prev=0
row() { # name what bytes
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$(mib "$3")" "$(($3 - prev))"
	prev=$3
}
row hello "runtime, os" "$(size ./src/internal/tools/sizefloor/hello)"
row fmt "+ fmt, reflect" "$(size ./src/internal/tools/sizefloor/fmt)"
row net "+ net and its resolver" "$(size ./src/internal/tools/sizefloor/net)"
row wgctrl "+ wgctrl (netlink, UAPI, crypto/ecdh)" "$(size ./src/internal/tools/sizefloor/wgctrl)"
floor=$(size ./src/internal/tools/sizefloor/deps)
row deps "+ toml, x/net/bpf, x/sys/unix, nacl/box, os/exec" "$floor"
own=$(size ./src/cmd/wgstun)
row wgstun "+ wgstun's own code" "$own"
echo
echo "Budget (scripts/size-budget.sh): $size_budget bytes ($(mib "$size_budget") MiB)."
echo "The fixed dependencies alone take $floor bytes: $((floor * 100 / size_budget))% of the budget;"
echo "wgstun's own code and the standard library it adds take $((own - floor)) bytes."
echo "Sizes move in steps of 64 KiB, the alignment of the binary's segments."
