#!/usr/bin/env bash
# lab.sh: the network-namespace NAT lab that wgstun's demo and end-to-end
# tests run in. Run as root. Every address lives in a namespace this script
# creates; no interface of the lab touches the host's namespace and no
# namespace of the lab has a route out of the lab's ranges.
#
#   PREFIX-inet   the "internet": bridge br0 (203.0.113.1/24) joining the two
#                 NAT WANs; on lo the public servers 198.51.100.1 and .2
#                 (coturn, STUN only, ports 3478 and 3479) and .3 (probe)
#   PREFIX-nata   NAT router of peer a: wan 203.0.113.10/24, lan 192.168.10.1/24
#   PREFIX-natb   NAT router of peer b: wan 203.0.113.20/24, lan 192.168.20.1/24
#   PREFIX-a      peer a: eth0 192.168.10.2/24, routes to the lab's public
#                 ranges via 192.168.10.1 (and nothing else)
#   PREFIX-b      peer b: eth0 192.168.20.2/24, same via 192.168.20.1
#
# Usage:
#   lab.sh up PREFIX NAT_A NAT_B     NAT_x: full-cone | restricted-cone |
#                                           port-restricted-cone | symmetric
#                                    NAT_B "same": b sits behind a's NAT too
#                                    (eth0 192.168.10.3 on nata's LAN
#                                    bridge; natb stays empty), and the NAT
#                                    does not hairpin, as most CGNATs do not
#   lab.sh wg PREFIX                 WireGuard interfaces PREFIXa, PREFIXb
#   lab.sh down PREFIX               tear everything down (idempotent)
#   lab.sh env PREFIX                print lab.env
#   lab.sh diag PREFIX               print addresses, rules, conntrack, logs
#   lab.sh exec PREFIX a|b|nata|natb|inet CMD...
#   lab.sh flush-conntrack PREFIX a|b
#   lab.sh wan-readdress PREFIX a|b NEWADDR    (NEWADDR in 203.0.113.0/24)
#   lab.sh nat-restart PREFIX a|b [NEWPORT]
#                                    re-apply rules, empty sets and conntrack;
#                                    NEWPORT (port-restricted-cone only): map
#                                    the host's WireGuard port to NEWPORT on
#                                    the WAN from now on; without it the NAT
#                                    is port-preserving again
#   lab.sh wg-recreate PREFIX a|b [PORT]
#                                    kill that side's wireguard-go (or delete
#                                    its kernel link) and build the interface
#                                    again: same name, key and peer, listen
#                                    port PORT, no endpoint
#   lab.sh wg-wipe PREFIX a|b        remove the peer and add it back without
#                                    an endpoint (what wg setconf does)
#   lab.sh wg-bogus PREFIX a|b ADDR:PORT
#                                    set a wrong endpoint (inside the lab)
#   lab.sh stun-stop PREFIX [1|2]    no number: stop coturn; 1|2: drop STUN
#   lab.sh stun-start PREFIX [1|2]   traffic to that address / undo it
#   lab.sh upnp-start PREFIX a|b     run miniupnpd (NAT-PMP and PCP, no UPnP IGD)
#                                    on that side's NAT router; its nftables
#                                    chains sit in table inet wgstunupnp, hooked
#                                    just before the lab's own
#   lab.sh upnp-stop PREFIX a|b      stop it (its lease file and rules stay)
#   lab.sh upnp-restart PREFIX a|b   stop it, forget every mapping (lease file,
#                                    rules, conntrack), start it again: a
#                                    gateway reboot, with a new epoch
#   lab.sh upnp-rules PREFIX a|b     print miniupnpd's DNAT chain
#
# LAB_WG=go (the default) runs wireguard-go for the lab's interfaces;
# LAB_WG=kernel makes them kernel WireGuard links (ip link add NAME type
# wireguard). "wg" records the mode, so every later command of that lab,
# down included, follows the mode the lab was built with.
#
# The file can be sourced: it then only defines the lab_* functions.

set -euo pipefail

LAB_INET_GW=203.0.113.1
LAB_INET_NET=203.0.113.0/24
LAB_SRV_NET=198.51.100.0/24
LAB_WAN_a=203.0.113.10
LAB_WAN_b=203.0.113.20
# shellcheck disable=SC2034 # read indirectly as LAB_LANNET_$side
LAB_LANNET_a=192.168.10.0/24
# shellcheck disable=SC2034 # read indirectly as LAB_LANNET_$side
LAB_LANNET_b=192.168.20.0/24
LAB_LANGW_a=192.168.10.1
LAB_LANGW_b=192.168.20.1
LAB_HOST_a=192.168.10.2
LAB_HOST_b=192.168.20.2
LAB_STUN1=198.51.100.1
LAB_STUN2=198.51.100.2
LAB_PROBE=198.51.100.3
LAB_STUN_PORT=3478
LAB_STUN_ALT_PORT=3479
LAB_WG_PORT=51820
LAB_WG_a=10.77.0.1
LAB_WG_b=10.77.0.2
LAB_NAT_TIMEOUT=120s
LAB_WG_SOCKDIR=/var/run/wireguard
LAB_ROLES=(a b nata natb inet)
LAB_UPNP_TABLE=wgstunupnp

lab_log() { printf 'lab: %s\n' "$*" >&2; }
lab_die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

# lab_check_prefix PREFIX: short, lower-case, safe in every name it goes into
# (namespace PREFIX-inet, interface PREFIXa of at most 15 characters).
lab_check_prefix() {
	[[ ${1:-} =~ ^[a-z][a-z0-9]{1,7}$ ]] ||
		lab_die "bad prefix '${1:-}': want 2-8 characters [a-z0-9], starting with a letter"
}

