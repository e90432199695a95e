#!/usr/bin/env bash
# scale.sh: how wgstun's time and memory grow with the number of peers on
# one WireGuard interface, as a markdown table. Run as root.
#
#   scripts/scale.sh [WGSTUN_BINARY]   COUNTS="50 100 250 500" by default;
#                                      QUICK=1 for COUNTS="20 50";
#                                      SCALE_LOG_LEVEL=debug|info (default
#                                      debug, where the daemon logs
#                                      "refresh done": a few lines per
#                                      refresh, none per peer) is its level;
#                                      KEEP=1 keeps the logs and the store
#
# For each peer count N it builds, in two network namespaces of its own
# (nothing routes out of them; everything is torn down on exit):
#   host  wireguard-go with N peers (random keys from
#         src/internal/tools/scalegen, allowed-ips 10.200.x.y/32,
#         persistent-keepalive 25, no endpoint),
#         and wgstun with a file store and refresh = "10s" (the minimum)
#   srv   coturn, STUN only, on 198.51.100.1:3478, joined to host by a veth;
#         it also swallows WireGuard's packets to the fake peer endpoints
#         (203.0.113.0/24 is routed to it and it does not forward)
# The store is filled beforehand with the record each fake peer would have
# sealed for the host (one distinct endpoint per peer, current timestamp).
#
# Columns:
#   first cycle    ms from starting the daemon until `wg show IFACE endpoints`
#                  shows every peer's endpoint from its record (polled every
#                  100 ms; the time is taken just before the check that saw
#                  them all): process start, STUN discovery, N records sealed
#                  and written, N read, opened and set
#   refresh        median `took` of the daemon's msg="refresh done" log lines
#                  of its first three periodic refreshes (the startup cycle's
#                  line is left out), when the daemon logs them at
#                  SCALE_LOG_LEVEL
#   republish span ms from the first to the last write of the N records the
#                  daemon rewrites in one refresh round (store file mtimes);
#                  it leaves out the STUN round trip before the round
#   RSS, HWM       VmRSS and VmHWM of the daemon at the end of the CPU window
#                  (the daemon has run at least 30 s and refreshed >= 3 times)
#   CPU            utime+stime the daemon used in a fixed 30 s window of
#                  steady state (refreshes every 10 s, no changes)
#
# SOAK_S=600 (default 0: none) then keeps the daemon of each count in
# SOAK_COUNTS (default "50 500") running that long after the CPU window and
# samples its memory every SOAK_EVERY (30) s (lib-soak.sh): a table per
# count, each sample's VmRSS held to soak_budget_kb for that count.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib-soak.sh
. "$here/lib-soak.sh"
if [[ ${QUICK:-0} == 1 ]]; then
	counts=${COUNTS:-20 50}
else
	counts=${COUNTS:-50 100 250 500}
fi
refresh_s=10
log_level=${SCALE_LOG_LEVEL:-debug}
window_s=30
rss_budget_kb=16384 # at 500 peers
soak_s=${SOAK_S:-0}
soak_every=${SOAK_EVERY:-30}
soak_counts=${SOAK_COUNTS:-50 500}
# soak_budget_kb N: the most VmRSS any soak sample at N peers may show
# (issue 16: 8 MiB at 50 peers); other counts are reported, not judged.
soak_budget_kb() { case $1 in 50) echo 8192 ;; *) echo '' ;; esac; }
wg_port=51820
srv_addr=198.51.100.1
host_addr=198.51.100.10
stun_port=3478
sockdir=/var/run/wireguard

[[ $(id -u) -eq 0 ]] || { echo "scale.sh: run as root" >&2; exit 1; }
for t in ip wg wireguard-go turnserver turnutils_stunclient go; do
	command -v "$t" >/dev/null || { echo "scale.sh: $t is missing; run scripts/deps.sh" >&2; exit 1; }
done
if ! [[ $log_level =~ ^(debug|info|warn|error)$ ]]; then
	echo "scale.sh: bad SCALE_LOG_LEVEL '$log_level': want debug, info, warn or error" >&2
	exit 1
fi
for n in $counts; do
	if ! [[ $n =~ ^[1-9][0-9]*$ ]] || ((n > 45000)); then
		echo "scale.sh: bad peer count '$n' in COUNTS: want 1 to 45000" >&2
		exit 1
	fi
done

id=$$
ns_host=wgscale-$id-host
ns_srv=wgscale-$id-srv
tmp=$(mktemp -d /tmp/wgstun-scale.XXXXXX)
daemon_pid='' wggo_pid='' turn_pid='' ifname=''

