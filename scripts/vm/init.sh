#!/bin/sh
# shellcheck shell=sh
# init.sh: /init of the busybox initramfs that lib.sh's vm_initramfs
# builds. It loads the modules listed in /etc/modules (virtio, 9p,
# overlay), mounts the host's / (9p tag "root", read-only) under a tmpfs
# overlay and switch_roots into the program named by vm_stage2= on the
# kernel command line, a path in the host's tree. Any failure powers the
# guest off after printing VM-INIT-FAILED, so the host sees it at once.

/bin/busybox --install -s /bin
export PATH=/bin

fail() {
	echo "vm-init: $*"
	echo "VM-INIT-FAILED"
	sync
	poweroff -f
	sleep 5
	exit 1
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

arg() {
	# shellcheck disable=SC2013 # words, not lines
	for w in $(cat /proc/cmdline); do
		case $w in
		"$1"=*) echo "${w#*=}" ;;
		esac
	done
}

while read -r m; do
	[ -n "$m" ] || continue
	modprobe "$m" || echo "vm-init: warning: modprobe $m failed"
done </etc/modules

stage2=$(arg vm_stage2)
[ -n "$stage2" ] || fail "no vm_stage2= on the kernel command line"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose root /lower ||
	fail "mount 9p root"
mount -t tmpfs -o mode=755 tmpfs /rw || fail "mount tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
	fail "mount overlay"
[ -x "/newroot$stage2" ] || fail "no executable $stage2 in the host's tree"
umount /proc /sys
umount /dev 2>/dev/null || true
exec switch_root /newroot "$stage2"
