#!/bin/bash
# e2e-job.sh OUT: the guest's half of vmtest.sh, run by stage2.sh inside
# the guest. It runs the prebuilt e2e test binary on kernel WireGuard
# (LAB_WG=kernel, CI=true so a missing tool fails) from src/e2e, writing
# the go test -v output to OUT/e2e.log and a short progress to the
# console; meanwhile it samples every lab namespace, recording in
# OUT/watch.log whether wireguard links were kernel ones and whether a
# wireguard-go process ever ran. Exits non-zero when a test failed, no
# kernel WireGuard link was seen, or wireguard-go was.

set -u
out=$1
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$repo/build/vm
VM_TEST_RUN=.
VM_TEST_TIMEOUT=12m
# shellcheck source=/dev/null
. "$out/job.env"

export LAB_WG=kernel CI=true
export WGSTUN_E2E_BIN=$bin/wgstun WGSTUN_E2E_BIN_RFC2136=$bin/wgstun-rfc2136

say() { printf 'vm-job: %s\n' "$*"; }

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

# watch: every 3 s, the kernel WireGuard links of every namespace, and
# any wireguard-go. Bounded: at most an hour of samples.
stop=/run/vm/watch.stop
watch() {
	local i ns n links=0 most=0 seen="" gos=0 sample=""
	for ((i = 0; i < 1200; i++)); do
		[[ -e $stop ]] && break
		if pgrep -x wireguard-go >/dev/null; then
			gos=$((gos + 1))
			printf 'wireguard-go running: %s\n' "$(pgrep -a -x wireguard-go | tr '\n' ' ')" >>"$out/watch.log"
		fi
		n=0
		for ns in $(ip netns list | cut -d' ' -f1); do
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
		sleep 3
	done
	{
		printf 'kernel wireguard links: at most %d at once over %d samples%s\n' "$most" "$i" "${seen:+ (e.g. $sample)}"
		printf 'wireguard-go seen in %d samples\n' "$gos"
	} >>"$out/watch.log"
}
: >"$out/watch.log"
watch &
watcher=$!

cd "$repo/src/e2e" || exit 3
say "go test -run '$VM_TEST_RUN' -timeout $VM_TEST_TIMEOUT on kernel WireGuard"
start=$SECONDS
"$bin/e2e.test" -test.v -test.count=1 -test.timeout="$VM_TEST_TIMEOUT" -test.run "$VM_TEST_RUN" 2>&1 |
	tee "$out/e2e.log" | grep --line-buffered -E '^ *--- |^(ok|PASS|FAIL|panic)'
rc=${PIPESTATUS[0]}
say "tests exited $rc after $((SECONDS - start)) s"
touch "$stop"
wait "$watcher"
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