log() { printf 'scale: %s\n' "$*" >&2; }
die() { printf 'scale: error: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }

# stop_pid PID: TERM, wait at most 3 s, then KILL, wait at most 1 s.
stop_pid() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 40; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		((i != 30)) || kill -KILL "$pid" 2>/dev/null || true
		sleep 0.1
	done
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	set +e
	stop_pid "$daemon_pid"
	stop_pid "$wggo_pid"
	stop_pid "$turn_pid"
	[[ -n $ifname ]] && rm -f "$sockdir/$ifname.sock"
	ip netns del "$ns_host" 2>/dev/null
	ip netns del "$ns_srv" 2>/dev/null
	if [[ ${KEEP:-0} == 1 ]]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for TRIES INTERVAL CMD...: run CMD until it succeeds, at most TRIES times.
wait_for() {
	local tries=$1 interval=$2 i
	shift 2
	for ((i = 0; i < tries; i++)); do
		"$@" && return 0
		sleep "$interval"
	done
	return 1
}

stun_answers() {
	local out
	out=$(ip netns exec "$ns_host" timeout 0.3 turnutils_stunclient -p "$stun_port" "$srv_addr" 2>&1) || true
	[[ $out == *"reflexive addr"* ]]
}

# dur_ms: Go durations (812.5ms, 1.2s, 1m3s, 950µs) on stdin, one a line,
# to milliseconds.
dur_ms() {
	awk '{
		s = $0; t = 0
		while (s != "") {
			if (!match(s, /^[0-9.]+/)) { t = -1; break }
			v = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
			if (match(s, /^ms/)) t += v
			else if (match(s, /^ns/)) t += v / 1e6
			else if (match(s, /^(us|µs|μs)/)) t += v / 1e3
			else if (match(s, /^s/)) t += v * 1e3
			else if (match(s, /^m/)) t += v * 6e4
			else if (match(s, /^h/)) t += v * 3.6e6
			else { t = -1; break }
			s = substr(s, RLENGTH + 1)
		}
		if (t >= 0) printf "%.1f\n", t
	}'
}

