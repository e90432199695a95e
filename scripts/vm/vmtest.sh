#!/usr/bin/env bash
# vmtest.sh: wgstun's end-to-end tests on kernel WireGuard. The host's
# kernel has no WireGuard (and no modules at all), so this boots Debian's
# own x86_64 kernel under qemu (TCG: no KVM needed) with the host's / as
# the guest's read-only root (9p, under a tmpfs overlay) and runs the e2e
# test binary there with LAB_WG=kernel and CI=true: the NAT matrix, the
# fault drills, the store, port mapping and nat-check tests and the lab's
# own tests. While the tests run the guest checks that every lab
# WireGuard interface is a kernel one (ip -d link: wireguard) and that no
# wireguard-go ever runs.
#
# Usage: scripts/vm/vmtest.sh          (as root, from anywhere)
# Environment:
#   VM_TEST_RUN       go test -run pattern, one run (default: every e2e test,
#                     in groups: lab, matrix, faults, faults-exec, rfc2136,
#                     portmap, natcheck)
#   VM_TEST_TIMEOUT   go test -timeout of each group (default 8m)
#   VM_TIMEOUT        seconds before the guest counts as hung (default 900)
#   VM_MEM            guest memory in MiB (default 2048)
#   VM_BUILD          build and cache directory (default build/vm)
#   VM_JOB            the guest's job, a bash script taking the out
#                     directory (default scripts/vm/e2e-job.sh)
#
# Cached in VM_BUILD: the Debian packages (the current ABI, asked of apt),
# their unpacked trees, modules.dep and the initramfs; each is reused while
# it is still the newest. The Go binaries are built each run (go's cache
# makes that cheap). Results: VM_BUILD/out/ (e2e.log, groups.log,
# watch.log, syslog.log, rc) and VM_BUILD/console.log. With WGSTUN_TESTREPORT set (make
# test), each group is a row of scripts/testreport.sh's table.
#
# The guest reads the host's tree through a caching 9p mount: do not edit
# the tree (or rebuild into VM_BUILD) while it runs.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/vm/lib.sh
. "$here/lib.sh"

arch=amd64
build=${VM_BUILD:-$repo/build/vm}
test_run=${VM_TEST_RUN:-.}
test_timeout=${VM_TEST_TIMEOUT:-8m}
limit=${VM_TIMEOUT:-900}
mem=${VM_MEM:-2048}
job=${VM_JOB:-$here/e2e-job.sh}
# Modules the initramfs needs to reach the host's /; the rest the guest's
# kernel loads by itself through busybox modprobe.
initramfs_modules=(virtio_pci 9pnet_virtio 9p overlay)

[[ $(id -u) == 0 ]] || vm_die "must run as root (qemu exports the host's / read-only)"
for tool in qemu-system-x86_64 dpkg-deb apt-get cpio gzip timeout go; do
	command -v "$tool" >/dev/null || vm_die "missing $tool (scripts/deps.sh installs it)"
done
[[ $limit =~ ^[0-9]+$ ]] || vm_die "VM_TIMEOUT=$limit: want seconds"
[[ $mem =~ ^[0-9]+$ ]] || vm_die "VM_MEM=$mem: want MiB"
job=$(realpath -e "$job" 2>/dev/null) || vm_die "VM_JOB: no job ${VM_JOB:-}"
[[ $job != *[[:space:]]* ]] || vm_die "VM_JOB: no spaces in the job's path, please: $job"

trap vm_cleanup EXIT
t0=$SECONDS
mkdir -p "$build/debs"
VM_APT_STAMP=$build/.apt-updated.$$
VM_CLEANUP+=("$VM_APT_STAMP")

# The kernel and a static busybox, by name, the ABI resolved now; stale
# package lists may name a kernel the archive no longer has: then again
# after apt-get update.
kpkg=$(vm_kernel_pkg "$arch" "$arch")
if ! kdeb=$(vm_deb_fetch "$build/debs" "$kpkg-unsigned" "$arch"); then
	vm_apt_update
	kpkg=$(vm_kernel_pkg "$arch" "$arch")
	kdeb=$(vm_deb_fetch "$build/debs" "$kpkg-unsigned" "$arch")
fi
bdeb=$(vm_deb_fetch "$build/debs" busybox-static "$arch")
vm_deb_unpack "$kdeb" "$build/kernel"
vm_deb_unpack "$bdeb" "$build/busybox"
busybox=$build/busybox/bin/busybox
[[ -x $busybox ]] || vm_die "no busybox in $bdeb"
kver=$(vm_kver "$build/kernel")
vmlinuz=$build/kernel/boot/vmlinuz-$kver
[[ -f $vmlinuz ]] || vm_die "no $vmlinuz in $kdeb"
vm_depmod "$busybox" "$build/kernel" "$kver"
vm_initramfs "$build/initramfs.gz" "$busybox" "$here/init.sh" "$build/kernel" "$kver" "${initramfs_modules[@]}"
vm_log "kernel $kver ($(basename "$kdeb")), prepared in $((SECONDS - t0)) s"

