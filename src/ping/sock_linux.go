package ping

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

const supported = true

// sock is an ICMP socket in the runtime poller.
type sock struct {
	f     *os.File
	rc    syscall.RawConn
	rawV4 bool // reads include the IPv4 header
}

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
	f := os.NewFile(uintptr(fd), "ping "+name+" "+iface)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("ping: %s socket on %s: %w", name, iface, err)
	}
	return &sock{f: f, rc: rc, rawV4: !dgram && !v6}, dgram, nil
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

func (s *sock) writeTo(msg []byte, dst netip.Addr) error {
	var sa unix.Sockaddr
	if dst.Is4() {
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
	} else {
		sa = &unix.SockaddrInet6{Addr: dst.As16()}
	}
	var err error
	werr := s.rc.Write(func(fd uintptr) bool {
		err = unix.Sendto(int(fd), msg, 0, sa)
		return err != unix.EAGAIN
	})
	if werr != nil {
		return werr
	}
	return os.NewSyscallError("sendto", err)
}

func (s *sock) readFrom(buf []byte) ([]byte, netip.Addr, error) {
	var (
		n    int
		from unix.Sockaddr
		err  error
	)
	rerr := s.rc.Read(func(fd uintptr) bool {
		n, from, err = unix.Recvfrom(int(fd), buf, 0)
		return err != unix.EAGAIN
	})
	if rerr != nil {
		return nil, netip.Addr{}, rerr
	}
	if err != nil {
		return nil, netip.Addr{}, os.NewSyscallError("recvfrom", err)
	}
	var src netip.Addr
	switch sa := from.(type) {
	case *unix.SockaddrInet4:
		src = netip.AddrFrom4(sa.Addr)
	case *unix.SockaddrInet6:
		src = netip.AddrFrom16(sa.Addr)
	}
	msg := buf[:n]
	if s.rawV4 {
		if msg, err = stripIPv4(msg); err != nil {
			return nil, src, nil // not ours; an empty message is skipped
		}
	}
	return msg, src, nil
}

func (s *sock) Close() error { return s.f.Close() }

// gone tells whether a send error means the socket's interface
// disappeared, so the socket must be opened again.
func gone(err error) bool {
	return errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)
}
