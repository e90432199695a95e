#!/usr/bin/env bash
# recovery.sh: how fast wgstun brings a broken tunnel back, as a table. Run
# as root. A benchmark, not a test: nothing here passes or fails.
#
#   scripts/recovery.sh [WGSTUN_BINARY]     (built from ./src/cmd/wgstun when not given)
#
# For each fault (flush nat a's conntrack; readdress nat a's WAN; restart
# nat a with WireGuard mapped to a new port), on a fresh lab with
# port-restricted cone NATs on both sides, the time from the fault to the
# first ping from a answered through the tunnel, in two modes:
#   ping       both daemons ping the peer's tunnel address every second
#              (RUNS runs, default 5)
#   checks     no ping configured: path checks (on by default) find the
#              idle path dead (RUNS runs)
#   handshake  no ping and path_checks = false: WireGuard's handshakes
#              alone tell the daemon the tunnel is down, which takes
#              minutes (HS_RUNS runs, default 3; limit HS_LIMIT s, default 240)
# The three faults' labs run at the same time, each fault's runs one after
# another. Set MODES="ping checks" to skip the slow mode.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=${RUNS:-5}
hs_runs=${HS_RUNS:-3}
ping_limit=${PING_LIMIT:-60}
hs_limit=${HS_LIMIT:-240}
modes=${MODES:-ping checks handshake}
faults=(flush readdress newport)

[[ $(id -u) -eq 0 ]] || {
	echo "recovery.sh: run as root" >&2
	exit 1
}
for n in "$runs" "$hs_runs" "$ping_limit" "$hs_limit"; do
	[[ $n =~ ^[1-9][0-9]?[0-9]?$ ]] || {
		echo "recovery.sh: RUNS, HS_RUNS, PING_LIMIT and HS_LIMIT must be 1-999" >&2
		exit 2
	}
done
((runs <= 99 && hs_runs <= 99)) || {
	echo "recovery.sh: at most 99 runs" >&2
	exit 2
}

work=$(mktemp -d /tmp/wgstun-recovery.XXXXXX)
jobs_started=()

# cleanup: stop the series still running (their own children finish within
# a few seconds), then take down every lab any of them brought up.
cleanup() {
	local pid p
	for pid in "${jobs_started[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${jobs_started[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ -f $work/prefixes ]]; then
		while read -r p; do
			bash "$here/lab/lab.sh" down "$p" >/dev/null 2>&1 || true
		done <"$work/prefixes"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if (($# > 0)); then
	fl_bin=$(realpath "$1")
else
	(cd "$root" && go build -o "$work/wgstun" ./src/cmd/wgstun)
	fl_bin=$work/wgstun
fi
[[ -x $fl_bin ]] || {
	echo "recovery.sh: $fl_bin is not an executable" >&2
	exit 2
}
fl_lab=$here/lab/lab.sh
# shellcheck source=scripts/lib-faults.sh
. "$here/lib-faults.sh"

# series FAULT MODE RUNS LIMIT: RUNS measurements one after another, each
# result a line in $work/FAULT-MODE.
series() {
	local fault=$1 mode=$2 n=$3 limit=$4 i p
	# Stopped by cleanup: bash runs this after the current command ends,
	# so a lab being brought up is complete before it is taken down.
	trap 'exit 0' TERM
	for ((i = 1; i <= n; i++)); do
		p=r${fault:0:1}${mode:0:1}$i$(($$ % 1000))
		echo "$p" >>"$work/prefixes"
		fl_run "$p" "$fault" "$mode" "$limit" >>"$work/$fault-$mode"
	done
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }

secs() { # ms -> seconds with two decimals, "-" stays
	if [[ $1 == - ]]; then echo -; else awk -v ms="$1" 'BEGIN {printf "%.2f s", ms/1000}'; fi
}

for mode in $modes; do
	case $mode in
	ping | checks) n=$runs limit=$ping_limit ;;
	handshake) n=$hs_runs limit=$hs_limit ;;
	*)
		echo "recovery.sh: unknown mode '$mode' (want ping, checks, handshake)" >&2
		exit 2
		;;
	esac
	echo "recovery.sh: mode $mode, $n runs of ${faults[*]} (up to $limit s each) ..." >&2
	jobs_started=()
	for fault in "${faults[@]}"; do
		: >"$work/$fault-$mode"
		series "$fault" "$mode" "$n" "$limit" &
		jobs_started+=($!)
	done
	for pid in "${jobs_started[@]}"; do
		wait "$pid" || true
	done
	jobs_started=()
done

echo "## Recovery (time from the fault to the first ping through the tunnel; port-restricted cone NATs)"
echo
echo "| fault | mode | runs | median | max |"
echo "|---|---|---|---|---|"
for mode in $modes; do
	for fault in "${faults[@]}"; do
		f=$work/$fault-$mode
		ok=$(grep -cE '^[0-9]+$' "$f" || true)
		all=$(wc -l <"$f")
		med=$(grep -E '^[0-9]+$' "$f" | median)
		mx=$(grep -E '^[0-9]+$' "$f" | sort -n | tail -n 1)
		note=""
		if ((ok < all)); then
			note=" ($((all - ok)) failed: $(grep -vE '^[0-9]+$' "$f" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}'))"
		fi
		case $fault in
		flush) name="conntrack flush on nat a" ;;
		readdress) name="WAN readdress of nat a" ;;
		newport) name="nat a restart, new port" ;;
		esac
		printf '| %s | %s | %s%s | %s | %s |\n' "$name" "$mode" "$ok" "$note" "$(secs "$med")" "$(secs "${mx:--}")"
	done
done
