#!/usr/bin/env bash
# malta.sh: wgstun on a real 32-bit little-endian MIPS kernel. Boots
# Debian bookworm's 4kc-malta kernel in qemu-system-mipsel (TCG) from an
# initramfs holding busybox, iproute2, nftables and wireguard-tools (mipsel,
# fetched with a private apt configuration: the host's dpkg never learns
# the foreign architecture), the kernel modules kernel WireGuard and an
# nftables NAT need, and GOARCH=mipsle GOMIPS=softfloat builds of wgstun,
# the STUN responder (src/internal/e2e/stunresponder) and the test binaries of the
# packages that want a real kernel; the test binaries reach the guest on a
# read-only virtio-9p share (the kernel has no highmem, so the guest gets
# 256 MB whatever -m says, MemTotal 244 MB, and the initramfs may fill only
# half of it). The guest (malta-init.sh) runs every
# test binary, then a two-node kernel WireGuard pair, each peer behind its
# own port-restricted-cone nftables NAT, connected by the mipsle wgstun, and
# measures the daemon's memory and CPU. It reports on the serial console
# with "MALTA " lines, which this script turns into a summary table.
#
# Usage: scripts/vm/malta.sh        (as root; network for the first run)
# Environment:
#   MALTA_TIMEOUT  hard limit for the guest, seconds (default 420, plus
#                  MALTA_SOAK_S)
#   MALTA_SOAK_S   after the pair's 45 s reading, keep both daemons running
#                  this long and sample VmRSS every 30 s (a table; default
#                  0: none; not part of make test)
#   MALTA_TESTS    the test binaries, DIR:SECONDS ... (default below)
#
# Caches under build/vm/malta/: apt lists, .debs, the unpacked trees and
# the base initramfs (packages and modules), reused while valid; the Go
# binaries, keys and the init script go into a second cpio (and the 9p
# share) built every run in a temporary directory there. The last run's
# console is build/vm/malta/console.log.
# Exit status: 0 when every test passed and the pair connected; 1 on any
# failure, or when the guest hung past MALTA_TIMEOUT (its console's tail is
# printed then). With WGSTUN_TESTREPORT set, each test binary and the pair
# are also rows of scripts/testreport.sh (make test's closing table).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/vm/lib.sh
. "$ROOT/scripts/vm/lib.sh"

OUT=$ROOT/build/vm/malta
ARCH=mipsel
FLAVOUR=4kc-malta
SOAK_S=${MALTA_SOAK_S:-0}
[[ $SOAK_S =~ ^[0-9]+$ ]] || { echo "malta.sh: MALTA_SOAK_S must be a number of seconds" >&2; exit 1; }
TIMEOUT=${MALTA_TIMEOUT:-$((420 + SOAK_S))}
# Packages whose test binaries run in the guest, DIR:SECONDS (the
# per-binary limit under TCG; each takes under 15 s). The kernel-facing
# ones first (raw socket and cBPF, kernel WireGuard over netlink, ping
# sockets, namespaces), then the pure ones, which check 32-bit and softfloat.
# Not here: ./src/cmd/wgstun (its tests read ../../internal/config/testdata)
# and src/internal/e2e (bash labs).
DEFAULT_TESTS="linuxraw:120 src/internal/wg:90 src/internal/daemon:180 src/internal/capture:60
src/internal/ping:90 src/internal/store:90 src/internal/config:60 src/stun:60 src/rawudp:60
src/record:60 src/internal/portmap:60 src/internal/natcheck:60 src/internal/jsonwire:60
src/internal/logfmt:60 bsdbpf:60"
TESTS=${MALTA_TESTS:-$DEFAULT_TESTS}
# User-space packages in the guest; their lib* dependencies come along.
USERLAND=(busybox-static iproute2 nftables wireguard-tools)
# Kernel modules (with their dependencies), loaded in this order by the
# guest from /etc/modules: virtio-9p for the test share; crc32c_generic
# explicitly and before nf_tables (libcrc32c asks the crypto API for a
# crc32c implementation and does not pull one in through modules.dep; an
# earlier trial's nf_tables did not load without it).
MODULES=(virtio_pci 9pnet_virtio 9p crc32c_generic libcrc32c veth wireguard nf_conntrack nf_nat nf_tables
	nft_chain_nat nft_nat nft_masq nft_ct)

