#!/bin/bash
# stage2.sh: PID 1 of a guest booted by lib.sh's initramfs (init.sh), run
# by the host's bash on the overlay of the host's /. It mounts what a
# system needs (proc, sys, dev, /run, /tmp, a writable /var/run/netns),
# binds the kernel's module tree (vm_modules= on the command line) to
# /lib/modules/$(uname -r), points kernel.modprobe at busybox modprobe
# (vm_busybox=) so the kernel loads modules by itself, mounts the host's
# writable 9p share "out" on /vmout, runs the job (vm_job=) with /vmout as
# its argument and its output on the console, writes the job's exit code
# to /vmout/rc, syncs and powers off.

set -u
export PATH=/run/vm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8

say() { printf 'vm-stage2: %s\n' "$*"; }

arg() {
	local w
	# shellcheck disable=SC2013 # words, not lines
	for w in $(</proc/cmdline); do
		if [[ $w == "$1="* ]]; then
			printf '%s\n' "${w#*=}"
		fi
	done
}

off() {
	sync
	umount /vmout 2>/dev/null
	sync
	if [[ -n ${busybox:-} ]]; then
		"$busybox" poweroff -f
	fi
	echo o >/proc/sysrq-trigger
	sleep 10
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
# /tmp stays the overlay's (the host's /tmp beneath, writes to the tmpfs
# above): a checkout under /tmp, as CI may clone, must be seen by the guest.
mkdir -p /run/netns /run/lock /run/vm/bin /vmout
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null || true
hostname vm 2>/dev/null || true

busybox=$(arg vm_busybox)
modules=$(arg vm_modules)
job=$(arg vm_job)
if [[ -z $busybox || -z $modules || -z $job ]]; then
	say "want vm_busybox=, vm_modules= and vm_job= on the kernel command line"
	off
fi

if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /vmout; then
	say "cannot mount the out share"
	off
fi
mkdir -p "/lib/modules/$(uname -r)"
mount --bind "$modules" "/lib/modules/$(uname -r)"
ln -s "$busybox" /run/vm/bin/modprobe
echo /run/vm/bin/modprobe >/proc/sys/kernel/modprobe
ip link set lo up

say "up after $(cut -d' ' -f1 /proc/uptime) s, running $job"
rc=0
bash "$job" /vmout || rc=$?
printf '%s\n' "$rc" >/vmout/rc
say "job exited $rc after $(cut -d' ' -f1 /proc/uptime) s"
off
