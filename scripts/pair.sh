# shellcheck shell=bash disable=SC2034,SC2154
# (variables set here are read by the scripts that source it, and here and
# bin come from them)
# pair.sh: sourced by demo.sh and bench.sh. Two WireGuard peers in the NAT
# lab, each running wgstun, and the timing of how they find each other.
# Needs: here (scripts dir), bin (wgstun binary). Sets LAB_* from lab.env.

lab="$here/lab/lab.sh"
pair_pids=()

ms() { date +%s%3N; }

# pair_up PREFIX NAT_A NAT_B: lab, WireGuard and a wgstun config per side.
pair_up() {
	pair_prefix=$1
	bash "$lab" up "$1" "$2" "$3" 2>&1 | sed 's/^/   /'
	bash "$lab" wg "$1" 2>&1 | sed "s/^/   /"
	# shellcheck disable=SC1090
	. "/tmp/wgstun-lab-$1/lab.env"
	local side ifvar
	for side in a b; do
		ifvar="WG_${side^^}_IF"
		cat >"$LAB_DIR/$side.toml" <<EOF
[daemon]
socket = "$LAB_DIR/$side.sock"
state_dir = "$LAB_DIR/$side-state"
[stun]
servers = ["$STUN1_ADDR:$STUN_PORT", "$STUN2_ADDR:$STUN_PORT"]
[store.lab]
type = "file"
path = "$STORE_DIR"
[[interface]]
name = "${!ifvar}"
store = "lab"
refresh = "1m"
EOF
	done
}

# pair_ping INTERVAL: give both sides a ping watch of the other's tunnel
# address (before pair_start).
pair_ping() {
	local side other
	for side in a b; do
		if [ "$side" = a ]; then other=b; else other=a; fi
		local addr="WG_${other^^}_ADDR"
		sed -i "s/^refresh = .*/&\nping_interval = \"$1\"/" "$LAB_DIR/$side.toml"
		printf '[[interface.peer]]\npublic_key = "%s"\nping = "%s"\n' \
			"$(<"$LAB_DIR/keys/$other.pub")" "${!addr}" >>"$LAB_DIR/$side.toml"
	done
}

# pair_restored SECONDS: ping b from a until it answers; sets t_restored
# (ms after t_fault) or leaves it empty.
pair_restored() {
	local i
	t_restored=""
	for ((i = 0; i < $1 * 10; i++)); do
		if ip netns exec "$NS_A" ping -c 1 -W 0.1 "$WG_B_ADDR" >/dev/null 2>&1; then
			t_restored=$(($(ms) - t_fault))
			return 0
		fi
	done
	return 1
}

# pair_start: start wgstun on both sides; t0 is the start time in ms.
pair_start() {
	t0=$(ms)
	ip netns exec "$NS_A" "$bin" run -c "$LAB_DIR/a.toml" >"$LAB_DIR/wgstun-a.log" 2>&1 &
	pair_pids+=($!)
	pid_a=$!
	ip netns exec "$NS_B" "$bin" run -c "$LAB_DIR/b.toml" >"$LAB_DIR/wgstun-b.log" 2>&1 &
	pair_pids+=($!)
	pid_b=$!
}

endpoint_of() { # NS IF
	ip netns exec "$1" wg show "$2" endpoints | awk '{print $2}'
}

# pair_measure SECONDS: ping b from a until it answers; sets t_set_a,
# t_set_b (endpoint set, ms after t0) and t_ping (first reply), or leaves
# them empty.
pair_measure() {
	local i now
	t_set_a="" t_set_b="" t_ping=""
	for ((i = 0; i < $1 * 10; i++)); do
		now=$(ms)
		[ -z "$t_set_a" ] && [ "$(endpoint_of "$NS_A" "$WG_A_IF")" != "(none)" ] && t_set_a=$((now - t0))
		[ -z "$t_set_b" ] && [ "$(endpoint_of "$NS_B" "$WG_B_IF")" != "(none)" ] && t_set_b=$((now - t0))
		if ip netns exec "$NS_A" ping -c 1 -W 0.1 "$WG_B_ADDR" >/dev/null 2>&1; then
			t_ping=$(($(ms) - t0))
			# An endpoint WireGuard learned from the handshake itself
			# (roaming) counts from here at the latest.
			[ -z "$t_set_a" ] && [ "$(endpoint_of "$NS_A" "$WG_A_IF")" != "(none)" ] && t_set_a=$t_ping
			[ -z "$t_set_b" ] && [ "$(endpoint_of "$NS_B" "$WG_B_IF")" != "(none)" ] && t_set_b=$t_ping
			return 0
		fi
	done
	return 1
}

pair_down() {
	local p
	for p in "${pair_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pair_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pair_pids=()
	if [ -n "${pair_prefix:-}" ]; then
		bash "$lab" down "$pair_prefix" >/dev/null 2>&1 || true
	fi
}
