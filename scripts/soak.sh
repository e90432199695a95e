#!/usr/bin/env bash
# soak.sh: the daemon's memory over time, a connected pair in the NAT lab
# (one peer each, port-restricted cone on both sides, log level info, path
# checks on, no ping address). Each daemon is sampled every SOAK_EVERY s
# for SOAK_S s (lib-soak.sh): VmRSS, Go heap in use, allocations and CPU
# per minute. Run as root; bench.sh runs it.
#
#   scripts/soak.sh [WGSTUN_BINARY]   SOAK_S=600 SOAK_EVERY=30 by default;
#                                     MEMORY_LIMIT (a size or "off") and
#                                     GC_PERCENT set daemon.memory_limit and
#                                     daemon.gc_percent; default: unset
#
# Exits 1 when a sample of either daemon is over rss_budget_kb.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=$(realpath "${1:-$root/bin/wgstun}")
soak_s=${SOAK_S:-600}
soak_every=${SOAK_EVERY:-30}
rss_budget_kb=5120 # 1 peer, at every sample (issue 16)
[[ $soak_s =~ ^[1-9][0-9]*$ && $soak_every =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: SOAK_S and SOAK_EVERY must be positive numbers" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "soak.sh: run as root" >&2; exit 1; }
[ -x "$bin" ] || { echo "soak.sh: no wgstun binary at $bin (make build)" >&2; exit 1; }

# shellcheck source=scripts/pair.sh
. "$here/pair.sh"
# shellcheck source=scripts/lib-soak.sh
. "$here/lib-soak.sh"
trap pair_down EXIT
trap 'exit 130' INT TERM

pair_up "sk$$" port-restricted-cone port-restricted-cone >/dev/null 2>&1
for side in a b; do
	[[ -z ${MEMORY_LIMIT:-} ]] || sed -i "s/^\\[daemon\\]$/&\\nmemory_limit = \"$MEMORY_LIMIT\"/" "$LAB_DIR/$side.toml"
	[[ -z ${GC_PERCENT:-} ]] || sed -i "s/^\\[daemon\\]$/&\\ngc_percent = $GC_PERCENT/" "$LAB_DIR/$side.toml"
done
pair_start
pair_measure 30 || { echo "soak.sh: the pair did not connect within 30 s" >&2; exit 1; }

echo "## Memory: a connected pair in the lab, one peer each, sampled every $soak_every s for $soak_s s"
echo
echo "daemon.gc_percent: ${GC_PERCENT:-the default}, daemon.memory_limit: ${MEMORY_LIMIT:-the default}. The two daemons are sampled at the same times."
echo
over=0
tables=()
# pair_start's pids are the daemons' own: ip netns exec execs them.
declare -A pids=([a]=$pid_a [b]=$pid_b)
for side in a b; do
	pid=${pids[$side]}
	soak_table "$bin" "$pid" "$LAB_DIR/$side.sock" "$soak_s" "$soak_every" >"$LAB_DIR/soak-$side.md" &
	tables+=("$!")
done
for p in "${tables[@]}"; do wait "$p"; done
for side in a b; do
	pid=${pids[$side]}
	echo "Daemon $side:"
	echo
	cat "$LAB_DIR/soak-$side.md"
	echo
	max=$(awk -F'|' 'NR > 2 && $3 + 0 > m {m = $3 + 0} END {print m + 0}' "$LAB_DIR/soak-$side.md")
	samples=$(awk -F'|' 'NR > 2 && $3 ~ /[0-9]/' "$LAB_DIR/soak-$side.md" | wc -l)
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo -)
	verdict=within
	if ((samples < soak_s / soak_every || max > rss_budget_kb)); then
		verdict=OVER over=1
	fi
	echo "Daemon $side: highest VmRSS sampled $max KiB over $samples samples (VmHWM $hwm KiB); target at most $rss_budget_kb KiB at every sample: $verdict."
	echo
done
exit "$over"
