#!/usr/bin/env bash
# bench.sh: wgstun's speed, size and memory, as tables. Run as root.
#
#   scripts/bench.sh [WGSTUN_BINARY]     (RUNS=5 connect runs by default)
#
# 1. connect: median over RUNS lab runs (both NATs port-restricted cone) of
#    the time from starting both daemons to each endpoint being set and to
#    the first ping answered through the tunnel.
# 2. size: stripped (-s -w) binaries for the router targets, and what
#    linking pion/stun would add.
# 3. memory: each daemon of a connected lab pair sampled every SOAK_EVERY
#    (30) s for SOAK_S (600) s: VmRSS, Go heap in use, allocations a
#    minute (soak.sh); RSS must stay within its rss_budget_kb at every
#    sample.
# 1b. same-NAT connect: the same, with a and b behind one NAT (lab.sh's
#    "same"), which path checks connect over the LAN.
# 4. recovery (recovery.sh): median time from a fault to a working tunnel,
#    with the ping watch, with path checks and no ping address, and with
#    the handshake watch alone.
# 5. scale (scale.sh): one interface with up to 500 peers: refresh cycle,
#    RSS and CPU per peer count, then the same soak at 50 and 500 peers.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=$(realpath "${1:-$root/bin/wgstun}")
runs=${RUNS:-5}
# shellcheck source=scripts/size-budget.sh
. "$here/size-budget.sh"
soak_s=${SOAK_S:-600}
soak_every=${SOAK_EVERY:-30}

[ "$(id -u)" -eq 0 ] || { echo "bench.sh: run as root" >&2; exit 1; }
# shellcheck source=scripts/pair.sh
. "$here/pair.sh"
trap pair_down EXIT INT TERM

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }

# connect_table PREFIX NAT_A NAT_B EXTRA: RUNS lab runs, a row each (times in
# ms after both daemons start, and with EXTRA=1 the endpoint a uses), then
# the medians.
connect_table() {
	local p=$1 nat_a=$2 nat_b=$3 extra=$4 i uses="" ma mb mp
	if ((extra)); then
		printf '| run | endpoint set on a | endpoint set on b | first ping through the tunnel | a uses |\n|---|---|---|---|---|\n'
	else
		printf '| run | endpoint set on a | endpoint set on b | first ping through the tunnel |\n|---|---|---|---|\n'
	fi
	: >/tmp/wgstun-bench-$$.txt
	for i in $(seq 1 "$runs"); do
		pair_up "$p" "$nat_a" "$nat_b" >/dev/null 2>&1
		pair_start
		pair_measure 30 || true
		((extra)) && uses=" $(endpoint_of "$NS_A" "$WG_A_IF") |"
		printf '| %s | %s | %s | %s |%s\n' "$i" "${t_set_a:--}" "${t_set_b:--}" "${t_ping:-none in 30 s}" "$uses"
		echo "$t_set_a $t_set_b ${t_ping:-}" >>/tmp/wgstun-bench-$$.txt
		pair_down
	done
	ma=$(awk '{print $1}' /tmp/wgstun-bench-$$.txt | median)
	mb=$(awk '{print $2}' /tmp/wgstun-bench-$$.txt | median)
	mp=$(awk 'NF==3 {print $3}' /tmp/wgstun-bench-$$.txt | median)
	rm -f /tmp/wgstun-bench-$$.txt
	((extra)) && uses=" |"
	printf '| **median** | **%s** | **%s** | **%s** |%s\n\n' "$ma" "$mb" "$mp" "$uses"
}

echo "## Connect time (ms after both daemons start; port-restricted cone on both sides)"
echo
connect_table "bn$$" port-restricted-cone port-restricted-cone 0
echo "Target: endpoints set within 1 s, first ping within 0.5 s. WireGuard starts at most one"
echo "handshake per 5 s per peer, counting the attempt its keepalive made before any endpoint"
echo "was known; wgstun re-creates such a peer with its endpoint (fast_handshake), which clears"
echo "that throttle."
echo

echo "## Same-NAT connect time (ms after both daemons start; a and b behind one port-restricted cone NAT that does not hairpin)"
echo
connect_table "bs$$" port-restricted-cone same 1
echo "Target: first ping within 1 s over the LAN (path checks find b's LAN candidate; the"
echo "STUN mappings do not work between two hosts behind one NAT without hairpinning)."
echo

echo "## Binary size (the router build: -trimpath -ldflags '-s -w', builds.sh's router_gcflags)"
echo
printf '| target | bytes | MiB |\n|---|---|---|\n'
tmp=$(mktemp -d)
# shellcheck source=scripts/builds.sh
. "$here/builds.sh"
build() { # name env... (the router build: builds.sh's router_gcflags)
	local out=$tmp/$1
	shift
	# shellcheck disable=SC2086 # router_gcflags is a list of flags
	(cd "$root" && env CGO_ENABLED=0 "$@" go build -trimpath $router_gcflags -ldflags '-s -w -buildid=' -o "$out" ./src/cmd/wgstun)
	stat -c %s "$out"
}
for t in "linux/mipsle GOOS=linux GOARCH=mipsle GOMIPS=softfloat" "linux/arm GOOS=linux GOARCH=arm GOARM=7" \
	"linux/arm64 GOOS=linux GOARCH=arm64" "linux/amd64 GOOS=linux GOARCH=amd64"; do
	read -r name envs <<<"$t"
	# shellcheck disable=SC2086
	n=$(build "${name//\//-}" $envs)
	printf '| %s | %s | %s |\n' "$name" "$n" "$(awk -v n="$n" 'BEGIN {printf "%.2f", n/1048576}')"
	[ "$name" = linux/mipsle ] && mips=$n
done
# The overlay adds src/internal/tools/pionsize/pionsize.go.txt to the main
# package as src/cmd/wgstun/pionsize.go: one file that imports pion/stun.
pion=$(build mipsle-pion GOOS=linux GOARCH=mipsle GOMIPS=softfloat \
	GOFLAGS=-overlay=src/internal/tools/pionsize/overlay.json)
printf '| linux/mipsle with pion/stun linked | %s | %s (+%s bytes, +%s%%) |\n\n' "$pion" \
	"$(awk -v n="$pion" 'BEGIN {printf "%.2f", n/1048576}')" "$((pion - mips))" \
	"$(awk -v a="$pion" -v b="$mips" 'BEGIN {printf "%.0f", (a-b)*100/b}')"
rm -rf "$tmp"
echo "Budget: linux/mipsle at most $size_budget bytes: $([ "$mips" -le "$size_budget" ] && echo within || echo OVER)."
echo
bash "$here/size-floor.sh"
echo

# Memory over time (soak.sh brings up its own pair and prints its tables).
SOAK_S=$soak_s SOAK_EVERY=$soak_every bash "$here/soak.sh" "$bin" || true
echo

# Recovery from faults (issue: health and recovery) and scale with many
# peers; each script prints its own table and cleans up after itself.
bash "$here/recovery.sh" "$bin"
echo
SOAK_S=$soak_s SOAK_EVERY=$soak_every bash "$here/scale.sh" "$bin"
