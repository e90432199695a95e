//go:build linux || darwin || freebsd

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
	v4hdr bool // IPv4 reads carry the IPv4 header (dropIPv4Header cuts it)
}

// newSock puts a configured socket into the runtime poller.
func newSock(fd int, name, iface string, v4hdr bool) (*sock, error) {
	f := os.NewFile(uintptr(fd), "ping "+name+" "+iface)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ping: %s socket on %s: %w", name, iface, err)
	}
	return &sock{f: f, rc: rc, v4hdr: v4hdr}, nil
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
		if msg, err = dropIPv4Header(msg); err != nil {
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
