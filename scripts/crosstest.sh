#!/usr/bin/env bash
# crosstest.sh: go vet and the unit tests of every package that needs no
# real kernel, compiled for the routers' CPUs and run under qemu user mode
# (qemu-user-static from Debian): 32-bit little- and big-endian MIPS with
# soft float, ARMv7 and ARMv5, and arm64. What needs a real kernel
# (generic netlink, socket filters, SO_MARK, kernel WireGuard) runs in the
# malta guest instead (scripts/vm/malta.sh). 386 is different: qemu-i386
# crashes the Go runtime itself, so its test binaries (every package but
# the lab's, the kernel ones included) run in the x86_64 guest, whose
# Debian kernel runs 32-bit programs (scripts/vm/i386-job.sh).
#
#   crosstest.sh [ARCH...]    ARCH: mipsle mips armv7 armv5 arm64 386
#                             (default: all of them)
#
# Prints one table row per architecture (tests and subtests passed) and
# exits non-zero when any vet or test failed; the whole output is kept in
# build/crosstest/ARCH.log. With WGSTUN_TESTREPORT set, each row also goes to
# scripts/testreport.sh (make test's closing table).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH=$PATH:/usr/local/go/bin
export CGO_ENABLED=0

# Packages left out here, and why; each runs elsewhere.
#   src/internal/e2e    the NAT lab (host, wireguard-go; x86 guest, kernel WireGuard)
#   src/internal/wg     wgctrl speaks generic netlink, which qemu user mode does not
#                       emulate (malta guest)
#   linuxraw            SO_ATTACH_FILTER and SO_MARK are not emulated (malta guest)
#   src/internal/tools  benchmark fixtures and size probes, with no tests
excluded='/src/internal/e2e$|/src/internal/wg$|/linuxraw$|/src/internal/tools/'

# Single tests that check an answer of the Linux kernel which qemu user mode
# gives differently: "ARCHES PKG REGEX", ARCHES a comma list or *, REGEX for
# go test -skip. The same code runs on a real kernel in the guests.
skips=(
	# qemu answers an ioctl it does not know with ENOSYS; Linux says ENOTTY.
	"* bsdbpf ^TestPollSys$"
	# server_killed: qemu hands SO_ERROR's errno to the guest untranslated
	# (host 111, not MIPS's ECONNREFUSED 146), so a refused TCP connect looks
	# like another error on MIPS. server_stopped_...: a wall-clock bound (1 s
	# timeout, 1.5 s allowed) that emulation on a loaded machine overruns;
	# the host run checks it.
	"mipsle,mips src/internal/store/rfc2136 ^TestKnot$/^server_(killed|stopped_times_out_within_the_bound)$"
	"armv7,armv5,arm64 src/internal/store/rfc2136 ^TestKnot$/^server_stopped_times_out_within_the_bound$"
	# The same SO_ERROR errno, read back by egress.Dial after a refused
	# TCP connect.
	"mipsle,mips src/internal/egress ^TestDialTCPRefused$"
	# qemu does not byte-swap every rtnetlink address attribute for a
	# big-endian guest on a little-endian host: the standard library's
	# net.Interfaces fails with "parsenetlinkrouteattr: invalid argument".
	"mips bsdbpf ^TestListInterfacesHasLoopback$"
	# qemu user mode keeps prctl(PR_SET_CHILD_SUBREAPER) from the kernel, so
	# what a plugin orphans goes to init (the malta guest runs it).
	"* src/internal/store ^TestPluginSetsidEscapeKilled$"
	# SO_MARK is not emulated (as for linuxraw); the host and the 386 guest run it.
	"* src/internal/egress ^TestMarkApplied$"
)
# Tests that measure the process rather than the kernel's answers: they
# re-execute their own test binary (an ELF of another architecture, which
# the host kernel cannot start without binfmt) and read its peak RSS, which
# under emulation would be qemu's. They run on the host; the limits they
# check are also tested in-process (src/internal/config's TestHostile*).
skips+=("* src/cmd/wgstun ^TestCheckHostileBounded$")