lab_dir() { printf '/tmp/wgstun-lab-%s' "$1"; }
lab_ns() { printf '%s-%s' "$1" "$2"; }
lab_wg_if() { printf '%s%s' "$1" "$2"; }

# lab_wg_port PREFIX SIDE: the listen port of that side's WireGuard, which
# wg-recreate may have changed.
lab_wg_port() {
	local f
	f=$(lab_dir "$1")/run/wg-port-$2
	if [[ -f $f ]]; then
		cat "$f"
	else
		printf '%s\n' "$LAB_WG_PORT"
	fi
}

# lab_wg_mode_arg: the WireGuard implementation LAB_WG asks for.
lab_wg_mode_arg() {
	case ${LAB_WG:-go} in
	go | kernel) printf '%s\n' "${LAB_WG:-go}" ;;
	*) lab_die "bad LAB_WG '${LAB_WG}': want go or kernel" ;;
	esac
}

# lab_wg_mode PREFIX: the WireGuard implementation the lab's interfaces
# were made with (go when it has none yet).
lab_wg_mode() {
	local f
	f=$(lab_dir "$1")/run/wg-mode
	if [[ -f $f ]]; then
		cat "$f"
	else
		printf 'go\n'
	fi
}

lab_check_side() {
	[[ ${1:-} == a || ${1:-} == b ]] || lab_die "bad side '${1:-}': want a or b"
}

# lab_same PREFIX: when b shares a's NAT ("same"), b's LAN settings are
# a's, with its own host address.
lab_same() {
	local f
	f=$(lab_dir "$1")/run/nat-b.type
	if [[ -f $f && $(<"$f") == same ]]; then
		LAB_HOST_b=192.168.10.3
		LAB_LANGW_b=$LAB_LANGW_a
		# shellcheck disable=SC2034 # read as ${!lannet} by lab_nat_ruleset
		LAB_LANNET_b=$LAB_LANNET_a
		LAB_WAN_b=$LAB_WAN_a
		return 0
	fi
	return 1
}

lab_check_nat() {
	case ${1:-} in
	full-cone | restricted-cone | port-restricted-cone | symmetric) ;;
	*) lab_die "bad NAT type '${1:-}': want full-cone, restricted-cone, port-restricted-cone or symmetric" ;;
	esac
}

lab_ns_exists() { [[ -e /var/run/netns/$1 ]]; }

# lab_wait DESC TENTHS CMD...: run CMD every 0.1 s until it succeeds, at most
# TENTHS times.
lab_wait() {
	local desc=$1 tries=$2 i
	shift 2
	for ((i = 0; i < tries; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	lab_log "timed out after $((tries / 10)).$((tries % 10)) s waiting for $desc"
	return 1
}

# lab_nat_ruleset SIDE TYPE [NEWPORT [WGPORT]]: the nftables ruleset of one
# NAT router. It replaces table ip wgstunlab atomically (declare, delete,
# declare again). With NEWPORT the host's UDP port WGPORT (default the lab's
# WireGuard port) leaves the WAN from port NEWPORT.
lab_nat_ruleset() {
	local side=$1 type=$2 newport=${3:-} wgport=${4:-$LAB_WG_PORT} host lannet
	host=LAB_HOST_$side
	host=${!host}
	lannet=LAB_LANNET_$side
	lannet=${!lannet}
	local sets="" learn="" inbound="" snat="masquerade"
	case $type in
	full-cone)
		# Endpoint-independent filtering: once the host sent from port p,
		# anybody may send to WAN:p. The mapping keeps the port, so the
		# host's port is also the external one.
		sets="set fc { type inet_service; flags timeout; timeout $LAB_NAT_TIMEOUT; }"
		learn="iifname \"lan\" oifname \"wan\" meta l4proto udp update @fc { udp sport }"
		inbound="iifname \"wan\" udp dport @fc dnat to $host"
		;;
	restricted-cone)
		# Address-dependent filtering: WAN:p accepts remote R (any port)
		# once the host sent from p to R.
		sets="set rc { type inet_service . ipv4_addr; flags timeout; timeout $LAB_NAT_TIMEOUT; }"
		learn="iifname \"lan\" oifname \"wan\" meta l4proto udp update @rc { udp sport . ip daddr }"
		inbound="iifname \"wan\" udp dport . ip saddr @rc dnat to $host"
		;;
	port-restricted-cone)
		# Linux's own behaviour: port-preserving SNAT, replies only.
		;;
	symmetric)
		# A fresh random port for every new destination.
		snat="masquerade fully-random"
		;;
	*) lab_die "bad NAT type '$type'" ;;
	esac
	local portmap=""
	if [[ -n $newport ]]; then
		# A fresh mapping for WireGuard's port, as a CGNAT hands out after
		# a reboot; mapping and filtering otherwise stay port-restricted.
		portmap="oifname \"wan\" ip saddr $host udp sport $wgport masquerade to :$newport"
	fi
	cat <<EOF
table ip wgstunlab {}
delete table ip wgstunlab
table ip wgstunlab {
	$sets
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "wan" ct state established,related accept
		iifname "wan" icmp type echo-request accept
		# Dropping (not rejecting) keeps unsolicited flows out of the
		# conntrack table, where they would steal the host's port.
		iifname "wan" drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		$learn
		iifname "lan" oifname "wan" accept
		iifname "wan" oifname "lan" ct state established,related accept
		iifname "wan" oifname "lan" ct status dnat accept
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		$inbound
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		$portmap
		oifname "wan" ip saddr $lannet $snat
	}
}
EOF
}

