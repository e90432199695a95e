//go:build darwin || freebsd

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
	v4hdr bool // IPv4: reads may carry the IPv4 header (cutIPv4Header)
}

// openConn opens an ICMP socket of the family for iface. Where the OS
// offers unprivileged ICMP datagram sockets (macOS) it tries one first and
// falls back to a raw socket; FreeBSD has only raw ones (root). The
// socket is tied to iface as far as the OS can (bindIface).
//
// The dgram result tells the prober to skip its identifier check. macOS
// is not known to rewrite the identifier of datagram ICMP sockets, but the
// prober's random 8-byte cookie already marks its own replies, so not
// relying on the identifier costs nothing.
func openConn(iface string, v6 bool) (conn, bool, error) {
	fam, proto, name := unix.AF_INET, unix.IPPROTO_ICMP, "icmp"
	if v6 {
		fam, proto, name = unix.AF_INET6, unix.IPPROTO_ICMPV6, "icmpv6"
	}
	dgram := hasDgramICMP
	var fd int
	var err error
	if dgram {
		fd, err = socket(fam, unix.SOCK_DGRAM, proto)
	}
	if !dgram || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EPROTONOSUPPORT) {
		dgram = false
		fd, err = socket(fam, unix.SOCK_RAW, proto)
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
	return &sock{f: f, rc: rc, v4hdr: !v6}, dgram, nil
}

// setup ties fd to iface and, on raw ICMPv6 sockets, lets only echo
// replies in. Raw IPv4 ICMP sockets have no type filter on the BSDs; the
// prober drops what is not its reply.
func setup(fd int, iface string, v6, dgram bool) error {
	if err := bindIface(fd, iface, v6); err != nil {
		return err
	}
	if !v6 || dgram {
		return nil
	}
	filt := unix.ICMPv6Filter{Filt: icmp6PassOnly(typeEchoReply6)}
	err := unix.SetsockoptICMPv6Filter(fd, unix.IPPROTO_ICMPV6, unix.ICMP6_FILTER, &filt)
	return os.NewSyscallError("setsockopt ICMP6_FILTER", err)
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
	if s.v4hdr {
		if msg, err = cutIPv4Header(msg); err != nil {
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
