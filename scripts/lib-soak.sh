# shellcheck shell=bash disable=SC2034 # soak_* are read by the scripts that source this
# lib-soak.sh: memory of a running daemon over time, for bench.sh (a
# connected pair in the NAT lab) and scale.sh (N peers). Sourced.
#
#   soak_table BIN PID SOCKET SECONDS EVERY
#
# samples every EVERY seconds, for SECONDS in all, the daemon's VmRSS (from
# /proc) and what its Go runtime reports through `wgstun status --json`
# (heap in use, allocations since start), and prints one markdown row per
# sample: t (s since the first sample), VmRSS (KiB) and the anonymous part
# of it (RssAnon: what the daemon allocated; the rest is the binary's own
# pages, shared and reclaimable), heap in use (KiB),
# allocations per minute and CPU seconds per minute (utime+stime) since
# the sample before, so the cost of a tighter memory limit shows. Sets soak_max_rss (KiB)
# and soak_samples. Bounded: SECONDS/EVERY + 1 samples, each status call
# under a 5 s timeout; a daemon that exits ends the table early and sets
# soak_died=1.

soak_row() { # t rss anon heap rate cpu
	printf '| %s | %s | %s | %s | %s | %s |\n' "$@"
}

# soak_ticks PID: utime+stime of PID in clock ticks.
soak_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }

# soak_read BIN SOCKET: prints "heap_inuse allocs" from the daemon's status.
soak_read() {
	timeout 5 "$1" status -s "$2" -json 2>/dev/null | awk '
		/"heap_inuse":/ {gsub(/[^0-9]/, "", $2); h = $2}
		/"allocs":/ {gsub(/[^0-9]/, "", $2); a = $2}
		END {if (h == "" || a == "") exit 1; print h, a}'
}

soak_table() {
	local bin=$1 pid=$2 sock=$3 secs=$4 every=$5 n i t0 t rss anon mem heap allocs rate
	local prev_t='' prev_a='' ticks cpu prev_ticks='' prev_ct='' hz
	hz=$(getconf CLK_TCK)
	soak_max_rss=0 soak_samples=0 soak_died=0
	n=$((secs / every))
	echo "| t (s) | VmRSS (KiB) | of it anonymous (KiB) | heap in use (KiB) | allocations / min | CPU s / min |"
	echo "|---|---|---|---|---|---|"
	t0=$(date +%s)
	for ((i = 0; i <= n; i++)); do
		# Sleep to the sample's slot, so slow status calls do not drift it.
		t=$(date +%s)
		((t - t0 >= i * every)) || sleep $((t0 + i * every - t))
		if ! kill -0 "$pid" 2>/dev/null; then
			soak_died=1
			break
		fi
		t=$(($(date +%s) - t0))
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || rss=''
		anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || anon=''
		mem=$(soak_read "$bin" "$sock") || mem=''
		heap=- allocs='' rate=-
		if [[ -n $mem ]]; then
			read -r heap allocs <<<"$mem"
			heap=$(((heap + 1023) / 1024))
			if [[ -n $prev_a ]] && ((t > prev_t)); then
				rate=$(((allocs - prev_a) * 60 / (t - prev_t)))
			fi
			prev_t=$t prev_a=$allocs
		fi
		cpu=- ticks=$(soak_ticks "$pid") || ticks=''
		if [[ -n $ticks ]]; then
			if [[ -n $prev_ticks ]] && ((t > prev_ct)); then
				cpu=$(awk -v d="$((ticks - prev_ticks))" -v hz="$hz" -v s="$((t - prev_ct))" 'BEGIN {printf "%.2f", d / hz * 60 / s}')
			fi
			prev_ticks=$ticks prev_ct=$t
		fi
		soak_row "$t" "${rss:--}" "${anon:--}" "$heap" "$rate" "$cpu"
		if [[ -n $rss ]]; then
			((rss <= soak_max_rss)) || soak_max_rss=$rss
			soak_samples=$((soak_samples + 1))
		fi
	done
}
