# shellcheck shell=bash
# lib.sh: the reusable pieces for booting a Debian kernel under qemu (TCG)
# with the host's / as the guest's root: fetch Debian packages by name into
# a cache, unpack them, build modules.dep with busybox depmod, build a
# busybox initramfs, run qemu with a hard timeout and a console capture,
# print the console's tail. Sourced by vmtest.sh; nothing here knows about
# wgstun or x86: the architecture and the paths are parameters.
#
# Every function dies (exit 1) with a clear message on failure unless it
# says otherwise.

vm_log() { printf 'vm: %s\n' "$*" >&2; }
vm_die() {
	printf 'vm: error: %s\n' "$*" >&2
	exit 1
}

VM_APT_UPDATED=${VM_APT_UPDATED:-0}
# VM_APT_STAMP: a file whose existence says apt-get update ran in this run;
# set it (and remove the file at exit) so that the update in one command
# substitution is seen by the next.
VM_APT_STAMP=${VM_APT_STAMP:-}
VM_CLEANUP=()

# vm_cleanup: remove every temporary directory the functions here made;
# the caller runs it from its EXIT trap.
vm_cleanup() {
	local d
	for d in "${VM_CLEANUP[@]}"; do
		rm -rf "$d"
	done
	VM_CLEANUP=()
}

# vm_apt_updated: apt-get update ran in this run.
vm_apt_updated() {
	((VM_APT_UPDATED)) || [[ -n $VM_APT_STAMP && -e $VM_APT_STAMP ]]
}

# vm_apt_update: apt-get update, at most once per run.
vm_apt_update() {
	vm_apt_updated && return 0
	vm_log "apt-get update"
	apt-get update -qq >&2 || vm_die "apt-get update failed"
	VM_APT_UPDATED=1
	if [[ -n $VM_APT_STAMP ]]; then
		: >"$VM_APT_STAMP"
	fi
}

# vm_apt_spec NAME ARCH: the apt name of package NAME for Debian
# architecture ARCH (NAME:ARCH unless ARCH is the host's own).
vm_apt_spec() {
	if [[ $2 == "$(dpkg --print-architecture)" ]]; then
		printf '%s\n' "$1"
	else
		printf '%s:%s\n' "$1" "$2"
	fi
}