export PATH=$PATH:/usr/local/go/bin

STAGE=""
cleanup() {
	[[ -n $STAGE ]] && rm -rf "$STAGE"
	vm_cleanup
}
trap cleanup EXIT

# malta_apt TOOL ARG...: apt-get or apt-cache for mipsel with lists,
# cache and (empty) status of its own under $OUT/apt.
malta_apt() {
	local tool=$1
	shift
	"$tool" -o APT::Architecture="$ARCH" -o APT::Architectures::="$ARCH" \
		-o Dir::State::Lists="$OUT/apt/lists" -o Dir::Cache="$OUT/apt/cache" \
		-o Dir::State::Status="$OUT/apt/status" -o Debug::NoLocking=1 "$@"
}

# malta_apt_update: refresh the private lists when they are missing or a
# day old; a failed refresh with lists present only warns (offline run).
malta_apt_update() {
	mkdir -p "$OUT/apt/lists/partial" "$OUT/apt/cache/archives/partial"
	[[ -f $OUT/apt/status ]] || : >"$OUT/apt/status"
	local stamp=$OUT/apt/updated
	if [[ -f $stamp && -n $(find "$stamp" -mmin -1440) ]]; then
		return 0
	fi
	vm_log "apt-get update ($ARCH, private lists)"
	if malta_apt apt-get update -qq >&2; then
		touch "$stamp"
	elif compgen -G "$OUT/apt/lists/*_Packages*" >/dev/null; then
		vm_log "warning: apt-get update failed; using the lists from $(date -r "$OUT/apt/lists" +%F)"
	else
		vm_die "apt-get update for $ARCH failed and there are no lists yet"
	fi
}

