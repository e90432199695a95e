#!/usr/bin/env bash
# memprofile.sh: where the daemon allocates in steady state. Builds wgstun
# with -tags memprof (src/cmd/wgstun/memprof.go), runs a connected pair in
# the NAT lab for SECONDS (default 300), has daemon a write its allocation
# profile (every allocation since start) and prints the top allocation
# sites by objects and by bytes. Run as root; nothing is kept.
#
#   scripts/memprofile.sh [SECONDS]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
secs=${1:-300}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "memprofile.sh: SECONDS must be a positive number" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "memprofile.sh: run as root" >&2; exit 1; }

tmp=$(mktemp -d /tmp/wgstun-memprof.XXXXXX)
bin=$tmp/wgstun
(cd "$root" && go build -tags memprof -o "$bin" ./src/cmd/wgstun)
# shellcheck source=scripts/pair.sh
. "$here/pair.sh"
trap 'pair_down; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

pair_up "mp$$" port-restricted-cone port-restricted-cone >/dev/null 2>&1
export WGSTUN_MEMPROF=$tmp/a.heap
pair_start
pair_measure 30 || { echo "memprofile.sh: the pair did not connect within 30 s" >&2; exit 1; }
echo "connected; profiling daemon a for $secs s" >&2
sleep "$secs"
kill -USR2 "$pid_a"
for ((i = 0; i < 50; i++)); do
	[[ -s $WGSTUN_MEMPROF ]] && break
	sleep 0.1
done
[[ -s $WGSTUN_MEMPROF ]] || { echo "memprofile.sh: no profile written" >&2; exit 1; }
sleep 0.5 # the file is written in one go, but give the close a moment
echo "## Allocations of daemon a over $secs s connected (plus the connect), by objects"
echo
go tool pprof -sample_index=alloc_objects -top -nodecount=30 "$bin" "$WGSTUN_MEMPROF" 2>/dev/null | sed 's/^/    /'
echo
echo "## The same, by bytes"
echo
go tool pprof -sample_index=alloc_space -top -nodecount=30 "$bin" "$WGSTUN_MEMPROF" 2>/dev/null | sed 's/^/    /'
