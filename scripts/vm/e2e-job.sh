#!/bin/bash
# e2e-job.sh OUT: the guest's half of vmtest.sh, run by stage2.sh inside
# the guest. It runs the prebuilt e2e test binary on kernel WireGuard
# (LAB_WG=kernel, CI=true so a missing tool fails) from src/internal/e2e, writing
# the go test -v output to OUT/e2e.log, one line per test group with its
# exit code and time to OUT/groups.log and a short progress to the
# console; meanwhile it samples every lab namespace, recording in
# OUT/watch.log whether wireguard links were kernel ones and whether a
# wireguard-go process ever ran; syslog goes to OUT/syslog.log. Exits non-zero when a test failed, no
# kernel WireGuard link was seen, or wireguard-go was.

set -u
out=$1
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_BIN=$repo/build/vm # where vmtest.sh built the binaries (its VM_BUILD), from job.env
VM_TEST_RUN=.
VM_TEST_TIMEOUT=8m
# shellcheck source=/dev/null
. "$out/job.env"
bin=$VM_BIN

export LAB_WG=kernel CI=true
export WGSTUN_E2E_BIN=$bin/wgstun WGSTUN_E2E_BIN_RFC2136=$bin/rfc2136/wgstun

say() { printf 'vm-job: %s\n' "$*"; }

# Programs that log to syslog (miniupnpd) would write on the console,
# burying the tests' progress: a syslogd keeps them in OUT/syslog.log.
"$bin/busybox/bin/busybox" syslogd -n -O "$out/syslog.log" &
syslogd=$!

# The kernel loads these on demand too; loading them first makes a
# missing one fail here, by name.
for m in wireguard veth bridge nf_tables nft_nat nft_masq nft_ct nf_conntrack_netlink nft_chain_nat; do
	if ! modprobe "$m"; then
		say "modprobe $m failed"
		exit 3
	fi
done
if ! ip link add vmwgcheck type wireguard || ! ip -d link show vmwgcheck | grep -qw wireguard; then
	say "the kernel makes no wireguard link"
	exit 3
fi
ip link del vmwgcheck

# Every program the lab runs, run once: the first read of a binary and its
# libraries over 9p is slow under emulation, and the first lab up would
# pay for all of them at once.
warm=$SECONDS
for cmd in "ip -V" "nft -v" "conntrack -V" "wg --version" "turnserver -h" "turnutils_stunclient -h" \
	"knotd -V" "kdig -V" "knotc -V" "miniupnpd --version" "ping -V" "ss -V" "sysctl -V" "nsenter -V" \
	"$bin/wgstun version" "$bin/rfc2136/wgstun version"; do
	# shellcheck disable=SC2086 # a command and its words
	timeout 30 $cmd </dev/null >/dev/null 2>&1 || true
done
say "lab programs loaded in $((SECONDS - warm)) s"

# watch: every 10 s, the kernel WireGuard links of every peer namespace
# (PREFIX-a, PREFIX-b), and any wireguard-go; few programs, as each start
# costs the emulated guest. Bounded: at most 360 samples, an hour.
stop=/run/vm/watch.stop
watch() {
	local i ns n links=0 most=0 seen="" gos=0 sample=""
	for ((i = 0; i < 360; i++)); do
		[[ -e $stop ]] && break
		if pgrep -x wireguard-go >/dev/null; then
			gos=$((gos + 1))
			printf 'wireguard-go running: %s\n' "$(pgrep -a -x wireguard-go | tr '\n' ' ')" >>"$out/watch.log"
		fi
		n=0
		for ns in $(ip netns list | cut -d' ' -f1 | grep -E -- '-(a|b)$'); do
			links=$(ip -n "$ns" -d link show type wireguard 2>/dev/null | grep -cw wireguard) || true
			n=$((n + links))
			if ((links > 0)) && [[ -z $sample ]]; then
				sample="$ns: $(ip -n "$ns" -d link show type wireguard | tr -s ' \n' ' ')"
			fi
			if ((links > 0)); then
				seen=1
			fi
		done
		((n > most)) && most=$n
		sleep 10
	done
	{
		printf 'kernel wireguard links: at most %d at once over %d samples%s\n' "$most" "$i" "${seen:+ (e.g. $sample)}"
		printf 'wireguard-go seen in %d samples\n' "$gos"
	} >>"$out/watch.log"
}
: >"$out/watch.log"
watch &
watcher=$!

# The groups, one go test run each, in this order: NAME RUN SKIP. "lab"
# is every test the others leave (the lab's own tests and the pure ones).
big='^(TestNATMatrix|TestFaults|TestRFC2136StoreConnects|TestPortMapping|TestNATCheckLab)$'
groups=(
	lab . "$big"
	matrix '^TestNATMatrix$' ''
	faults '^TestFaults$' '^TestFaults$/^exec_store_hangs$'
	# Alone: with a second lab beside it, its plugin's calls (sh, cat,
	# mv) ran past the 3 s plugin timeout in the emulated guest.
	faults-exec '^TestFaults$/^exec_store_hangs$' ''
	rfc2136 '^TestRFC2136StoreConnects$' ''
	portmap '^TestPortMapping$' ''
	natcheck '^TestNATCheckLab$' ''
)
if [[ $VM_TEST_RUN != . ]]; then
	groups=(custom "$VM_TEST_RUN" '')
fi

cd "$repo/src/internal/e2e" || exit 3
: >"$out/e2e.log"
: >"$out/groups.log"
rc=0
for ((g = 0; g < ${#groups[@]}; g += 3)); do
	name=${groups[g]} run=${groups[g + 1]} skip=${groups[g + 2]}
	say "group $name: go test -run $run${skip:+ -skip $skip} -timeout $VM_TEST_TIMEOUT on kernel WireGuard"
	printf '=== GROUP %s\n' "$name" >>"$out/e2e.log"
	start=$SECONDS
	"$bin/e2e.test" -test.v -test.count=1 -test.timeout="$VM_TEST_TIMEOUT" -test.run "$run" ${skip:+-test.skip "$skip"} 2>&1 |
		tee -a "$out/e2e.log" | grep --line-buffered -E '^ *--- (FAIL|SKIP)|^--- |^(ok|PASS|FAIL|panic)'
	grc=${PIPESTATUS[0]}
	printf '%-11s exit %d  %4d s\n' "$name" "$grc" "$((SECONDS - start))" >>"$out/groups.log"
	say "group $name exited $grc after $((SECONDS - start)) s"
	((grc == 0)) || rc=$grc
	sync
done
touch "$stop"
wait "$watcher"
kill "$syslogd" 2>/dev/null
sync
if ((rc == 0)); then
	if ! grep -q 'wireguard-go seen in 0 samples' "$out/watch.log"; then
		say "wireguard-go ran during the tests"
		rc=4
	elif ! grep -q 'links: at most [1-9]' "$out/watch.log"; then
		say "no kernel WireGuard link was ever seen"
		rc=4
	fi
fi
exit "$rc"