# malta_lib_closure NAME...: NAMEs and, recursively, every package named
# lib* (or zlib*) they depend on: the shared libraries; debconf, dpkg and
# the like stay out.
malta_lib_closure() {
	local -A seen=()
	local todo=("$@") next dep
	while ((${#todo[@]})); do
		next=()
		for dep in "${todo[@]}"; do
			[[ -n ${seen[$dep]:-} ]] && continue
			seen[$dep]=1
		done
		while read -r dep; do
			[[ -z ${seen[$dep]:-} ]] && next+=("$dep")
		done < <(malta_apt apt-cache depends --no-recommends --no-suggests --no-conflicts \
			--no-breaks --no-replaces --no-enhances "${todo[@]}" |
			awk '$1 ~ /^\|?(Pre)?Depends:$/ && $2 ~ /^(lib|zlib)/ { print $2 }' | sort -u)
		todo=("${next[@]}")
	done
	printf '%s\n' "${!seen[@]}" | sort
}

# malta_fetch NAME...: the .debs of NAMEs (candidate versions) in
# $OUT/debs, downloading only those missing or failing their SHA256; prints
# their paths.
malta_fetch() {
	local dir=$OUT/debs uris file hash pkg f want=()
	local -A byPkg=() sums=()
	mkdir -p "$dir"
	uris=$(malta_apt apt-get download --print-uris "$@") || vm_die "apt-get download --print-uris $*"
	while read -r _ file _ hash; do
		pkg=${file%%_*}
		byPkg[$pkg]=$file
		sums[$file]=${hash#SHA256:}
		if [[ -f $dir/$file ]] && [[ $(sha256sum <"$dir/$file") == "${sums[$file]}  -" ]]; then
			continue
		fi
		want+=("$pkg")
	done <<<"$uris"
	if ((${#want[@]})); then
		vm_log "downloading ${#want[@]} packages: ${want[*]}"
		rm -rf "$dir/dl"
		mkdir -p "$dir/dl"
		# apt-get download writes into the working directory, under a
		# name with the epoch; the sandbox user may not read it (warning).
		(cd "$dir/dl" && malta_apt apt-get download -qq "${want[@]}" 2>&1 | grep -v 'unsandboxed' >&2) || true
		for f in "$dir"/dl/*.deb; do
			[[ -f $f ]] || continue
			pkg=$(basename "$f")
			pkg=${pkg%%_*}
			file=${byPkg[$pkg]:-}
			[[ -n $file ]] || continue
			[[ $(sha256sum <"$f") == "${sums[$file]}  -" ]] || vm_die "$f: SHA256 mismatch"
			mv "$f" "$dir/$file"
		done
		rm -rf "$dir/dl"
	fi
	for pkg in "$@"; do
		file=${byPkg[$pkg]:-}
		[[ -n $file && -f $dir/$file ]] || vm_die "no .deb for $pkg"
		printf '%s\n' "$dir/$file"
	done
}

# malta_kernel_pkg: linux-image-VERSION-4kc-malta that the meta package
# depends on today (the ABI number is never written down here).
malta_kernel_pkg() {
	local pkg
	pkg=$(malta_apt apt-cache depends "linux-image-$FLAVOUR" | vm_kernel_dep "$FLAVOUR")
	[[ -n $pkg ]] || vm_die "linux-image-$FLAVOUR ($ARCH) depends on no versioned kernel"
	printf '%s\n' "$pkg"
}

# malta_userland TREE DEB...: every DEB unpacked into TREE, reused when
# TREE holds exactly these .debs; documentation and locales left out.
malta_userland() {
	local tree=$1 stamp deb
	shift
	stamp=$(printf '%s\n' "${@##*/}" | sort)
	if [[ -f $tree/.malta-debs && $(<"$tree/.malta-debs") == "$stamp" ]]; then
		return 0
	fi
	rm -rf "$tree" "$tree.tmp"
	mkdir -p "$tree.tmp"
	for deb in "$@"; do
		dpkg-deb -x "$deb" "$tree.tmp" || vm_die "dpkg-deb -x $deb"
	done
	find "$tree.tmp/usr/share" -mindepth 1 -maxdepth 1 ! -name iproute2 -exec rm -rf {} +
	# gconv, audit modules and tc's qdisc plugins (q_atm wants libatm) are not used.
	rm -rf "$tree.tmp/usr/lib/$ARCH-linux-gnu/"{gconv,audit,tc}
	printf '%s\n' "$stamp" >"$tree.tmp/.malta-debs"
	mv "$tree.tmp" "$tree"
}

# malta_check_libs TREE: every shared library an ELF file in TREE needs is
# in TREE (the guest has no other).
malta_check_libs() {
	local tree=$1 f lib missing=0
	while IFS= read -r -d '' f; do
		head -c 4 "$f" | grep -q $'^\x7fELF' || continue
		while read -r lib; do
			if [[ ! -e $tree/lib/$ARCH-linux-gnu/$lib && ! -e $tree/usr/lib/$ARCH-linux-gnu/$lib && ! -e $tree/lib/$lib ]]; then
				vm_log "${f#"$tree"/} needs $lib, which no package brought"
				missing=1
			fi
		done < <(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	done < <(find "$tree/bin" "$tree/sbin" "$tree/usr/bin" "$tree/usr/sbin" "$tree/lib" "$tree/usr/lib" \
		-type f \( -perm -u+x -o -name '*.so*' \) -print0 2>/dev/null)
	((missing == 0)) || vm_die "shared libraries missing from the guest"
}

# malta_base OUT TREE KROOT KVER: the cached part of the initramfs (an
# uncompressed newc cpio): TREE's files and the MODULES with their
# dependencies and a modules.dep of their own. Rebuilt when an input
# changed.
malta_base() {
	local out=$1 tree=$2 kroot=$3 kver=$4 stage rel key
	key="$(<"$tree/.malta-debs") $kver ${MODULES[*]} v2"
	if [[ -s $out && -f $out.key && $(<"$out.key") == "$key" ]]; then
		return 0
	fi
	vm_log "building the base initramfs"
	stage=$(mktemp -d "$OUT/base.XXXXXX")
	VM_CLEANUP+=("$stage")
	cp -a "$tree/." "$stage/"
	rm -f "$stage/.malta-debs"
	mkdir -p "$stage/lib/modules/$kver" "$stage/etc"
	printf '%s\n' "${MODULES[@]}" >"$stage/etc/modules"
	while IFS= read -r rel; do
		[[ -n $rel ]] || continue
		mkdir -p "$stage/lib/modules/$kver/$(dirname "$rel")"
		cp "$kroot/lib/modules/$kver/$rel" "$stage/lib/modules/$kver/$rel"
	done < <(vm_mod_closure "$kroot" "$kver" "${MODULES[@]}")
	cp "$kroot/lib/modules/$kver/modules.builtin" "$stage/lib/modules/$kver/" 2>/dev/null || true
	busybox depmod -b "$stage" "$kver" || vm_die "busybox depmod for the initramfs"
	for m in "${MODULES[@]}"; do
		grep -q "/${m//_/[-_]}\.ko" "$stage/lib/modules/$kver/modules.dep" ||
			grep -qw "$m" "$stage/lib/modules/$kver/modules.builtin" 2>/dev/null ||
			vm_die "module $m is neither in the kernel package nor built in"
	done
	(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --quiet -o -0 -H newc -R 0:0) >"$out.tmp" ||
		vm_die "cpio of the base initramfs"
	mv "$out.tmp" "$out"
	printf '%s\n' "$key" >"$out.key"
	rm -rf "$stage"
}

# malta_go_builds DIR: the mipsle binaries: wgstun and stunresponder into
# DIR/payload (the initramfs), and for each of TESTS DIR/share/NAME/NAME.test
# with the package's testdata beside it (test binaries run in their package
# directory), the guest's /t. Writes DIR/payload/etc/malta-tests ("NAME
# SECONDS" lines).
malta_go_builds() {
	local p=$1/payload share=$1/share t pkg secs name
	mkdir -p "$p/usr/local/bin" "$share" "$p/etc"
	export GOOS=linux GOARCH=mipsle GOMIPS=softfloat CGO_ENABLED=0
	vm_log "go build (linux/mipsle softfloat, the router build): wgstun, stunresponder"
	# shellcheck source=scripts/builds.sh
	. "$ROOT/scripts/builds.sh"
	# shellcheck disable=SC2086 # router_gcflags is a list of flags
	(cd "$ROOT" && go build -trimpath $router_gcflags -ldflags '-s -w' -o "$p/usr/local/bin/wgstun" ./src/cmd/wgstun) || vm_die "go build wgstun"
	(cd "$ROOT" && go build -trimpath -ldflags '-s -w' -o "$p/usr/local/bin/stunresponder" ./src/internal/e2e/stunresponder) ||
		vm_die "go build stunresponder"
	: >"$p/etc/malta-tests"
	if ((SOAK_S > 0)); then echo "$SOAK_S" >"$p/etc/malta-soak"; fi
	for t in $TESTS; do
		pkg=${t%%:*}
		secs=${t#*:}
		[[ $secs =~ ^[0-9]+$ && $secs != "$t" ]] || vm_die "MALTA_TESTS entry '$t' is not DIR:SECONDS"
		name=${pkg##*/}
		vm_log "go test -c ./$pkg"
		[[ ! -d $share/$name ]] || vm_die "two packages named $name in MALTA_TESTS"
		mkdir -p "$share/$name"
		(cd "$ROOT" && go test -c -trimpath -ldflags '-s -w' -o "$share/$name/$name.test" "./$pkg") ||
			vm_die "go test -c ./$pkg"
		[[ -f $share/$name/$name.test ]] || vm_die "./$pkg has no tests"
		if [[ -d $ROOT/$pkg/testdata ]]; then
			cp -a "$ROOT/$pkg/testdata" "$share/$name/"
		fi
		printf '%s %s\n' "$name" "$secs" >>"$p/etc/malta-tests"
	done
	unset GOOS GOARCH GOMIPS CGO_ENABLED
}

# malta_keys DIR: fresh WireGuard keys for the pair, made on the host (the
# guest's entropy is young at boot).
malta_keys() {
	local d=$1/payload/etc/malta side
	mkdir -p "$d"
	umask 077
	for side in a b; do
		wg genkey >"$d/$side.key"
		wg pubkey <"$d/$side.key" >"$d/$side.pub"
	done
	umask 022
}

# malta_report WHAT PASSED FAILED SECONDS: a row of make test's table,
# when it is collecting them.
malta_report() {
	[[ -n ${WGSTUN_TESTREPORT:-} ]] || return 0
	bash "$ROOT/scripts/testreport.sh" add "qemu malta mipsel guest" "$@" || vm_log "warning: testreport.sh add failed"
}

# malta_summary CONSOLE SECONDS: the table of the guest's results (SECONDS:
# how long the guest ran); returns 1 when something failed or a result is
# missing.
malta_summary() {
	local console=$1 took=$2 fail=0 line n
	local -a f
	local tests=0 pair="" boot="" mem=0 soak=0 done=0 testsecs=0
	printf '\n%-14s %-6s %s\n' "binary" "result" "seconds"
	while IFS= read -r line; do
		read -ra f <<<"$line"
		case ${f[1]:-} in
		BOOT) boot=${f[2]} ;;
		TEST)
			tests=$((tests + 1))
			testsecs=$((testsecs + ${f[4]%.*}))
			printf '%-14s %-6s %s %s\n' "${f[2]}" "${f[3]}" "${f[4]}" "${f[*]:5}"
			[[ ${f[3]} == PASS ]] || fail=1
			n=$(sed -n 's/.* fail=\([0-9]*\).*/\1/p' <<<"$line")
			[[ ${f[3]} == PASS || ${n:-0} -gt 0 ]] || n=1
			malta_report "${f[2]} tests" "$(sed -n 's/.* pass=\([0-9]*\).*/\1/p' <<<"$line")" "${n:-0}" "${f[4]%.*}"
			;;
		PAIR)
			pair=${line#MALTA PAIR }
			[[ ${f[2]} == CONNECTED ]] || fail=1
			;;
		MEM)
			if ((mem == 0)); then
				printf '\n%-6s %-10s %-10s %-10s %-13s %s\n' "daemon" "VmRSS kB" "VmHWM kB" "CPU s" "CPU % steady" "after s"
			fi
			mem=1
			printf '%-6s %-10s %-10s %-10s %-13s %s\n' "${f[@]:2:6}"
			;;
		SOAK)
			if ((soak == 0)); then
				printf '\nmemory soak (VmRSS kB, every 30 s)\n%-8s %-10s %-10s\n' "t s" "daemon a" "daemon b"
			fi
			soak=1
			printf '%-8s %-10s %-10s\n' "${f[@]:2:3}"
			;;
		DONE) done=1 ;;
		esac
	done < <(tr -d '\r' <"$console" | grep -a '^MALTA ')
	[[ -n $boot ]] && printf '\nboot to init: %s s\n' "$boot"
	if [[ -n $pair ]]; then
		printf 'pair: %s\n' "$pair"
	else
		echo "pair: no result"
		fail=1
	fi
	# The pair's share of the guest's time: what boot and tests left.
	n=${boot%.*}
	n=$((took - testsecs - ${n:-0}))
	if [[ $pair == CONNECTED* ]]; then
		malta_report "kernel WireGuard NAT pair, mipsle wgstun" 1 0 "$n"
	else
		malta_report "kernel WireGuard NAT pair, mipsle wgstun" 0 1 "$n"
	fi
	local want
	want=$(wc -l <"$STAGE/payload/etc/malta-tests")
	if ((tests != want)); then
		echo "only $tests of $want test binaries reported"
		fail=1
	fi
	((mem)) || {
		echo "no memory/CPU measurement"
		fail=1
	}
	((done)) || fail=1
	return "$fail"
}

main() {
	(($(id -u) == 0)) || vm_die "run as root (the package cache is root's)"
	local tool
	for tool in qemu-system-mipsel dpkg-deb cpio readelf busybox wg go apt-get; do
		command -v "$tool" >/dev/null || vm_die "$tool not found (scripts/deps.sh installs it)"
	done
	local t0 kpkg list names=() debs=() kdeb kroot kver
	t0=$(date +%s)
	mkdir -p "$OUT"
	malta_apt_update
	kpkg=$(malta_kernel_pkg)
	vm_log "kernel: $kpkg"
	list=$(malta_lib_closure "${USERLAND[@]}")
	mapfile -t names <<<"$list"
	list=$(malta_fetch "${names[@]}")
	mapfile -t debs <<<"$list"
	kdeb=$(malta_fetch "$kpkg")
	kroot=$OUT/kernel
	vm_deb_unpack "$kdeb" "$kroot"
	kver=$(vm_kver "$kroot")
	vm_depmod "$(command -v busybox)" "$kroot" "$kver"
	malta_userland "$OUT/userland" "${debs[@]}"
	malta_check_libs "$OUT/userland"
	[[ -x $OUT/userland/bin/ip && -x $OUT/userland/usr/sbin/nft && -x $OUT/userland/usr/bin/wg ]] ||
		vm_die "ip, nft or wg missing from the unpacked packages"
	malta_base "$OUT/base.cpio" "$OUT/userland" "$kroot" "$kver"

	STAGE=$(mktemp -d "$OUT/stage.XXXXXX")
	malta_go_builds "$STAGE"
	malta_keys "$STAGE"
	install -m 755 "$ROOT/scripts/vm/malta-init.sh" "$STAGE/payload/init"
	mkdir -p "$STAGE/payload/bin"
	ln -s busybox "$STAGE/payload/bin/sh"
	(cd "$STAGE/payload" && find . -print0 | LC_ALL=C sort -z | cpio --quiet -o -0 -H newc -R 0:0) \
		>"$STAGE/payload.cpio" || vm_die "cpio of the payload"
	cat "$OUT/base.cpio" "$STAGE/payload.cpio" >"$STAGE/initramfs.cpio"
	vm_log "initramfs $(($(stat -c %s "$STAGE/initramfs.cpio") / 1048576)) MiB; build took $(($(date +%s) - t0)) s"

	local console=$OUT/console.log rc=0 t1
	t1=$(date +%s)
	vm_log "booting $kpkg in qemu-system-mipsel -M malta (limit ${TIMEOUT} s)"
	vm_qemu_run "$TIMEOUT" "$console" qemu-system-mipsel -M malta -m 256 -nographic -no-reboot -nic none \
		-kernel "$kroot/boot/vmlinuz-$kver" -initrd "$STAGE/initramfs.cpio" \
		-fsdev "local,id=t,path=$STAGE/share,security_model=none,readonly=on" \
		-device virtio-9p-pci,fsdev=t,mount_tag=t \
		-append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3" || rc=$?
	local took=$(($(date +%s) - t1))
	if ((rc == 124 || rc == 137)); then
		echo "malta: the guest hung past ${TIMEOUT} s; its console's last lines:"
		vm_console_tail "$console" 60
		malta_summary "$console" "$took" || true
		malta_report "guest finished within ${TIMEOUT} s" 0 1 "$took"
		return 1
	fi
	if ! malta_summary "$console" "$took"; then
		printf '\nguest run %s s, whole run %s s: FAILED; console tail:\n' "$took" "$(($(date +%s) - t0))"
		vm_console_tail "$console" 60
		return 1
	fi
	printf 'guest run %s s (boot to poweroff), whole run %s s: ok\n' "$took" "$(($(date +%s) - t0))"
}

main "$@"