# lab_nat_apply PREFIX SIDE: (re)load the NAT router's rules for the type
# recorded at "up" and empty its conntrack table: fresh mappings.
lab_nat_apply() {
	local p=$1 side=$2 dir ns type
	dir=$(lab_dir "$p")
	ns=$(lab_ns "$p" "nat$side")
	type=$(<"$dir/run/nat-$side.type")
	local newport=""
	if [[ -f $dir/run/nat-$side.port ]]; then
		newport=$(<"$dir/run/nat-$side.port")
	fi
	lab_nat_ruleset "$side" "$type" "$newport" "$(lab_wg_port "$p" "$side")" | ip netns exec "$ns" nft -f - ||
		lab_die "loading $type rules into $ns"
	lab_flush_conntrack "$p" "$side"
}

lab_flush_conntrack() {
	local ns
	ns=$(lab_ns "$1" "nat$2")
	ip netns exec "$ns" conntrack -F >/dev/null 2>&1 || true
}

lab_wan_addr() {
	local dir
	dir=$(lab_dir "$1")
	cat "$dir/run/wan-$2.addr"
}

# lab_wan_set PREFIX SIDE ADDR: give the NAT router's WAN the address ADDR.
lab_wan_set() {
	local p=$1 side=$2 addr=$3 ns
	ns=$(lab_ns "$p" "nat$side")
	ip -n "$ns" addr flush dev wan
	ip -n "$ns" addr add "$addr/24" dev wan
	ip -n "$ns" route replace "$LAB_SRV_NET" via "$LAB_INET_GW" dev wan
	printf '%s\n' "$addr" >"$(lab_dir "$p")/run/wan-$side.addr"
}

lab_write_env() {
	local p=$1 dir f
	dir=$(lab_dir "$p")
	f=$dir/lab.env.tmp
	{
		echo "PREFIX=$p"
		echo "LAB_DIR=$dir"
		echo "STORE_DIR=$dir/store"
		echo "NS_INET=$(lab_ns "$p" inet)"
		echo "NS_NATA=$(lab_ns "$p" nata)"
		echo "NS_NATB=$(lab_ns "$p" natb)"
		echo "NS_A=$(lab_ns "$p" a)"
		echo "NS_B=$(lab_ns "$p" b)"
		echo "NAT_A=$(<"$dir/run/nat-a.type")"
		echo "NAT_B=$(<"$dir/run/nat-b.type")"
		echo "NATA_WAN=$(lab_wan_addr "$p" a)"
		echo "NATB_WAN=$(lab_wan_addr "$p" b)"
		echo "NATA_LAN=$LAB_LANGW_a"
		echo "NATB_LAN=$LAB_LANGW_b"
		echo "A_ADDR=$LAB_HOST_a"
		echo "B_ADDR=$LAB_HOST_b"
		echo "INET_GW=$LAB_INET_GW"
		echo "STUN1_ADDR=$LAB_STUN1"
		echo "STUN2_ADDR=$LAB_STUN2"
		echo "STUN_PORT=$LAB_STUN_PORT"
		echo "STUN_ALT_PORT=$LAB_STUN_ALT_PORT"
		echo "PROBE_ADDR=$LAB_PROBE"
		if [[ -f $dir/keys/b.pub ]]; then
			echo "WG_MODE=$(lab_wg_mode "$p")"
			echo "WG_PORT=$LAB_WG_PORT"
			echo "WG_A_PORT=$(lab_wg_port "$p" a)"
			echo "WG_B_PORT=$(lab_wg_port "$p" b)"
			echo "WG_A_IF=$(lab_wg_if "$p" a)"
			echo "WG_B_IF=$(lab_wg_if "$p" b)"
			echo "WG_A_ADDR=$LAB_WG_a"
			echo "WG_B_ADDR=$LAB_WG_b"
			echo "WG_A_KEY_FILE=$dir/keys/a.key"
			echo "WG_B_KEY_FILE=$dir/keys/b.key"
			echo "WG_A_PUB=$(<"$dir/keys/a.pub")"
			echo "WG_B_PUB=$(<"$dir/keys/b.pub")"
		fi
	} >"$f"
	mv "$f" "$dir/lab.env"
}

lab_stun_answers() {
	local out
	out=$(ip netns exec "$1" timeout 0.3 turnutils_stunclient -p "$LAB_STUN_PORT" "$2" 2>&1) || true
	[[ $out == *"reflexive addr"* ]]
}

lab_stun_pid() {
	local dir pid
	dir=$(lab_dir "$1")
	[[ -f $dir/run/turnserver.pid ]] || return 1
	pid=$(<"$dir/run/turnserver.pid")
	# Only a process inside this lab's inet namespace is ours.
	[[ $(ip netns identify "$pid" 2>/dev/null) == "$(lab_ns "$1" inet)" ]] || return 1
	printf '%s' "$pid"
}

# lab_stun_start PREFIX: start coturn (STUN only, RFC 5780 on) on both
# public server addresses and wait until both answer.
lab_stun_start() {
	local p=$1 dir ns
	dir=$(lab_dir "$p")
	ns=$(lab_ns "$p" inet)
	if lab_stun_pid "$p" >/dev/null; then
		return 0
	fi
	ip netns exec "$ns" turnserver -n --stun-only --no-cli --no-tls --no-dtls \
		--listening-ip "$LAB_STUN1" --listening-ip "$LAB_STUN2" \
		--listening-port "$LAB_STUN_PORT" --alt-listening-port "$LAB_STUN_ALT_PORT" \
		--relay-threads 1 --log-file "$dir/log/turnserver.log" --simple-log \
		--pidfile "$dir/run/turnserver.self.pid" --db "$dir/run/turndb" \
		</dev/null >>"$dir/log/turnserver.out" 2>&1 &
	echo $! >"$dir/run/turnserver.pid"
	lab_wait "coturn on $LAB_STUN1:$LAB_STUN_PORT" 100 lab_stun_answers "$ns" "$LAB_STUN1" ||
		lab_die "coturn did not answer; see $dir/log/turnserver.log"
	lab_wait "coturn on $LAB_STUN2:$LAB_STUN_PORT" 50 lab_stun_answers "$ns" "$LAB_STUN2" ||
		lab_die "coturn did not answer; see $dir/log/turnserver.log"
}

