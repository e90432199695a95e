package wg

import "golang.org/x/sys/unix"

// ifIndex returns the index of the named interface, or 0 when there is
// none. Device reads it on every read (every 2 s and more): one
// SIOCGIFINDEX ioctl here, where net.InterfaceByName dumps and parses the
// whole link table (about 30 KB of garbage a call, the daemon's largest
// steady allocation before this).
func ifIndex(name string) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0
	}
	return int(ifr.Uint32())
}