# The binaries the guest runs: it has the host's files but no compiling.
t1=$SECONDS
(
	cd "$repo"
	export CGO_ENABLED=0
	go build -o "$build/wgstun" ./src/cmd/wgstun
	# The tests name log files after the binary: both are "wgstun".
	go build -tags rfc2136 -o "$build/rfc2136/wgstun" ./src/cmd/wgstun
	go test -c -o "$build/e2e.test" ./src/internal/e2e
) || vm_die "building the binaries"
vm_log "binaries built in $((SECONDS - t1)) s"

out=$build/out
rm -rf "$out"
mkdir -p "$out"
{
	printf 'VM_TEST_RUN=%q\n' "$test_run"
	printf 'VM_BIN=%q\n' "$build"
	printf 'VM_TEST_TIMEOUT=%q\n' "$test_timeout"
} >"$out/job.env"
console=$build/console.log

cmdline="console=ttyS0 panic=-1 loglevel=4 vm_stage2=$here/stage2.sh vm_job=$job"
cmdline+=" vm_busybox=$busybox vm_modules=$build/kernel/lib/modules/$kver"
vm_log "booting the guest (at most $limit s)"
t2=$SECONDS
rc=0
vm_qemu_run "$limit" "$console" qemu-system-x86_64 \
	-accel tcg,thread=multi -smp 2 -m "$mem" -nographic -no-reboot -nic none \
	-kernel "$vmlinuz" -initrd "$build/initramfs.gz" -append "$cmdline" \
	-virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$out,mount_tag=out,security_model=none,multidevs=remap" || rc=$?
wall=$((SECONDS - t2))

# The summary: what ran, what passed, how long each top-level test took.
log=$out/e2e.log
boot=$(sed -n 's/.*vm-stage2: up after \([0-9.]*\) s.*/\1/p' "$console" | head -n 1)
echo "== vmtest: guest ran $wall s (shell at ${boot:-?} s guest uptime), kernel $kver"
if [[ -f $log ]]; then
	grep -E '^--- (FAIL|SKIP)' "$log" | sed 's/^/   /' || true
	pass=$(grep -cE '^ *--- PASS' "$log" || true)
	fail=$(grep -cE '^ *--- FAIL' "$log" || true)
	skip=$(grep -cE '^ *--- SKIP' "$log" || true)
	echo "== tests and subtests on kernel WireGuard:"
	echo "vmtest: $pass passed, $fail failed, $skip skipped"
fi
# make test's table (scripts/testreport.sh): one row per group.
if [[ -n ${WGSTUN_TESTREPORT:-} && -f $repo/scripts/testreport.sh && -f $out/groups.log ]]; then
	while read -r name _ grc secs _; do
		counts=$(awk -v g="$name" '/^=== GROUP / { in_g = ($3 == g) } in_g && /^ *--- PASS/ { p++ } in_g && /^ *--- FAIL/ { f++ }
			END { print p + 0, f + 0 }' "$log")
		read -r gpass gfail <<<"$counts"
		if ((grc != 0 && gfail == 0)); then gfail=1; fi
		bash "$repo/scripts/testreport.sh" add "qemu x86_64 guest, kernel WireGuard" "e2e: $name" "$gpass" "$gfail" "$secs"
	done <"$out/groups.log"
fi
if [[ -f $out/groups.log ]]; then
	echo "== test groups (go test runs, in order):"
	sed 's/^/   /' "$out/groups.log"
fi
if [[ -f $out/watch.log ]]; then
	sed 's/^/   /' "$out/watch.log"
fi

fail=""
if ((rc == 124 || rc == 137)); then
	fail="the guest hung or ran out of time: no poweroff within $limit s (qemu killed)"
elif ((rc != 0)); then
	fail="qemu exited $rc"
elif grep -q VM-INIT-FAILED "$console"; then
	fail="the guest's initramfs failed"
elif [[ ! -f $out/rc ]]; then
	fail="the guest powered off without a result"
elif [[ $(<"$out/rc") != 0 ]]; then
	fail="the guest's tests failed (exit $(<"$out/rc"))"
fi
if [[ -n $fail ]]; then
	echo "== last 60 console lines ($console):"
	vm_console_tail "$console" 60
	if [[ -f $log ]] && grep -qE '^ *--- FAIL|^FAIL|^panic' "$log"; then
		echo "== failures in $log:"
		grep -nE '^ *--- FAIL|^FAIL|^panic' "$log" | head -n 40
	fi
	if [[ -n ${WGSTUN_TESTREPORT:-} && -f $repo/scripts/testreport.sh ]] && { ((rc != 0)) || [[ ! -f $out/rc ]]; }; then
		bash "$repo/scripts/testreport.sh" add "qemu x86_64 guest, kernel WireGuard" "the guest: $fail" 0 1 "$wall"
	fi
	vm_die "$fail (total $((SECONDS - t0)) s)"
fi
echo "== vmtest passed in $((SECONDS - t0)) s"