# vm_apt_candidate SPEC: the candidate version apt would fetch for SPEC,
# running apt-get update first if apt does not know it. Returns 1 (after the
# update) if apt still knows no candidate.
vm_apt_candidate() {
	local v
	v=$(apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
	if [[ -z $v || $v == "(none)" ]]; then
		vm_apt_update
		v=$(apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
	fi
	[[ -n $v && $v != "(none)" ]] || return 1
	printf '%s\n' "$v"
}

# vm_kernel_pkg FLAVOUR ARCH: the versioned kernel package that Debian's
# meta package linux-image-FLAVOUR (amd64, 4kc-malta, ...) depends on now,
# e.g. linux-image-6.1.0-57-amd64: the ABI number is never written down
# here, so a kernel update in the archive is picked up by itself.
vm_kernel_pkg() {
	local flavour=$1 arch=$2 spec pkg
	spec=$(vm_apt_spec "linux-image-$flavour" "$arch")
	vm_apt_candidate "$spec" >/dev/null || vm_die "apt knows no $spec"
	pkg=$(apt-cache depends "$spec" 2>/dev/null | vm_kernel_dep "$flavour")
	[[ -n $pkg ]] || vm_die "$spec depends on no linux-image-VERSION-$flavour package"
	printf '%s\n' "$pkg"
}

# vm_kernel_dep FLAVOUR: of apt-cache depends' output on stdin, the first
# dependency named linux-image-VERSION-FLAVOUR (any :ARCH suffix dropped).
vm_kernel_dep() {
	awk -v f="$1" '$1 == "Depends:" { sub(/:.*/, "", $2); if ($2 ~ "^linux-image-[0-9].*-" f "$") { print $2; exit } }'
}

# vm_deb_fetch CACHE NAME ARCH: download package NAME for ARCH into the
# directory CACHE (apt-get download, no install) unless a valid .deb of
# the candidate version is there already; print the .deb's path. A failed
# download (stale package lists) is tried once more after apt-get update.
# Offline, an older valid .deb of NAME in CACHE is used, with a warning.
vm_deb_fetch() {
	local cache=$1 name=$2 arch=$3 spec ver file old try
	spec=$(vm_apt_spec "$name" "$arch")
	mkdir -p "$cache"
	for try in 1 2; do
		if ((try == 2)); then
			vm_apt_updated && break
			vm_apt_update
		fi
		ver=$(vm_apt_candidate "$spec") || continue
		file=$cache/${name}_${ver//:/%3a}_$arch.deb
		if [[ -f $file ]] && dpkg-deb --info "$file" >/dev/null 2>&1; then
			printf '%s\n' "$file"
			return 0
		fi
		rm -f "$file"
		vm_log "downloading $spec $ver"
		# apt-get download writes into the working directory, as root
		# (apt's sandbox user may not write to CACHE).
		if (cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "$spec=$ver" >&2) && [[ -f $file ]] &&
			dpkg-deb --info "$file" >/dev/null 2>&1; then
			printf '%s\n' "$file"
			return 0
		fi
		rm -f "$file"
		vm_log "could not download $spec $ver"
	done
	# shellcheck disable=SC2012 # names are apt's: no newlines
	old=$(ls -t "$cache/${name}_"*"_$arch.deb" 2>/dev/null | head -n 1)
	if [[ -n $old ]] && dpkg-deb --info "$old" >/dev/null 2>&1; then
		vm_log "warning: using cached $(basename "$old")"
		printf '%s\n' "$old"
		return 0
	fi
	vm_die "no package $spec (apt-get update and network needed)"
}

# vm_deb_unpack DEB DIR: the files of DEB (dpkg-deb -x) in DIR, reused when
# DIR was unpacked from the same .deb already.
vm_deb_unpack() {
	local deb=$1 dir=$2 stamp
	stamp=$(basename "$deb")
	if [[ -f $dir/.vm-unpacked && $(<"$dir/.vm-unpacked") == "$stamp" ]]; then
		return 0
	fi
	rm -rf "$dir" "$dir.tmp"
	mkdir -p "$dir.tmp"
	dpkg-deb -x "$deb" "$dir.tmp" || vm_die "dpkg-deb -x $deb"
	printf '%s\n' "$stamp" >"$dir.tmp/.vm-unpacked"
	mv "$dir.tmp" "$dir"
}

# vm_kver ROOT: the one kernel version under ROOT/lib/modules.
vm_kver() {
	local d n=0 kver=""
	for d in "$1"/lib/modules/*/; do
		[[ -d $d ]] || continue
		kver=$(basename "$d")
		n=$((n + 1))
	done
	((n == 1)) || vm_die "want one kernel under $1/lib/modules, found $n"
	printf '%s\n' "$kver"
}

# vm_depmod BUSYBOX ROOT KVER: modules.dep (and busybox's alias files) for
# ROOT/lib/modules/KVER, built by busybox depmod, skipped when present and
# newer than the modules directory.
vm_depmod() {
	local bb=$1 root=$2 kver=$3 dep
	dep=$root/lib/modules/$kver/modules.dep
	if [[ -s $dep && $dep -nt $root/lib/modules/$kver/kernel ]]; then
		return 0
	fi
	"$bb" depmod -b "$root" "$kver" || vm_die "busybox depmod -b $root $kver"
	[[ -s $dep ]] || vm_die "busybox depmod wrote no $dep"
}

# vm_mod_closure ROOT KVER MODULE...: the paths (relative to the module
# directory) of MODULEs and everything they depend on, per modules.dep;
# modules built into the kernel (modules.builtin) are left out.
vm_mod_closure() {
	local root=$1 kver=$2 dir
	shift 2
	dir=$root/lib/modules/$kver
	awk -v want="$*" '
		FILENAME ~ /modules\.builtin$/ { next }
		{
			path = $1; sub(/:$/, "", path)
			name = path; sub(/.*\//, "", name); sub(/\.ko(\.[a-z]+)?$/, "", name)
			gsub(/-/, "_", name)
			deps[name] = ""
			for (i = 2; i <= NF; i++) deps[name] = deps[name] " " $i
			file[name] = path
			for (i = 2; i <= NF; i++) {
				d = $i; dn = d; sub(/.*\//, "", dn); sub(/\.ko(\.[a-z]+)?$/, "", dn); gsub(/-/, "_", dn)
				file[dn] = d
			}
		}
		END {
			n = split(want, w, " ")
			for (i = 1; i <= n; i++) {
				m = w[i]; gsub(/-/, "_", m)
				if (!(m in file)) continue
				print file[m]
				k = split(deps[m], ds, " ")
				for (j = 1; j <= k; j++) print ds[j]
			}
		}' "$dir/modules.dep" | sort -u
}

# vm_initramfs OUT BUSYBOX INIT ROOT KVER MODULE...: a gzip'd newc cpio at
# OUT holding the static BUSYBOX as /bin/busybox, INIT as /init, and the
# listed modules with their dependencies under /lib/modules/KVER (with
# their own modules.dep, so /init can `modprobe` them; /etc/modules lists
# the MODULEs in the order given). Rebuilt only when
# OUT is older than one of its inputs.
vm_initramfs() {
	local out=$1 bb=$2 init=$3 root=$4 kver=$5 stage rel f
	shift 5
	if [[ -s $out && $out -nt $bb && $out -nt $init && $out -nt $root/lib/modules/$kver/modules.dep ]]; then
		return 0
	fi
	stage=$(mktemp -d "${TMPDIR:-/tmp}/vm-initramfs.XXXXXX")
	VM_CLEANUP+=("$stage")
	mkdir -p "$stage/bin" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/newroot" "$stage/lower" \
		"$stage/rw" "$stage/lib/modules/$kver"
	cp "$bb" "$stage/bin/busybox"
	ln -s busybox "$stage/bin/sh"
	cp "$init" "$stage/init"
	chmod 755 "$stage/init" "$stage/bin/busybox"
	while IFS= read -r rel; do
		[[ -n $rel ]] || continue
		mkdir -p "$stage/lib/modules/$kver/$(dirname "$rel")"
		cp "$root/lib/modules/$kver/$rel" "$stage/lib/modules/$kver/$rel"
	done < <(vm_mod_closure "$root" "$kver" "$@")
	for f in modules.builtin modules.order; do
		if [[ -f $root/lib/modules/$kver/$f ]]; then
			cp "$root/lib/modules/$kver/$f" "$stage/lib/modules/$kver/$f"
		fi
	done
	mkdir -p "$stage/etc"
	printf '%s\n' "$@" >"$stage/etc/modules"
	"$bb" depmod -b "$stage" "$kver" || vm_die "busybox depmod for the initramfs"
	(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --quiet -o -0 -H newc -R 0:0) |
		gzip -1 >"$out.tmp" || vm_die "cpio of the initramfs"
	mv "$out.tmp" "$out"
	rm -rf "$stage"
}

# vm_qemu_run TIMEOUT CONSOLE QEMU ARG...: run the qemu binary QEMU with
# ARGs, its console (stdout and stderr) into the file CONSOLE, killed after
# TIMEOUT seconds (SIGTERM, SIGKILL 10 s later). Returns qemu's status;
# 124 or 137 mean the guest hung past TIMEOUT. Does not die.
vm_qemu_run() {
	local limit=$1 console=$2 rc=0
	shift 2
	timeout --kill-after=10 "$limit" "$@" </dev/null >"$console" 2>&1 || rc=$?
	return "$rc"
}

# vm_console_tail CONSOLE [N]: the last N (default 60) lines of a console
# capture, without carriage returns and terminal escapes.
vm_console_tail() {
	local n=${2:-60}
	[[ -f $1 ]] || {
		echo "(no console capture at $1)"
		return 0
	}
	tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' | tail -n "$n"
}
