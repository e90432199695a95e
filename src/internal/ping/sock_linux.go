package ping

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openConn opens an ICMP socket of the family bound to iface: a ping
// socket (SOCK_DGRAM) when net.ipv4.ping_group_range admits our group,
// a raw socket otherwise.
func openConn(iface string, v6 bool) (conn, bool, error) {
	fam, proto, name := unix.AF_INET, unix.IPPROTO_ICMP, "icmp"
	if v6 {
		fam, proto, name = unix.AF_INET6, unix.IPPROTO_ICMPV6, "icmpv6"
	}
	const flags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	dgram := true
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|flags, proto)
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		dgram = false
		fd, err = unix.Socket(fam, unix.SOCK_RAW|flags, proto)
	}
	if err != nil {
		return nil, false, fmt.Errorf("ping: open %s socket for %s: %w", name, iface, os.NewSyscallError("socket", err))
	}
	if err := setup(fd, iface, v6, dgram); err != nil {
		unix.Close(fd)
		return nil, false, fmt.Errorf("ping: %s socket on %s: %w", name, iface, err)
	}
	s, err := newSock(fd, name, iface, !dgram && !v6)
	if err != nil {
		return nil, false, err
	}
	return s, dgram, nil
}

// setup binds fd to iface and, on raw sockets, lets only echo replies in.
func setup(fd int, iface string, v6, dgram bool) error {
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface); err != nil {
		return os.NewSyscallError("setsockopt SO_BINDTODEVICE", err)
	}
	if dgram {
		return nil // the kernel delivers only this socket's replies
	}
	if !v6 {
		// ICMP_FILTER: a set bit drops that type.
		err := unix.SetsockoptInt(fd, unix.SOL_RAW, unix.ICMP_FILTER, ^(1 << typeEchoReply4))
		return os.NewSyscallError("setsockopt ICMP_FILTER", err)
	}
	var filt unix.ICMPv6Filter // a set bit drops that type
	for i := range filt.Data {
		filt.Data[i] = ^uint32(0)
	}
	filt.Data[typeEchoReply6>>5] &^= 1 << (typeEchoReply6 & 31)
	err := unix.SetsockoptICMPv6Filter(fd, unix.IPPROTO_ICMPV6, unix.ICMPV6_FILTER, &filt)
	return os.NewSyscallError("setsockopt ICMPV6_FILTER", err)
}

// dropIPv4Header cuts the IPv4 header off what a raw socket read.
func dropIPv4Header(b []byte) ([]byte, error) { return stripIPv4(b) }
