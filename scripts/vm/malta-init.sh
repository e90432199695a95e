#!/bin/sh
# shellcheck shell=sh
# malta-init.sh: /init of the initramfs malta.sh builds, run by busybox sh
# as PID 1 on the mipsel guest. It loads the kernel modules listed in
# /etc/modules, mounts the host's test share (virtio-9p, tag t) on /t, runs
# every test binary listed in /etc/malta-tests ("NAME SECONDS":
# /t/NAME/NAME.test, in a tmpfs copy of its directory), then brings up a kernel WireGuard pair, a and b, each
# behind its own nftables NAT router (nata, natb: masquerade, replies only,
# which is Linux's port-preserving, port-restricted cone) on an "internet"
# namespace running the STUN responder, and lets the mipsle wgstun connect
# them over a file store. Last it reads the daemons' memory and CPU time.
#
# Results go to the console as lines starting with "MALTA " (malta.sh
# parses them): BOOT, TEST, PAIR, MEM and DONE, the last one always,
# followed by poweroff.

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /var /root
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/lib/mipsel-linux-gnu:/usr/lib/mipsel-linux-gnu
export HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
[ -e /var/run ] || ln -s /run /var/run
[ -e /sbin/modprobe ] || ln -s /bin/busybox /sbin/modprobe
echo 1 >/proc/sys/kernel/printk

# iproute2's ip, not busybox's applet, which busybox sh would prefer.
IP=/bin/ip
NFT=/usr/sbin/nft
WG=/usr/bin/wg

say() { echo "MALTA $*"; }

# now: milliseconds since boot.
now() {
	read -r up _ </proc/uptime
	echo "$((${up%.*} * 1000 + 1${up#*.} * 10 - 1000))"
}

# secs FROM TO: TO-FROM milliseconds as seconds with two decimals.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }

finish() {
	say DONE
	sync
	poweroff -f
	sleep 10
}

say BOOT "$(secs 0 "$(now)")"
grep MemTotal /proc/meminfo
if ! $IP -V 2>&1 | grep -q iproute2; then
	echo "malta-init: /bin/ip is not iproute2's"
	finish
fi
while read -r m; do
	modprobe "$m" || echo "malta-init: modprobe $m failed"
done </etc/modules
$IP link set lo up
mkdir -p /t
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose t /t; then
	echo "malta-init: cannot mount the test share"
	finish
fi

# run_test NAME SECONDS: one test binary, killed after SECONDS.
run_test() {
	name=$1
	limit=$2
	log=/tmp/$name.log
	# Executing from 9p fails on this kernel (ENOTSOCK): the package
	# directory is copied to tmpfs for the run.
	rm -rf "/tmp/run"
	cp -a "/t/$name" /tmp/run || {
		say TEST "$name" FAIL 0 "copy from the test share failed"
		return
	}
	t0=$(now)
	(cd /tmp/run && WGSTUN_KERNEL_WG=1 exec timeout -s KILL "$limit" "./$name.test" -test.v \
		-test.timeout="$((limit - 5))s") </dev/null >"$log" 2>&1
	rc=$?
	t1=$(now)
	rm -rf /tmp/run
	pass=$(grep -c -- '--- PASS' "$log")
	skip=$(grep -c -- '--- SKIP' "$log")
	failed=$(grep -c -- '--- FAIL' "$log")
	# The top-level tests that passed, on one line; a skip's reason is
	# logged just before its "--- SKIP" line.
	awk '/^--- PASS: / { s = s " " $3 } END { if (s != "") print "  passed:" s }' "$log"
	awk '/--- SKIP/ { print "  " prev; print "  " $0 } { prev = $0 }' "$log"
	if [ "$rc" -eq 0 ]; then
		res=PASS
	else
		res=FAIL
		grep -- '--- FAIL' "$log" | sed 's/^/  /'
		grep -v -e '^ *=== ' -e '^ *--- PASS' "$log" | tail -n 80 | sed 's/^/  | /'
	fi
	say TEST "$name" "$res" "$(secs "$t0" "$t1")" "pass=$pass fail=$failed skip=$skip rc=$rc"
}

while read -r name limit; do
	[ -n "$name" ] && run_test "$name" "$limit"
done </etc/malta-tests

inns() {
	ns=$1
	shift
	$IP netns exec "$ns" "$@"
}

# nat_rules LANNET: a NAT router's ruleset: port-preserving masquerade,
# only replies come in.
nat_rules() {
	cat <<EOF
table ip nat {
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "wan" ct state established,related accept
		iifname "wan" icmp type echo-request accept
		iifname "wan" drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		iifname "lan" oifname "wan" accept
		iifname "wan" oifname "lan" ct state established,related accept
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" ip saddr $1 masquerade
	}
}
EOF
}