# refresh_lines LOG AFTER_MS: the took= values of the msg="refresh done"
# lines logged at or after AFTER_MS (unix milliseconds), in order.
refresh_lines() {
	local ts took line
	{ grep 'msg="refresh done"' "$1" || true; } | while read -r line; do
		ts=$(grep -o '^time=[^ ]*' <<<"$line" | sed 's/^time=//')
		took=$(grep -o 'took=[^ ]*' <<<"$line" | sed 's/^took=//; s/"//g')
		[[ -n $ts && -n $took ]] || continue
		ts=$(date -d "$ts" +%s%3N 2>/dev/null) || continue
		((ts < $2)) || printf '%s\n' "$took"
	done | dur_ms
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# mtimes STORE KEYFILE: "NAME MTIME" of each listed key's file that exists.
mtimes() {
	(cd "$1" && xargs stat -c '%n %.9Y' <"$2" 2>/dev/null) || true
}

# round_span N AFTER FILE: FILE holds "NAME MTIME" samples. Writes are
# grouped into rounds (a gap of more than refresh/2 s starts a new one); the
# first round that began at or after AFTER (unix seconds) and wrote all N
# names is printed as its first-to-last write span in ms. Nothing if none.
round_span() {
	sort -n -k2,2 "$3" | awk -v n="$1" -v after="$2" -v gap="$((refresh_s / 2))" '
		function flush() {
			if (!done && cnt == n && lo >= after) { printf "%.0f\n", (hi - lo) * 1000; done = 1 }
		}
		NR == 1 || $2 - hi > gap { if (NR > 1) flush(); lo = $2; cnt = 0; split("", seen) }
		{ hi = $2; if (!($1 in seen)) { seen[$1] = 1; cnt++ } }
		END { flush() }'
}

set_endpoints() { ip netns exec "$ns_host" wg show "$ifname" endpoints | awk '$2 != "(none)"' | wc -l; }

# --- build ---------------------------------------------------------------
if [[ -n ${1:-} ]]; then
	bin=$(realpath "$1")
else
	bin=$tmp/wgstun
	(cd "$root" && go build -o "$bin" ./src/cmd/wgstun) || die "build of the daemon failed"
fi
(cd "$root" && go build -o "$tmp/scalegen" ./src/internal/tools/scalegen) || die "build of scalegen failed"

# --- namespaces and coturn -----------------------------------------------
ip netns add "$ns_host"
ip netns add "$ns_srv"
ip -n "$ns_host" link set lo up
ip -n "$ns_srv" link set lo up
ip -n "$ns_host" link add eth0 type veth peer name eth0 netns "$ns_srv"
ip -n "$ns_host" addr add "$host_addr/24" dev eth0
ip -n "$ns_srv" addr add "$srv_addr/24" dev eth0
ip -n "$ns_host" link set eth0 up
ip -n "$ns_srv" link set eth0 up
# The fake peer endpoints lead to srv, which drops them (no forwarding).
ip -n "$ns_host" route add 203.0.113.0/24 via "$srv_addr" dev eth0
ip netns exec "$ns_srv" sysctl -qw net.ipv4.ip_forward=0

ip netns exec "$ns_srv" turnserver -n --stun-only --no-cli --no-tls --no-dtls \
	--listening-ip "$srv_addr" --listening-port "$stun_port" --relay-threads 1 \
	--log-file "$tmp/turnserver.log" --simple-log --pidfile "$tmp/turnserver.self.pid" \
	--db "$tmp/turndb" </dev/null >>"$tmp/turnserver.out" 2>&1 &
turn_pid=$!
wait_for 100 0.1 stun_answers || die "coturn did not answer on $srv_addr:$stun_port; see $tmp/turnserver.log"

# --- one peer count --------------------------------------------------------
# measure N K: sets row to the table row for N peers (K numbers the run).
measure() {
	local n=$1 k=$2 dir cfg dlog t0 t_check t_first first got wrong i new span
	local c0 c1 cpu rss hwm lines refresh tick
	dir=$tmp/n$n
	mkdir -p "$dir"
	ifname=wsc${id}n$k
	[[ ! -e /sys/class/net/$ifname ]] || die "interface $ifname exists in the host namespace"
	rm -f "$sockdir/$ifname.sock"
	"$tmp/scalegen" -n "$n" -port "$wg_port" -store "$dir/store" -wgconf "$dir/wg.conf" \
		-published "$dir/published" -expect "$dir/expect"

	ip netns exec "$ns_host" env LOG_LEVEL=error wireguard-go -f "$ifname" \
		</dev/null >>"$dir/wireguard-go.log" 2>&1 &
	wggo_pid=$!
	wait_for 50 0.1 test -S "$sockdir/$ifname.sock" || die "wireguard-go $ifname did not start; see $dir/wireguard-go.log"
	wait_for 20 0.1 ip -n "$ns_host" link show "$ifname" >/dev/null 2>&1 || die "no interface $ifname in $ns_host"
	ip netns exec "$ns_host" wg setconf "$ifname" "$dir/wg.conf"
	ip -n "$ns_host" link set "$ifname" up

	cfg=$dir/wgstun.toml
	cat >"$cfg" <<EOF
[log]
level = "$log_level"

[daemon]
socket = "$dir/wgstun.sock"
state_dir = "$dir/state"

[stun]
servers = ["$srv_addr:$stun_port"]

[store.s]
type = "file"
path = "$dir/store"

[[interface]]
name = "$ifname"
store = "s"
refresh = "${refresh_s}s"
EOF
	dlog=$dir/wgstun.log
	t0=$(now_ms)
	ip netns exec "$ns_host" "$bin" run -c "$cfg" </dev/null 2>"$dlog" >/dev/null &
	daemon_pid=$!

	# First cycle: every endpoint set, polled every 100 ms for at most 120 s.
	first='' got=0 t_first=$t0
	for ((i = 0; i < 1200; i++)); do
		kill -0 "$daemon_pid" 2>/dev/null || { tail -n 20 "$dlog" >&2; die "the daemon exited at $n peers; log above"; }
		t_check=$(now_ms)
		got=$(set_endpoints) || true
		if ((got == n)); then
			t_first=$t_check
			first=$((t_first - t0))
			break
		fi
		sleep 0.1
	done
	if [[ -z $first ]]; then
		first="not done in 120 s ($got of $n set)"
	else
		wrong=$(ip netns exec "$ns_host" wg show "$ifname" endpoints | LC_ALL=C sort |
			LC_ALL=C comm -3 - <(LC_ALL=C sort "$dir/expect") | wc -l)
		((wrong == 0)) || first="$first ($wrong lines differ from the records)"
	fi

	# One refresh round seen in the store: sample the mtimes of the N
	# records the daemon writes every 0.3 s (for at most 2 refreshes + 5 s)
	# until they hold one complete round that began after the first cycle.
	: >"$dir/mtimes"
	span="no complete round in $((2 * refresh_s + 5)) s"
	for ((i = 0; i < (2 * refresh_s + 5) * 10 / 3; i++)); do
		mtimes "$dir/store" "$dir/published" >>"$dir/mtimes"
		sort -u -o "$dir/mtimes" "$dir/mtimes"
		new=$(round_span "$n" "$((t_first / 1000)).$(printf '%03d' $((t_first % 1000)))" "$dir/mtimes")
		if [[ -n $new ]]; then
			span=$new
			break
		fi
		sleep 0.3
	done

	# CPU over a fixed window of steady state, then memory.
	tick=$(getconf CLK_TCK)
	c0=$(cpu_ticks "$daemon_pid")
	sleep "$window_s"
	kill -0 "$daemon_pid" 2>/dev/null || { tail -n 20 "$dlog" >&2; die "the daemon exited at $n peers; log above"; }
	c1=$(cpu_ticks "$daemon_pid")
	cpu=$(awk -v a="$c0" -v b="$c1" -v t="$tick" 'BEGIN {printf "%.2f", (b - a) / t}')
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon_pid/status")
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$daemon_pid/status")

	# The daemon's own measure, if it logs one: the median of the first
	# three periodic refreshes (lines from before t0 + refresh/2 are the
	# startup cycle, measured above); wait for them at most 2 refreshes more.
	for ((i = 0; i < refresh_s * 2 * 2; i++)); do
		lines=$(refresh_lines "$dlog" "$((t0 + refresh_s * 500))" | wc -l)
		((lines < 3)) || break
		# No line at all (startup cycle included): the daemon does not log it.
		grep -q 'msg="refresh done"' "$dlog" || break
		sleep 0.5
	done
	if ! grep -q 'msg="refresh done"' "$dlog"; then
		refresh="n/a (no 'refresh done' log line)"
	else
		refresh=$(refresh_lines "$dlog" "$((t0 + refresh_s * 500))" | head -n3 | median)
		lines=$(refresh_lines "$dlog" "$((t0 + refresh_s * 500))" | wc -l)
		((lines >= 3)) || refresh="$refresh (of $lines lines)"
	fi

	if ((soak_s > 0)) && [[ " $soak_counts " == *" $n "* ]]; then
		log "$n peers: memory soak, $soak_s s"
		local budget verdict
		budget=$(soak_budget_kb "$n")
		{
			echo "### Memory soak: $n peers, sampled every $soak_every s for $soak_s s after the CPU window"
			echo
			soak_table "$bin" "$daemon_pid" "$dir/wgstun.sock" "$soak_s" "$soak_every"
			echo
			verdict="highest VmRSS sampled $soak_max_rss KiB over $soak_samples samples"
			((soak_died == 0)) || verdict="$verdict; THE DAEMON EXITED during the soak"
			if [[ -n $budget ]]; then
				verdict="$verdict; target at most $budget KiB at every sample: $( ((soak_died == 0 && soak_max_rss <= budget)) && echo within || echo OVER)"
			fi
			echo "$verdict."
			echo
		} >>"$tmp/soak.md"
	fi

	stop_pid "$daemon_pid"
	daemon_pid=''
	stop_pid "$wggo_pid"
	wggo_pid=''
	rm -f "$sockdir/$ifname.sock"
	ifname=''
	printf '%s %s\n' "$n" "$rss" >>"$tmp/rss"
	row=$(printf '| %s | %s | %s | %s | %s | %s | %s |' "$n" "$first" "$refresh" "$span" "$rss" "$hwm" "$cpu")
}

log "peer counts: $counts (about $((window_s + refresh_s + 10)) s each)"
rows=()
k=0
for n in $counts; do
	k=$((k + 1))
	log "$n peers"
	measure "$n" "$k"
	rows+=("$row")
	log "$row"
done

echo "## Scale: one wireguard-go interface, N peers, file store, refresh = ${refresh_s}s ($(nproc) cores)"
echo
echo "| peers | first cycle, start → all endpoints set (ms) | refresh cycle, daemon's 'refresh done' took (ms, median of refreshes 1-3) | republish span, first → last record write in one refresh (ms) | VmRSS (kB) | VmHWM (kB) | CPU s / ${window_s} s |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "The daemon ran at log level $log_level with refresh = \"${refresh_s}s\"; RSS, HWM and CPU are the wgstun"
echo "process only (not wireguard-go). First cycle includes process start and has ~100 ms polling resolution."
if printf '%s\n' "${rows[@]}" | grep -q "no 'refresh done' log line"; then
	echo "No 'refresh done' line at level $log_level: the daemon in this build does not log it at that level."
fi
awk -v budget="$rss_budget_kb" '
	{n[NR] = $1; r[NR] = $2; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2}
	END {
		if (NR >= 2 && NR * sxx != sx * sx) {
			b = (NR * sxy - sx * sy) / (NR * sxx - sx * sx); a = (sy - b * sx) / NR
			printf "RSS growth (least squares over the counts): %.1f kB per peer on top of %.0f kB.\n", b, a
		}
		for (i = 1; i <= NR; i++) if (n[i] == 500)
			printf "Target: VmRSS at most %d kB at 500 peers: %d kB, %s.\n", budget, r[i], (r[i] <= budget ? "within" : "OVER")
	}' "$tmp/rss"
[[ ! -s $tmp/soak.md ]] || { echo; cat "$tmp/soak.md"; }