# lab_kill_wait PID...: TERM, wait at most 2 s, then KILL, wait at most 1 s.
lab_kill_wait() {
	local pid i alive
	(($# > 0)) || return 0
	kill -TERM "$@" 2>/dev/null || true
	for ((i = 0; i < 30; i++)); do
		alive=0
		for pid in "$@"; do
			if kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid" 2>/dev/null) != Z* ]]; then
				alive=1
				if ((i == 20)); then
					kill -KILL "$pid" 2>/dev/null || true
				fi
			fi
		done
		((alive)) || return 0
		sleep 0.1
	done
	lab_log "processes still alive after KILL: $*"
}

lab_stun_stop() {
	local pid
	if pid=$(lab_stun_pid "$1"); then
		lab_kill_wait "$pid"
	fi
	rm -f "$(lab_dir "$1")/run/turnserver.pid"
}

# lab_stun_block PREFIX N on|off: drop (or stop dropping) STUN requests to
# the server address N, as if that server had gone silent.
lab_stun_block() {
	local p=$1 n=$2 how=$3 ns addr
	ns=$(lab_ns "$p" inet)
	case $n in
	1) addr=$LAB_STUN1 ;;
	2) addr=$LAB_STUN2 ;;
	*) lab_die "bad STUN server number '$n': want 1 or 2" ;;
	esac
	ip netns exec "$ns" nft -f - <<EOF
table ip wgstunlab {
	set blocked { type ipv4_addr; }
	chain input {
		type filter hook input priority filter; policy accept;
		ip daddr @blocked udp dport { $LAB_STUN_PORT, $LAB_STUN_ALT_PORT } drop
	}
}
EOF
	if [[ $how == on ]]; then
		ip netns exec "$ns" nft add element ip wgstunlab blocked "{ $addr }" 2>/dev/null || true
	else
		ip netns exec "$ns" nft delete element ip wgstunlab blocked "{ $addr }" 2>/dev/null || true
	fi
}

lab_up() {
	local p=$1 nat_a=$2 nat_b=$3 dir role ns side
	lab_check_prefix "$p"
	lab_check_nat "$nat_a"
	[[ $nat_b == same ]] || lab_check_nat "$nat_b"
	dir=$(lab_dir "$p")
	for role in "${LAB_ROLES[@]}"; do
		if lab_ns_exists "$(lab_ns "$p" "$role")"; then
			lab_die "namespace $(lab_ns "$p" "$role") exists: lab $p is already up (run: lab.sh down $p)"
		fi
	done
	[[ ! -e $dir ]] || lab_die "$dir exists: lab $p is already up (run: lab.sh down $p)"
	# From here on a half-built lab is torn down again on failure.
	LAB_UP_PREFIX=$p
	trap 'lab_down "$LAB_UP_PREFIX" >/dev/null 2>&1 || true' EXIT
	mkdir -p "$dir"
	chmod 700 "$dir"
	mkdir -p "$dir/run" "$dir/log" "$dir/keys" "$dir/store"
	printf '%s\n' "$nat_a" >"$dir/run/nat-a.type"
	printf '%s\n' "$nat_b" >"$dir/run/nat-b.type"
	local same=0
	if lab_same "$p"; then same=1; fi

	# Few processes: one ip per namespace (ip -batch) and one sysctl, as
	# every program start costs much under emulation (scripts/vm).
	for role in "${LAB_ROLES[@]}"; do
		printf 'netns add %s\n' "$(lab_ns "$p" "$role")"
	done | ip -batch - || lab_die "making the namespaces of lab $p"

	ns=$(lab_ns "$p" inet)
	# IPv4 only everywhere: no router solicitations or DAD noise in
	# captures (sysctl -e: a kernel without IPv6 has no such keys).
	ip netns exec "$ns" sysctl -qew net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
		net.bridge.bridge-nf-call-iptables=0 >/dev/null
	{
		echo "link set lo up"
		echo "link add br0 type bridge stp_state 0 forward_delay 0"
		echo "addr add $LAB_INET_GW/24 dev br0"
		echo "link set br0 up"
		# The servers' addresses sit on lo (the kernel here has no dummy
		# links).
		echo "addr add $LAB_STUN1/32 dev lo"
		echo "addr add $LAB_STUN2/32 dev lo"
		echo "addr add $LAB_PROBE/32 dev lo"
		for side in a b; do
			((same)) && [[ $side == b ]] && continue
			# veth pairs are made directly inside the two namespaces
			# (never in the host's).
			echo "link add wan-$side type veth peer name wan netns $(lab_ns "$p" "nat$side")"
			echo "link set wan-$side master br0 up"
		done
	} | ip -n "$ns" -batch - || lab_die "setting up $ns"

	for side in a b; do
		local nat hostns host gw wan
		nat=$(lab_ns "$p" "nat$side")
		hostns=$(lab_ns "$p" "$side")
		host=LAB_HOST_$side
		host=${!host}
		gw=LAB_LANGW_$side
		gw=${!gw}
		wan=LAB_WAN_$side
		wan=${!wan}
		if ((same)) && [[ $side == b ]]; then
			# b's eth0 is a second port of nata's LAN bridge.
			ip -n "$(lab_ns "$p" nata)" -batch - <<-EOF || lab_die "setting up b on nata's LAN"
				link add lan-b type veth peer name eth0 netns $hostns
				link set lan-b master lan up
			EOF
			printf '%s\n' "$wan" >"$dir/run/wan-$side.addr"
		else
			ip netns exec "$nat" sysctl -qew net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
				net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.bridge.bridge-nf-call-iptables=0 >/dev/null
			{
				echo "link set lo up"
				echo "link set wan up"
				echo "addr add $wan/24 dev wan"
				echo "route replace $LAB_SRV_NET via $LAB_INET_GW dev wan"
				if ((same)); then
					# a LAN bridge "lan" with a's port; b's joins below
					echo "link add lan type bridge stp_state 0 forward_delay 0"
					echo "link add lan-a type veth peer name eth0 netns $hostns"
					echo "link set lan-a master lan up"
				else
					echo "link add lan type veth peer name eth0 netns $hostns"
				fi
				echo "addr add $gw/24 dev lan"
				echo "link set lan up"
			} | ip -n "$nat" -batch - || lab_die "setting up $nat"
			printf '%s\n' "$wan" >"$dir/run/wan-$side.addr"
			# A fresh namespace: no conntrack entries to flush yet.
			lab_nat_ruleset "$side" "$(<"$dir/run/nat-$side.type")" | ip netns exec "$nat" nft -f - ||
				lab_die "loading $(<"$dir/run/nat-$side.type") rules into $nat"
		fi
		ip netns exec "$hostns" sysctl -qew net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null
		{
			echo "link set lo up"
			echo "addr add $host/24 dev eth0"
			echo "link set eth0 up"
			echo "route add $LAB_INET_NET via $gw dev eth0"
			echo "route add $LAB_SRV_NET via $gw dev eth0"
		} | ip -n "$hostns" -batch - || lab_die "setting up $hostns"
	done

	lab_stun_start "$p"
	lab_write_env "$p"
	trap - EXIT
	lab_log "lab $p up: a behind $nat_a ($LAB_WAN_a), b behind $nat_b ($LAB_WAN_b), state in $dir"
}