fail_pair() {
	say PAIR FAILED "$*"
	for f in /tmp/wgstun-a.log /tmp/wgstun-b.log /tmp/stun.log; do
		[ -f "$f" ] || continue
		echo "--- last lines of $f"
		tail -n 25 "$f" | sed 's/^/  | /'
	done
	for ns in a b; do
		echo "--- wg show in $ns"
		inns "$ns" $WG show 2>&1 | sed 's/^/  | /'
	done
	finish
}

# pair_setup: the namespaces, links, NAT rules and WireGuard links.
pair_setup() {
	for ns in inet nata natb a b; do
		$IP netns add "$ns" || return 1
		inns "$ns" $IP link set lo up || return 1
	done
	$IP link add ia netns inet type veth peer name wan netns nata &&
		$IP link add ib netns inet type veth peer name wan netns natb &&
		$IP link add lan netns nata type veth peer name eth0 netns a &&
		$IP link add lan netns natb type veth peer name eth0 netns b || return 1
	inns inet $IP addr add 203.0.113.1/30 dev ia &&
		inns inet $IP addr add 203.0.113.5/30 dev ib &&
		inns inet $IP addr add 198.51.100.1/32 dev lo &&
		inns inet $IP addr add 198.51.100.2/32 dev lo &&
		inns nata $IP addr add 203.0.113.2/30 dev wan &&
		inns nata $IP addr add 10.1.0.1/24 dev lan &&
		inns natb $IP addr add 203.0.113.6/30 dev wan &&
		inns natb $IP addr add 10.2.0.1/24 dev lan &&
		inns a $IP addr add 10.1.0.2/24 dev eth0 &&
		inns b $IP addr add 10.2.0.2/24 dev eth0 || return 1
	for l in "inet ia" "inet ib" "nata wan" "nata lan" "natb wan" "natb lan" "a eth0" "b eth0"; do
		# shellcheck disable=SC2086 # "NS LINK"
		set -- $l
		inns "$1" $IP link set "$2" up || return 1
	done
	inns nata $IP route add default via 203.0.113.1 &&
		inns natb $IP route add default via 203.0.113.5 &&
		inns a $IP route add default via 10.1.0.1 &&
		inns b $IP route add default via 10.2.0.1 || return 1
	for ns in inet nata natb; do
		inns "$ns" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward' || return 1
	done
	nat_rules 10.1.0.0/24 | inns nata $NFT -f - || return 1
	nat_rules 10.2.0.0/24 | inns natb $NFT -f - || return 1

	inns a $IP link add wga type wireguard &&
		inns a $WG set wga private-key /etc/malta/a.key listen-port 51820 \
			peer "$(cat /etc/malta/b.pub)" allowed-ips 10.77.0.2/32 persistent-keepalive 25 &&
		inns a $IP addr add 10.77.0.1/24 dev wga &&
		inns a $IP link set wga up || return 1
	inns b $IP link add wgb type wireguard &&
		inns b $WG set wgb private-key /etc/malta/b.key listen-port 51821 \
			peer "$(cat /etc/malta/a.pub)" allowed-ips 10.77.0.1/32 persistent-keepalive 25 &&
		inns b $IP addr add 10.77.0.2/24 dev wgb &&
		inns b $IP link set wgb up || return 1
}

# wgstun_config SIDE IFACE: side's configuration, as src/internal/e2e's startWgstun
# writes it (one store, refresh 1m).
wgstun_config() {
	cat <<EOF
[log]
level = "debug"
[daemon]
socket = "/run/malta/$1.sock"
state_dir = "/run/malta/$1-state"
[stun]
servers = ["198.51.100.1:3478", "198.51.100.2:3478"]
[store.s]
type = "file"
path = "/run/malta/store"
[[interface]]
name = "$2"
store = "s"
refresh = "1m"
EOF
}

# endpoint NS IFACE: the endpoint of IFACE's only peer.
endpoint() { inns "$1" $WG show "$2" endpoints 2>/dev/null | awk '{ print $2 }'; }

# proc_stats PID: "VmRSS VmHWM cpu-ticks" of PID.
proc_stats() {
	rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status")
	hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status")
	ticks=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat")
	echo "$rss $hwm $ticks"
}

mkdir -p /run/malta/store
pair_setup || fail_pair "setting up namespaces, NAT and WireGuard"
inns inet stunresponder -v -listen 198.51.100.1:3478,198.51.100.2:3478 >/tmp/stun.log 2>&1 &
wgstun_config a wga >/run/malta/a.toml
wgstun_config b wgb >/run/malta/b.toml
# The mappings the NAT routers make: WAN address, WireGuard's own port.
MAP_A=203.0.113.2:51820
MAP_B=203.0.113.6:51821
sleep 1

