#!/usr/bin/env bash
# chroot-bookworm.sh DIR: fill DIR with a Debian 12 (bookworm) minbase system for package tests.
#
# The system is debootstrap --variant=minbase plus systemd (systemctl present but not running, as in
# any chroot) and python3 (the VyOS conf_mode script's interpreter). It is built once from the
# machine's own Debian mirror (the first bookworm "deb" entry in /etc/apt/sources.list or
# /etc/apt/sources.list.d/*.list|*.sources; WGSTUN_MIRROR overrides) and kept as a tarball in
# WGSTUN_CHROOT_CACHE (default /var/cache/wgstun-test), so later runs only unpack it (seconds).
# Needs root, debootstrap, tar, flock. Fails with a message naming the mirror when it is unreachable.
# The caller owns DIR and removes it (nothing is mounted in it).
set -euo pipefail

die() {
	echo "chroot-bookworm: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 DIR"
dir=$1
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap and chroot)"
for t in debootstrap:debootstrap tar:tar flock:util-linux gzip:gzip; do
	command -v "${t%%:*}" >/dev/null 2>&1 || die "${t%%:*} not found (apt-get install ${t##*:})"
done
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
	die "$dir is not empty"
fi

suite=bookworm
include=systemd,python3
arch=$(dpkg --print-architecture)

# The first bookworm mirror among the machine's apt sources (one-line and deb822 formats).
find_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# deb [options] URI SUITE COMPONENTS...
		awk -v s="$suite" '$1 == "deb" {
			i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) == s) { print $i; exit }
		}' "$f"
	done | head -n1 | grep . && return
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# Stanzas separated by blank lines; Types, URIs and Suites fields.
		awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
		{
			types = ""; uris = ""; suites = ""
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^Types:/) types = " " substr($i, 7) " "
				if ($i ~ /^URIs:/) uris = substr($i, 6)
				if ($i ~ /^Suites:/) suites = " " substr($i, 8) " "
			}
			if (types ~ / deb / && suites ~ (" " s " ")) { split(uris, u, " "); print u[1]; exit }
		}' "$f"
	done | head -n1 | grep . && return
	return 1
}

mirror=${WGSTUN_MIRROR:-}
if [ -z "$mirror" ]; then
	if ! mirror=$(find_mirror); then
		mirror=http://deb.debian.org/debian
		echo "chroot-bookworm: no $suite entry in /etc/apt/sources*; using $mirror" >&2
	fi
fi

cache=${WGSTUN_CHROOT_CACHE:-/var/cache/wgstun-test}
key=$(printf '%s %s %s %s' "$suite" "$arch" "$include" "$mirror" | sha256sum | cut -c1-12)
tarball=$cache/$suite-$arch-minbase-$key.tar.gz
mkdir -p "$cache"

# One builder at a time; a second caller waits (bounded) and then finds the tarball.
exec 9>"$cache/.lock"
flock -w 1200 9 || die "timed out waiting for the lock on $cache/.lock"
if [ ! -f "$tarball" ]; then
	build=$(mktemp -d "$cache/build.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the path is fixed
	trap "rm -rf '$build'" EXIT
	echo "chroot-bookworm: debootstrap $suite from $mirror (once; cached as $tarball)" >&2
	if ! timeout 900 debootstrap --variant=minbase --include="$include" "$suite" "$build/root" "$mirror" \
		>"$build/log" 2>&1; then
		tail -n 20 "$build/log" >&2
		die "debootstrap $suite from $mirror failed (no network to the mirror? set WGSTUN_MIRROR to a reachable Debian mirror); the last lines of its log are above"
	fi
	chroot "$build/root" apt-get clean
	rm -rf "$build/root/var/lib/apt/lists/"*
	tar -C "$build/root" --numeric-owner -czf "$build/root.tar.gz" .
	mv "$build/root.tar.gz" "$tarball"
	rm -rf "$build"
	trap - EXIT
fi
exec 9>&-

mkdir -p "$dir"
tar -C "$dir" --numeric-owner -xzf "$tarball" || die "unpacking $tarball into $dir failed"
# Name resolution is not needed (nothing is fetched inside), but keep the host's for debugging.
cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