# lab_wg_start PREFIX SIDE: make SIDE's interface: a kernel WireGuard link,
# or wireguard-go started and waited for until its UAPI socket and
# interface exist.
lab_wg_start() {
	local p=$1 side=$2 dir ns ifname
	dir=$(lab_dir "$p")
	ns=$(lab_ns "$p" "$side")
	ifname=$(lab_wg_if "$p" "$side")
	if [[ $(lab_wg_mode "$p") == kernel ]]; then
		ip -n "$ns" link add "$ifname" type wireguard ||
			lab_die "no kernel WireGuard link $ifname in $ns (is the wireguard module there?)"
		return 0
	fi
	# The UAPI socket directory is shared by every namespace.
	rm -f "$LAB_WG_SOCKDIR/$ifname.sock"
	ip netns exec "$ns" env LOG_LEVEL=verbose wireguard-go -f "$ifname" \
		</dev/null >>"$dir/log/wireguard-go-$side.log" 2>&1 &
	echo "$!" >"$dir/run/wireguard-go-$side.pid"
	lab_wait "wireguard-go $ifname" 50 test -S "$LAB_WG_SOCKDIR/$ifname.sock" ||
		lab_die "wireguard-go $ifname did not start; see $dir/log/wireguard-go-$side.log"
	lab_wait "interface $ifname" 20 ip -n "$ns" link show "$ifname" ||
		lab_die "no interface $ifname in $ns"
}

# lab_wg_peer_add PREFIX SIDE: SIDE's one peer (the other side) with its
# allowed IP and keepalive 25, no endpoint.
lab_wg_peer_add() {
	local p=$1 side=$2 other oaddr
	if [[ $side == a ]]; then other=b; else other=a; fi
	oaddr=LAB_WG_$other
	ip netns exec "$(lab_ns "$p" "$side")" wg set "$(lab_wg_if "$p" "$side")" \
		peer "$(<"$(lab_dir "$p")/keys/$other.pub")" allowed-ips "${!oaddr}/32" persistent-keepalive 25
}

# lab_wg_conf PREFIX SIDE PORT: key, listen port, the peer, address, link up.
lab_wg_conf() {
	local p=$1 side=$2 port=$3 ns ifname addr
	ns=$(lab_ns "$p" "$side")
	ifname=$(lab_wg_if "$p" "$side")
	addr=LAB_WG_$side
	ip netns exec "$ns" wg set "$ifname" private-key "$(lab_dir "$p")/keys/$side.key" listen-port "$port"
	lab_wg_peer_add "$p" "$side"
	ip -n "$ns" addr add "${!addr}/24" dev "$ifname"
	ip -n "$ns" link set "$ifname" up
	printf '%s\n' "$port" >"$(lab_dir "$p")/run/wg-port-$side"
}

lab_wg() {
	local p=$1 dir side ns ifname mode
	lab_check_prefix "$p"
	dir=$(lab_dir "$p")
	mode=$(lab_wg_mode_arg)
	[[ -f $dir/lab.env ]] || lab_die "lab $p is not up (no $dir/lab.env)"
	for side in a b; do
		ns=$(lab_ns "$p" "$side")
		ifname=$(lab_wg_if "$p" "$side")
		if ip -n "$ns" link show "$ifname" >/dev/null 2>&1; then
			lab_die "$ifname already exists in $ns"
		fi
	done
	printf '%s\n' "$mode" >"$dir/run/wg-mode"
	for side in a b; do
		(umask 077 && wg genkey >"$dir/keys/$side.key")
		wg pubkey <"$dir/keys/$side.key" >"$dir/keys/$side.pub"
		lab_wg_start "$p" "$side"
	done
	for side in a b; do
		lab_wg_conf "$p" "$side" "$LAB_WG_PORT"
	done
	lab_write_env "$p"
	if [[ $mode == kernel ]]; then mode="kernel WireGuard"; else mode=wireguard-go; fi
	lab_log "lab $p: $mode $(lab_wg_if "$p" a) ($LAB_WG_a) and $(lab_wg_if "$p" b) ($LAB_WG_b), no endpoints"
}

