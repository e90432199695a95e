# shellcheck shell=bash disable=SC2154
# (fl_lab and fl_bin come from the script that sources this file)
# lib-faults.sh: sourced by recovery.sh. One NAT lab per call, two wgstun
# daemons in it, one fault injected, and the time until a ping crosses the
# tunnel again. Unlike pair.sh every function takes the lab's prefix, so
# several labs can run at once.
# Needs: fl_lab (path of lab/lab.sh), fl_bin (wgstun binary).

fl_ms() { date +%s%3N; }

fl_dir() { printf '/tmp/wgstun-lab-%s' "$1"; }

# fl_env PREFIX VAR: one value from the lab's lab.env.
fl_env() {
	sed -n "s/^$2=//p" "$(fl_dir "$1")/lab.env"
}

# fl_config PREFIX SIDE MODE: wgstun's config for SIDE. MODE ping: the
# peer's tunnel address is pinged every second; MODE checks: no ping, path
# checks (the default) watch the idle path; MODE handshake: no ping and
# path_checks = false, the daemon watches WireGuard's handshakes alone.
fl_config() {
	local p=$1 side=$2 mode=$3 dir up other
	dir=$(fl_dir "$p")
	up=${side^^}
	if [[ $side == a ]]; then other=B; else other=A; fi
	cat <<EOF
[daemon]
socket = "$dir/$side.sock"
state_dir = "$dir/$side-state"
[stun]
servers = ["$(fl_env "$p" STUN1_ADDR):$(fl_env "$p" STUN_PORT)", "$(fl_env "$p" STUN2_ADDR):$(fl_env "$p" STUN_PORT)"]
[store.shared]
type = "file"
path = "$(fl_env "$p" STORE_DIR)"
[[interface]]
name = "$(fl_env "$p" "WG_${up}_IF")"
store = "shared"
refresh = "30s"
EOF
	if [[ $mode == handshake ]]; then
		echo "path_checks = false"
	fi
	if [[ $mode == ping ]]; then
		cat <<EOF
ping_interval = "1s"
[[interface.peer]]
public_key = "$(fl_env "$p" "WG_${other}_PUB")"
ping = "$(fl_env "$p" "WG_${other}_ADDR")"
EOF
	fi
}

# fl_up PREFIX MODE: lab with port-restricted cone NATs on both sides,
# WireGuard, and wgstun running on both peers (logs in the lab's log/).
fl_up() {
	local p=$1 mode=$2 dir side
	bash "$fl_lab" up "$p" port-restricted-cone port-restricted-cone >/dev/null 2>&1 || return 1
	bash "$fl_lab" wg "$p" >/dev/null 2>&1 || return 1
	dir=$(fl_dir "$p")
	for side in a b; do
		fl_config "$p" "$side" "$mode" >"$dir/$side.toml"
		# lab.sh down kills every process in the lab's namespaces.
		ip netns exec "$p-$side" "$fl_bin" run -c "$dir/$side.toml" \
			</dev/null >>"$dir/log/wgstun-$side.log" 2>&1 &
	done
}

fl_down() {
	bash "$fl_lab" down "$1" >/dev/null 2>&1 || true
}

# fl_ping PREFIX SIDE: one ping from SIDE to the other side's tunnel address.
fl_ping() {
	local to
	if [[ $2 == a ]]; then to=$(fl_env "$1" WG_B_ADDR); else to=$(fl_env "$1" WG_A_ADDR); fi
	timeout 3 ip netns exec "$1-$2" ping -c 1 -W 1 "$to" >/dev/null 2>&1
}

# fl_ping_within PREFIX SIDE SECONDS: ping every 250 ms until one answers;
# sets fl_took to the ms it took from the call. (A global, not output: a
# command substitution would run the loop in a subshell that the caller's
# TERM trap cannot stop.)
fl_ping_within() {
	local t0 deadline
	fl_took=""
	t0=$(fl_ms)
	deadline=$((t0 + $3 * 1000))
	while (($(fl_ms) < deadline)); do
		if fl_ping "$1" "$2"; then
			fl_took=$(($(fl_ms) - t0))
			return 0
		fi
		sleep 0.25
	done
	return 1
}

# fl_inject PREFIX FAULT: flush (conntrack of nat a), readdress (nat a's WAN
# to 203.0.113.11) or newport (nat a restarts mapping WireGuard to 40001).
fl_inject() {
	case $2 in
	flush) bash "$fl_lab" flush-conntrack "$1" a ;;
	readdress) bash "$fl_lab" wan-readdress "$1" a 203.0.113.11 ;;
	newport) bash "$fl_lab" nat-restart "$1" a 40001 ;;
	*)
		echo "lib-faults: unknown fault '$2'" >&2
		return 1
		;;
	esac
}

# fl_run PREFIX FAULT MODE LIMIT: one measurement on a fresh lab. Prints the
# ms from the fault to the first ping through the tunnel, "timeout" if none
# came within LIMIT seconds, or "noconnect" if the tunnel never came up.
fl_run() {
	local p=$1 fault=$2 mode=$3 limit=$4
	if ! fl_up "$p" "$mode"; then
		fl_down "$p"
		echo noconnect
		return 0
	fi
	if ! fl_ping_within "$p" a 40 || ! fl_ping_within "$p" b 10; then
		fl_down "$p"
		echo noconnect
		return 0
	fi
	sleep 2
	if ! fl_inject "$p" "$fault" >/dev/null 2>&1; then
		fl_down "$p"
		echo noconnect
		return 0
	fi
	if fl_ping_within "$p" a "$limit"; then
		echo "$fl_took"
	else
		echo timeout
	fi
	fl_down "$p"
}