start=$(now)
# Not through inns: $! must be the ip process that becomes wgstun.
$IP netns exec a wgstun run -c /run/malta/a.toml >/tmp/wgstun-a.log 2>&1 &
PID_A=$!
$IP netns exec b wgstun run -c /run/malta/b.toml >/tmp/wgstun-b.log 2>&1 &
PID_B=$!

ep_a="" ep_b="" t_ep=""
while [ "$(($(now) - start))" -lt 60000 ]; do
	ep_a=$(endpoint a wga)
	ep_b=$(endpoint b wgb)
	if [ "$ep_a" = "$MAP_B" ] && [ "$ep_b" = "$MAP_A" ]; then
		t_ep=$(now)
		break
	fi
	sleep 0.2
done
[ -n "$t_ep" ] || fail_pair "endpoints after 60 s: a has '$ep_a' (want $MAP_B), b has '$ep_b' (want $MAP_A)"
for m in "$MAP_A" "$MAP_B"; do
	grep -q "^stunresponder: $m answered" /tmp/stun.log ||
		fail_pair "the STUN responder never saw the mapping $m"
done

t_ping=""
while [ "$(($(now) - start))" -lt 90000 ]; do
	if inns a ping -c 1 -W 1 10.77.0.2 >/dev/null 2>&1; then
		t_ping=$(now)
		break
	fi
done
[ -n "$t_ping" ] || fail_pair "no ping from a to b through the tunnel 30 s after the endpoints were set"
inns b ping -c 1 -W 2 10.77.0.1 >/dev/null 2>&1 || fail_pair "no ping from b to a through the tunnel"
# The control socket answers on MIPS too, and once the daemon has seen
# the handshake (it looks every few seconds) it says the peer is connected.
t_st=""
for side in a b; do
	while :; do
		st=$(inns "$side" wgstun status -s "/run/malta/$side.sock" 2>&1) || fail_pair "wgstun status in $side: $st"
		echo "$st" | grep -q ' connected' && break
		[ "$(($(now) - t_ping))" -lt 30000 ] || break
		sleep 0.5
	done
	echo "$st" | sed "s/^/  status $side | /"
	echo "$st" | grep -q ' connected' || fail_pair "wgstun status in $side does not say connected 30 s after the first ping"
done
t_st=$(now)
say PAIR CONNECTED "a_mapping=$ep_b b_mapping=$ep_a endpoints_s=$(secs "$start" "$t_ep") ping_s=$(secs "$start" "$t_ping")" \
	"status_connected_s=$(secs "$start" "$t_st")"

# Memory and CPU: VmRSS and VmHWM 45 s after the daemons started, their
# CPU time then, and the share of one CPU they used between the first ping
# and then (steady state). CPU ticks are USER_HZ, 100 on MIPS.
cpu0_a=$(proc_stats "$PID_A" | awk '{ print $3 }')
cpu0_b=$(proc_stats "$PID_B" | awk '{ print $3 }')
while [ "$(($(now) - start))" -lt 45000 ]; do
	sleep 1
done
t_mem=$(now)

# measure SIDE PID CPU0: one MEM line.
measure() {
	[ "$(cat "/proc/$2/comm" 2>/dev/null)" = wgstun ] || fail_pair "wgstun in $1 is gone"
	proc_stats "$2" | awk -v side="$1" -v cpu0="$3" -v a="$t_ping" -v b="$t_mem" -v s="$start" '{
		printf "MALTA MEM %s %s %s %.2f %.2f %.2f\n", side, $1, $2, $3 / 100, ($3 - cpu0) * 1000 / (b - a), (b - s) / 1000
	}'
}
measure a "$PID_A" "$cpu0_a"
measure b "$PID_B" "$cpu0_b"
# MALTA_SOAK_S (malta.sh): VmRSS of both every 30 s for that long more.
if [ -f /etc/malta-soak ]; then
	soak=$(cat /etc/malta-soak)
	t0=$(now)
	i=0
	while [ "$i" -le "$((soak / 30))" ]; do
		while [ "$(($(now) - t0))" -lt "$((i * 30000))" ]; do sleep 1; done
		ra=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$PID_A/status" 2>/dev/null)
		rb=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$PID_B/status" 2>/dev/null)
		say SOAK "$((i * 30))" "${ra:--}" "${rb:--}"
		i=$((i + 1))
	done
fi
kill "$PID_A" "$PID_B" 2>/dev/null
for side in a b; do
	grep -v -e 'level=DEBUG' -e 'level=INFO' "/tmp/wgstun-$side.log" | sed "s/^/  wgstun $side warns | /"
done
finish