lab_require_wg() {
	[[ -f $(lab_dir "$1")/keys/b.pub ]] || lab_die "lab $1 has no WireGuard (run: lab.sh wg $1)"
}

lab_check_port() {
	if ! [[ ${1:-} =~ ^[0-9]{1,5}$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
		lab_die "bad port '${1:-}': want 1-65535"
	fi
}

# lab_wg_recreate PREFIX SIDE PORT: kill SIDE's wireguard-go and wait until
# its interface is gone (kernel mode: delete the link), and build it again
# with the same name, key and peer but listen port PORT and no endpoint, as
# netifd or a VyOS commit does.
lab_wg_recreate() {
	local p=$1 side=$2 port=$3 dir ns ifname pid
	dir=$(lab_dir "$p")
	ns=$(lab_ns "$p" "$side")
	ifname=$(lab_wg_if "$p" "$side")
	if [[ $(lab_wg_mode "$p") == kernel ]]; then
		ip -n "$ns" link del "$ifname" 2>/dev/null || true
		lab_wait "interface $ifname to go away" 20 lab_link_gone "$ns" "$ifname" ||
			lab_die "interface $ifname in $ns does not go away"
	elif [[ -f $dir/run/wireguard-go-$side.pid ]]; then
		pid=$(<"$dir/run/wireguard-go-$side.pid")
		# Only a process inside this lab's namespace is ours.
		if [[ $(ip netns identify "$pid" 2>/dev/null) == "$ns" ]]; then
			lab_kill_wait "$pid"
		fi
	fi
	if ! lab_wait "interface $ifname to go away" 50 lab_link_gone "$ns" "$ifname"; then
		ip -n "$ns" link del "$ifname" 2>/dev/null || true
		lab_wait "interface $ifname to go away" 20 lab_link_gone "$ns" "$ifname" ||
			lab_die "interface $ifname in $ns does not go away"
	fi
	lab_wg_start "$p" "$side"
	lab_wg_conf "$p" "$side" "$port"
	lab_write_env "$p"
	lab_log "lab $p: $ifname recreated, listen port $port, no endpoint"
}

lab_link_gone() { ! ip -n "$1" link show "$2" >/dev/null 2>&1; }

# lab_wg_wipe PREFIX SIDE: remove the peer and add it again without an
# endpoint, as `wg setconf` with a file lacking Endpoint lines does.
lab_wg_wipe() {
	local p=$1 side=$2 other
	if [[ $side == a ]]; then other=b; else other=a; fi
	ip netns exec "$(lab_ns "$p" "$side")" wg set "$(lab_wg_if "$p" "$side")" \
		peer "$(<"$(lab_dir "$p")/keys/$other.pub")" remove
	lab_wg_peer_add "$p" "$side"
}

# lab_wg_bogus PREFIX SIDE ADDR:PORT: a wrong endpoint for SIDE's peer. Only
# the lab's public ranges are accepted, so nothing is ever sent outside.
lab_wg_bogus() {
	local p=$1 side=$2 ep=$3 other
	if ! [[ $ep =~ ^(203\.0\.113|198\.51\.100)\.([0-9]{1,3}):([0-9]{1,5})$ ]] ||
		((BASH_REMATCH[2] > 255)); then
		lab_die "bad endpoint '$ep': want ADDR:PORT with ADDR in 203.0.113.0/24 or 198.51.100.0/24"
	fi
	lab_check_port "${BASH_REMATCH[3]}"
	if [[ $side == a ]]; then other=b; else other=a; fi
	ip netns exec "$(lab_ns "$p" "$side")" wg set "$(lab_wg_if "$p" "$side")" \
		peer "$(<"$(lab_dir "$p")/keys/$other.pub")" endpoint "$ep"
}

lab_down() {
	local p=$1 dir role ns pids=() pid side
	lab_check_prefix "$p"
	dir=$(lab_dir "$p")
	# Kernel links go with their namespace, unless something holds the
	# namespace open: delete them first, so that nothing of the lab stays.
	if [[ $(lab_wg_mode "$p") == kernel ]]; then
		for side in a b; do
			ns=$(lab_ns "$p" "$side")
			if lab_ns_exists "$ns"; then
				ip -n "$ns" link del "$(lab_wg_if "$p" "$side")" 2>/dev/null || true
			fi
		done
	fi
	for role in "${LAB_ROLES[@]}"; do
		ns=$(lab_ns "$p" "$role")
		if lab_ns_exists "$ns"; then
			for pid in $(ip netns pids "$ns" 2>/dev/null); do
				pids+=("$pid")
			done
		fi
	done
	lab_kill_wait "${pids[@]}"
	for role in "${LAB_ROLES[@]}"; do
		ns=$(lab_ns "$p" "$role")
		if lab_ns_exists "$ns"; then
			ip netns del "$ns" 2>/dev/null || lab_log "could not delete namespace $ns"
		fi
	done
	rm -f "$LAB_WG_SOCKDIR/$(lab_wg_if "$p" a).sock" "$LAB_WG_SOCKDIR/$(lab_wg_if "$p" b).sock"
	rm -rf "$dir"
}

lab_diag() {
	local p=$1 dir role ns f
	lab_check_prefix "$p"
	dir=$(lab_dir "$p")
	for role in "${LAB_ROLES[@]}"; do
		ns=$(lab_ns "$p" "$role")
		lab_ns_exists "$ns" || continue
		echo "=== $ns"
		ip -n "$ns" -br addr || true
		if [[ $role == a || $role == b ]]; then
			ip netns exec "$ns" wg show "$(lab_wg_if "$p" "$role")" 2>/dev/null || true
		fi
		ip -n "$ns" route || true
		ip netns exec "$ns" nft list ruleset 2>/dev/null || true
		if [[ $role == nat* ]]; then
			ip netns exec "$ns" conntrack -L -p udp 2>/dev/null || true
		fi
	done
	for f in "$dir"/log/*; do
		[[ -f $f ]] || continue
		echo "=== $f (last 40 lines)"
		tail -n 40 "$f" || true
	done
}

# lab_upnp_pid PREFIX SIDE: the pid of that side's miniupnpd, if running
# inside the lab's NAT namespace.
lab_upnp_pid() {
	local f pid
	f=$(lab_dir "$1")/run/upnp-$2.pid
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	[[ $(ip netns identify "$pid" 2>/dev/null) == "$(lab_ns "$1" "nat$2")" ]] || return 1
	printf '%s' "$pid"
}

# lab_upnp_start PREFIX SIDE: miniupnpd on nat$SIDE with NAT-PMP and PCP,
# serving the LAN, mapping to the LAN host only (secure mode). Its table
# and chains are made here (Debian's nft_init.sh needs a file it does not
# ship); they hook in just before the lab's, and the lab's forward chain
# already accepts DNATed flows. miniupnpd refuses a reserved external
# address such as the lab's 203.0.113.x unless STUN shows it is public, so
# it runs its STUN test against the lab's coturn, whose answers (from
# both server addresses and ports) the router's input chain lets in.
lab_upnp_start() {
	local p=$1 side=$2 dir ns conf lannet
	dir=$(lab_dir "$p")
	ns=$(lab_ns "$p" "nat$side")
	if lab_upnp_pid "$p" "$side" >/dev/null; then
		return 0
	fi
	lannet=LAB_LANNET_$side
	lannet=${!lannet}
	ip netns exec "$ns" nft -f - <<EOF
table inet $LAB_UPNP_TABLE {
	chain forward {
		type filter hook forward priority filter - 1; policy accept;
		jump miniupnpd
	}
	chain miniupnpd {
	}
	chain prerouting {
		type nat hook prerouting priority dstnat - 1; policy accept;
		jump prerouting_miniupnpd
	}
	chain postrouting {
		type nat hook postrouting priority srcnat - 1; policy accept;
		jump postrouting_miniupnpd
	}
	chain prerouting_miniupnpd {
	}
	chain postrouting_miniupnpd {
	}
}
EOF
	if ! ip netns exec "$ns" nft list chain ip wgstunlab input | grep -q 'stun answers for miniupnpd'; then
		ip netns exec "$ns" nft insert rule ip wgstunlab input iifname '"wan"' ip saddr "$LAB_SRV_NET" \
			udp sport "{ $LAB_STUN_PORT, $LAB_STUN_ALT_PORT }" accept comment '"stun answers for miniupnpd"'
	fi
	conf=$dir/run/upnp-$side.conf
	cat >"$conf" <<EOF
ext_ifname=wan
ext_perform_stun=yes
ext_stun_host=$LAB_STUN1
ext_stun_port=$LAB_STUN_PORT
listening_ip=lan
http_port=0
enable_upnp=no
enable_natpmp=yes
secure_mode=yes
lease_file=$dir/run/upnp-$side.leases
upnp_table_name=$LAB_UPNP_TABLE
upnp_nat_table_name=$LAB_UPNP_TABLE
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
min_lifetime=120
max_lifetime=86400
uuid=3d3cec3a-8cf0-11e0-98ee-00163e00000$side
allow 1024-65535 $lannet 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
	ip netns exec "$ns" miniupnpd -d -f "$conf" -P "$dir/run/upnp-$side.self.pid" \
		</dev/null >>"$dir/log/miniupnpd-$side.log" 2>&1 &
	echo $! >"$dir/run/upnp-$side.pid"
	lab_wait "miniupnpd on nat$side" 100 lab_upnp_listening "$ns" ||
		lab_die "miniupnpd did not start listening on port 5351; see $dir/log/miniupnpd-$side.log"
}

lab_upnp_listening() {
	ip netns exec "$1" ss -Hlun 'sport = :5351' | grep -q .
}

lab_upnp_stop() {
	local pid
	if pid=$(lab_upnp_pid "$1" "$2"); then
		lab_kill_wait "$pid"
	fi
	rm -f "$(lab_dir "$1")/run/upnp-$2.pid"
}

# lab_upnp_forget PREFIX SIDE: what a rebooted gateway has lost: the
# lease file, miniupnpd's rules and the connection tracking table.
lab_upnp_forget() {
	local ns chain
	ns=$(lab_ns "$1" "nat$2")
	rm -f "$(lab_dir "$1")/run/upnp-$2.leases"
	for chain in miniupnpd prerouting_miniupnpd postrouting_miniupnpd; do
		ip netns exec "$ns" nft flush chain inet "$LAB_UPNP_TABLE" "$chain" 2>/dev/null || true
	done
	lab_flush_conntrack "$1" "$2"
}

lab_require_up() {
	lab_check_prefix "$1"
	[[ -f $(lab_dir "$1")/lab.env ]] || lab_die "lab $1 is not up"
}

lab_main() {
	local cmd=${1:-}
	(($# > 0)) && shift
	if (($# > 0)) && [[ $cmd != up ]] && [[ ${1:-} =~ ^[a-z][a-z0-9]{1,7}$ ]]; then
		lab_same "$1" || true
	fi
	case $cmd in
	up)
		(($# == 3)) || lab_die "usage: lab.sh up PREFIX NAT_A NAT_B"
		lab_up "$@"
		;;
	wg)
		(($# == 1)) || lab_die "usage: lab.sh wg PREFIX"
		lab_wg "$1"
		;;
	down)
		(($# == 1)) || lab_die "usage: lab.sh down PREFIX"
		lab_down "$1"
		;;
	env)
		(($# == 1)) || lab_die "usage: lab.sh env PREFIX"
		lab_require_up "$1"
		cat "$(lab_dir "$1")/lab.env"
		;;
	diag)
		(($# == 1)) || lab_die "usage: lab.sh diag PREFIX"
		lab_diag "$1"
		;;
	exec)
		(($# >= 3)) || lab_die "usage: lab.sh exec PREFIX a|b|nata|natb|inet CMD..."
		lab_check_prefix "$1"
		case $2 in a | b | nata | natb | inet) ;; *) lab_die "bad namespace role '$2': want a, b, nata, natb or inet" ;; esac
		local ns
		ns=$(lab_ns "$1" "$2")
		lab_ns_exists "$ns" || lab_die "no namespace $ns"
		shift 2
		exec ip netns exec "$ns" "$@"
		;;
	flush-conntrack)
		(($# == 2)) || lab_die "usage: lab.sh flush-conntrack PREFIX a|b"
		lab_require_up "$1"
		lab_check_side "$2"
		lab_flush_conntrack "$1" "$2"
		;;
	wan-readdress)
		(($# == 3)) || lab_die "usage: lab.sh wan-readdress PREFIX a|b NEWADDR"
		lab_require_up "$1"
		lab_check_side "$2"
		if ! [[ $3 =~ ^203\.0\.113\.([0-9]{1,3})$ ]] || ((BASH_REMATCH[1] < 2 || BASH_REMATCH[1] > 254)); then
			lab_die "bad WAN address '$3': want 203.0.113.2 - 203.0.113.254"
		fi
		local other
		if [[ $2 == a ]]; then other=b; else other=a; fi
		[[ $3 != "$(lab_wan_addr "$1" "$other")" ]] || lab_die "WAN address $3 is in use by nat$other"
		lab_wan_set "$1" "$2" "$3"
		lab_nat_apply "$1" "$2"
		lab_write_env "$1"
		;;
	nat-restart)
		(($# == 2 || $# == 3)) || lab_die "usage: lab.sh nat-restart PREFIX a|b [NEWPORT]"
		lab_require_up "$1"
		lab_check_side "$2"
		local portfile
		portfile=$(lab_dir "$1")/run/nat-$2.port
		if (($# == 3)); then
			lab_check_port "$3"
			[[ $(<"$(lab_dir "$1")/run/nat-$2.type") == port-restricted-cone ]] ||
				lab_die "nat-restart with a new port needs a port-restricted-cone NAT; nat$2 is $(<"$(lab_dir "$1")/run/nat-$2.type")"
			printf '%s\n' "$((10#$3))" >"$portfile"
		else
			rm -f "$portfile"
		fi
		lab_nat_apply "$1" "$2"
		;;
	wg-recreate)
		(($# == 2 || $# == 3)) || lab_die "usage: lab.sh wg-recreate PREFIX a|b [PORT]"
		lab_require_up "$1"
		lab_require_wg "$1"
		lab_check_side "$2"
		local port=$LAB_WG_PORT
		if (($# == 3)); then
			lab_check_port "$3"
			port=$((10#$3))
		fi
		lab_wg_recreate "$1" "$2" "$port"
		;;
	wg-wipe)
		(($# == 2)) || lab_die "usage: lab.sh wg-wipe PREFIX a|b"
		lab_require_up "$1"
		lab_require_wg "$1"
		lab_check_side "$2"
		lab_wg_wipe "$1" "$2"
		;;
	wg-bogus)
		(($# == 3)) || lab_die "usage: lab.sh wg-bogus PREFIX a|b ADDR:PORT"
		lab_require_up "$1"
		lab_require_wg "$1"
		lab_check_side "$2"
		lab_wg_bogus "$1" "$2" "$3"
		;;
	stun-stop | stun-start)
		(($# == 1 || $# == 2)) || lab_die "usage: lab.sh $cmd PREFIX [1|2]"
		lab_require_up "$1"
		if (($# == 2)); then
			if [[ $cmd == stun-stop ]]; then lab_stun_block "$1" "$2" on; else lab_stun_block "$1" "$2" off; fi
		elif [[ $cmd == stun-stop ]]; then
			lab_stun_stop "$1"
		else
			lab_stun_start "$1"
		fi
		;;
	upnp-start | upnp-stop | upnp-restart | upnp-rules)
		(($# == 2)) || lab_die "usage: lab.sh $cmd PREFIX a|b"
		lab_require_up "$1"
		lab_check_side "$2"
		case $cmd in
		upnp-start) lab_upnp_start "$1" "$2" ;;
		upnp-stop) lab_upnp_stop "$1" "$2" ;;
		upnp-restart)
			lab_upnp_stop "$1" "$2"
			lab_upnp_forget "$1" "$2"
			lab_upnp_start "$1" "$2"
			;;
		upnp-rules) ip netns exec "$(lab_ns "$1" "nat$2")" nft list chain inet "$LAB_UPNP_TABLE" prerouting_miniupnpd ;;
		esac
		;;
	*)
		lab_die "usage: lab.sh up|wg|down|env|diag|exec|flush-conntrack|wan-readdress|nat-restart|wg-recreate|wg-wipe|wg-bogus|stun-stop|stun-start|upnp-start|upnp-stop|upnp-restart|upnp-rules PREFIX ..."
		;;
	esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	[[ $(id -u) == 0 ]] || lab_die "must run as root"
	lab_main "$@"
fi
