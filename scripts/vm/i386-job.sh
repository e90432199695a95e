#!/bin/bash
# i386-job.sh OUT: a guest job for vmtest.sh (VM_JOB) that runs the 386
# unit test binaries crosstest.sh built into build/vm/i386 on Debian's
# x86_64 kernel, which runs 32-bit x86 programs natively (IA32
# emulation). qemu user mode cannot stand in here: qemu-i386 crashes the Go
# runtime ("bad g in signal handler", "morestack on g0"). Each binary runs
# in its package's folder, as go test would; the go test -v output of all
# of them goes to OUT/e2e.log (the name vmtest.sh summarises) and one line
# per binary, with its exit code and time, to OUT/groups.log. Exits
# non-zero when any binary failed or none was found.

set -u
out=$1
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=$repo/build/vm/i386
# CI: a missing tool fails; WGSTUN_KERNEL_WG: a missing kernel WireGuard fails.
export CI=true WGSTUN_KERNEL_WG=1

say() { printf 'vm-job: %s\n' "$*"; }

list=$dir/packages
if [[ ! -s $list ]]; then
	say "no $list: crosstest.sh builds the 386 test binaries first"
	exit 3
fi
# The kernel would load these on demand; loading them first makes a
# missing one fail here, by name.
for m in wireguard veth tun; do
	if ! modprobe "$m"; then
		say "modprobe $m failed"
		exit 3
	fi
done
uname -m >"$out/uname"
rc=0 n=0
# packages: one "BINARY PACKAGE-DIR" a line.
while read -r bin pkgdir; do
	n=$((n + 1))
	start=$SECONDS
	brc=0
	(cd "$repo/$pkgdir" && timeout 600 "$dir/$bin" -test.v -test.count=1 -test.timeout 9m) >>"$out/e2e.log" 2>&1 || brc=$?
	printf '%s exit %d in %d s\n' "$pkgdir" "$brc" $((SECONDS - start)) >>"$out/groups.log"
	say "$pkgdir: exit $brc in $((SECONDS - start)) s"
	((brc == 0)) || rc=1
done <"$list"
((n > 0)) || rc=3
exit "$rc"