# arch GOARCH GOMIPS|GOARM qemu
arches=(
	"mipsle mipsle softfloat qemu-mipsel-static"
	"mips mips softfloat qemu-mips-static"
	"armv7 arm 7 qemu-arm-static"
	"armv5 arm 5 qemu-arm-static"
	"arm64 arm64 - qemu-aarch64-static"
)

want=("$@")
out=build/crosstest
mkdir -p "$out"
full_tags=$(. ./scripts/builds.sh && echo "$full_tags")

mapfile -t pkgs < <(go list ./... | grep -Ev "$excluded")
module=$(go list -m)

# arch_skips ARCH: the skips that apply to ARCH, one "PKG REGEX" a line,
# the regexes of one package joined with |.
arch_skips() {
	local a=$1 s arches pkg re
	declare -A by=()
	for s in "${skips[@]}"; do
		read -r arches pkg re <<<"$s"
		[[ $arches == "*" || ,$arches, == *,"$a",* ]] || continue
		by[$pkg]=${by[$pkg]:+${by[$pkg]}|}$re
	done
	for pkg in "${!by[@]}"; do
		printf '%s %s\n' "$pkg" "${by[$pkg]}"
	done
}

selected() {
	local a=$1 w
	[[ ${#want[@]} -eq 0 ]] && return 0
	for w in "${want[@]}"; do
		[[ $w == "$a" ]] && return 0
	done
	return 1
}

rows=()
failed=0
for spec in "${arches[@]}"; do
	read -r name goarch variant qemu <<<"$spec"
	selected "$name" || continue
	command -v "$qemu" >/dev/null || { echo "crosstest: $qemu missing (scripts/deps.sh installs qemu-user-static)" >&2; exit 1; }
	log=$out/$name.log
	: >"$log"
	env=(GOARCH="$goarch")
	case $goarch in
	mips | mipsle) env+=(GOMIPS="$variant") ;;
	arm) env+=(GOARM="$variant") ;;
	esac
	start=$SECONDS
	status=ok
	echo "== $name: go vet" | tee -a "$log"
	if ! env "${env[@]}" go vet ./... >>"$log" 2>&1 ||
		! env "${env[@]}" go vet -tags "$full_tags" ./src/cmd/wgstun/ >>"$log" 2>&1; then
		status="vet failed"
	fi
	# One go test for the packages without skips (they build and run in
	# parallel), one per package with a skip.
	declare -A skip=()
	while read -r pkg re; do
		[[ -n $pkg ]] && skip[$module/$pkg]=$re
	done < <(arch_skips "$name")
	plain=""
	for pkg in "${pkgs[@]}"; do
		[[ -n ${skip[$pkg]:-} ]] || plain+=" $pkg"
	done
	groups=("$plain")
	for pkg in "${!skip[@]}"; do
		groups+=("$pkg=${skip[$pkg]}")
	done
	unset skip
	npass=0 nfail=0
	for g in "${groups[@]}"; do
		args=(-v -count=1 -timeout 10m -exec "$qemu")
		if [[ $g == *=* ]]; then
			set -- "${g%%=*}"
			args+=(-skip "${g#*=}")
		else
			# shellcheck disable=SC2086 # a list of package paths
			set -- $g
		fi
		rc=0
		env "${env[@]}" go test "${args[@]}" "$@" >"$out/pkg.log" 2>&1 || rc=$?
		cat "$out/pkg.log" >>"$log"
		npass=$((npass + $(grep -cE '^[[:space:]]*--- PASS: ' "$out/pkg.log" || true)))
		nf=$(grep -cE '^[[:space:]]*--- FAIL: ' "$out/pkg.log" || true)
		if [[ $rc -ne 0 ]]; then
			grep -E '^FAIL[[:space:]]|^[[:space:]]*--- FAIL: ' "$out/pkg.log" | sed "s/^/== $name: /" || echo "== $name: go test failed (see $log)"
			[[ $nf -eq 0 ]] && nf=1
		fi
		nfail=$((nfail + nf))
	done
	rm -f "$out/pkg.log"
	[[ $nfail -gt 0 && $status == ok ]] && status="tests failed"
	[[ $status != ok ]] && failed=1
	rows+=("$(printf '| %s | %s | %s | %d | %d | %d s | %s |' "$name" "$goarch" "$variant" "$npass" "$nfail" $((SECONDS - start)) "$status")")
	if [[ -n ${WGSTUN_TESTREPORT:-} ]]; then
		[[ $status == "vet failed" && $nfail -eq 0 ]] && nfail=1
		bash scripts/testreport.sh add "qemu-user $name" "unit tests, $goarch $variant" "$npass" "$nfail" $((SECONDS - start))
	fi
done

# test386: build the 386 test binaries and run them in the x86_64 guest.
test386() {
	local dir=build/vm/i386 pkg rel bin start=$SECONDS npass nfail status=ok vlog=$out/386.log
	local res=${VM_BUILD:-build/vm}/out
	rm -rf "$dir"
	mkdir -p "$dir"
	: >"$dir/packages"
	echo "== 386: go vet" | tee "$vlog"
	if ! GOARCH=386 go vet ./... >>"$vlog" 2>&1 || ! GOARCH=386 go vet -tags "$full_tags" ./src/cmd/wgstun/ >>"$vlog" 2>&1; then
		status="vet failed"
	fi
	for pkg in "${pkgs[@]}" "$module/linuxraw" "$module/src/internal/wg"; do
		rel=${pkg#"$module"}
		rel=${rel#/}
		bin=$(printf '%s' "${rel:-root}" | tr / _).test
		GOARCH=386 go test -c -o "$dir/$bin" "$pkg" >>"$vlog" 2>&1 || status="build failed"
		[[ -f $dir/$bin ]] && printf '%s %s\n' "$bin" "${rel:-.}" >>"$dir/packages"
	done
	echo "== 386: $(wc -l <"$dir/packages") test binaries, run in the x86_64 guest" | tee -a "$vlog"
	if ! VM_JOB=scripts/vm/i386-job.sh VM_TIMEOUT=900 bash scripts/vm/vmtest.sh >>"$vlog" 2>&1; then
		[[ $status == ok ]] && status="tests failed"
	fi
	cat "$res/e2e.log" >>"$vlog" 2>/dev/null || true
	npass=$(grep -cE '^[[:space:]]*--- PASS: ' "$res/e2e.log" 2>/dev/null || true)
	nfail=$(grep -cE '^[[:space:]]*--- FAIL: ' "$res/e2e.log" 2>/dev/null || true)
	grep -q '^x86_64$' "$res/uname" 2>/dev/null || status="did not run in the guest"
	if [[ $status != ok ]]; then
		failed=1
		[[ $nfail -eq 0 ]] && nfail=1
		grep -E '^[[:space:]]*--- FAIL: |^== ' "$vlog" | sed 's/^/== 386: /' || true
	fi
	rows+=("$(printf '| 386 | 386 | - (x86_64 guest, kernel %s) | %d | %d | %d s | %s |' "$(uname_guest)" "$npass" "$nfail" $((SECONDS - start)) "$status")")
	if [[ -n ${WGSTUN_TESTREPORT:-} ]]; then
		bash scripts/testreport.sh add "x86_64 guest, 386 binaries" "unit tests, kernel packages too" "$npass" "$nfail" $((SECONDS - start))
	fi
}

uname_guest() {
	sed -n 's/.*kernel \([^ ,]*\).*/\1/p' "$out/386.log" | head -n 1
}

if selected 386; then
	test386
fi

echo
echo "crosstest: unit tests of ${#pkgs[@]} packages under qemu user mode (skipped by name: ${#skips[@]} tests), 386 in the x86_64 guest"
echo "| arch | GOARCH | GOMIPS/GOARM | tests passed | failed | time | result |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [[ $failed -ne 0 ]]; then
	echo "crosstest: failures; see $out/*.log" >&2
	exit 1
fi
