//go:build linux

package linuxraw

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/wgstun/wgstun/src/rawudp"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// drainLimit bounds how many datagrams listen discards after attaching the
// filter; the queue cannot hold more than its receive buffer anyway.
const drainLimit = 4096

// rawSocket is one non-blocking raw IPPROTO_UDP socket in Go's poller.
type rawSocket struct {
	f      *os.File
	rc     syscall.RawConn
	family int
	closed atomic.Bool

	// route is a UDP socket used only for route lookups; it was created
	// next to the raw socket, so it sees the same network namespace and
	// carries the same mark whichever thread later calls routeSource.
	routeMu sync.Mutex
	route   int // -1 once closed
}

func listen(port uint16, ipv6 bool, mark uint32) (*Conn, error) {
	family, filter, name := unix.AF_INET, filterIPv4(port), "linuxraw-udp4"
	if ipv6 {
		family, filter, name = unix.AF_INET6, filterIPv6(port), "linuxraw-udp6"
	}
	prog, err := bpf.Assemble(filter)
	if err != nil {
		return nil, fmt.Errorf("assemble filter: %w", err)
	}
	route, err := newSocket(family, unix.SOCK_DGRAM, mark)
	if err != nil {
		return nil, err
	}
	fd, err := newSocket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK, mark)
	if err != nil {
		unix.Close(route)
		return nil, err
	}
	if err := setupFilter(fd, prog); err != nil {
		unix.Close(fd)
		unix.Close(route)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("%s:%d", name, port))
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		unix.Close(route)
		return nil, fmt.Errorf("syscall conn: %w", err)
	}
	s := &rawSocket{f: f, rc: rc, family: family, route: route}
	return &Conn{
		port:            port,
		ipv6:            ipv6,
		routeSource:     s.routeSource,
		send:            s.send,
		recv:            s.recv,
		setReadDeadline: f.SetReadDeadline,
		close:           s.close,
		control:         rc.Control,
	}, nil
}

// newSocket opens an IPPROTO_UDP socket of family and typ with SO_MARK set
// to mark when it is not zero.
func newSocket(family, typ int, mark uint32) (int, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if mark != 0 {
		// int(mark) keeps the bit pattern on 32-bit systems; the kernel
		// reads a u32.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt SO_MARK", err)
		}
	}
	return fd, nil
}

// setupFilter attaches the filter and discards whatever was queued before
// it took effect.
func setupFilter(fd int, prog []bpf.RawInstruction) error {
	if err := attachFilter(fd, prog); err != nil {
		return err
	}
	var b [1]byte
	for range drainLimit {
		// MSG_TRUNC discards the whole datagram however long it is.
		_, _, err := unix.Recvfrom(fd, b[:], unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		if err == unix.EAGAIN {
			return nil
		}
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("recvfrom (drain)", err)
		}
	}
	return nil
}

func attachFilter(fd int, prog []bpf.RawInstruction) error {
	ins := make([]unix.SockFilter, len(prog))
	for i, p := range prog {
		ins[i] = unix.SockFilter{Code: p.Op, Jt: p.Jt, Jf: p.Jf, K: p.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	return nil
}

// routeSource asks the kernel which source address it would use towards
// dst: it connects the route-lookup UDP socket, reads its name and
// disconnects again. Nothing is sent.
func (s *rawSocket) routeSource(dst netip.AddrPort) (netip.Addr, error) {
	sa, err := rawudp.Sockaddr(dst, nil)
	if err != nil {
		return netip.Addr{}, err
	}
	s.routeMu.Lock()
	defer s.routeMu.Unlock()
	if s.route < 0 {
		return netip.Addr{}, net.ErrClosed
	}
	if err := unix.Connect(s.route, sa); err != nil {
		return netip.Addr{}, os.NewSyscallError("connect", err)
	}
	name, err := unix.Getsockname(s.route)
	// Dissolve the association so the next lookup picks a fresh source and
	// the socket holds no port while idle.
	derr := disconnect(s.route)
	if err != nil {
		return netip.Addr{}, os.NewSyscallError("getsockname", err)
	}
	if derr != nil {
		return netip.Addr{}, os.NewSyscallError("connect AF_UNSPEC", derr)
	}
	a := rawudp.SockaddrAddr(name)
	if !a.IsValid() || a.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("getsockname returned %v", a)
	}
	return a, nil
}

// disconnect dissolves a UDP socket's association: connect with an
// AF_UNSPEC address (connect(2)), which x/sys/unix has no Sockaddr for.
func disconnect(fd int) error {
	sa := unix.RawSockaddr{Family: unix.AF_UNSPEC}
	_, _, errno := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	if errno != 0 {
		return errno
	}
	return nil
}

// send transmits datagram from src to dst, pinning src with IP_PKTINFO or
// IPV6_PKTINFO so the kernel's IP header matches the UDP checksum.
func (s *rawSocket) send(datagram []byte, src, dst netip.Addr) error {
	sa, err := rawudp.Sockaddr(netip.AddrPortFrom(dst, 0), nil) // raw sockets want port 0
	if err != nil {
		return err
	}
	var oob []byte
	if s.family == unix.AF_INET {
		oob = unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: src.As4()})
	} else {
		oob = unix.PktInfo6(&unix.Inet6Pktinfo{Addr: src.As16()})
	}
	var werr error
	err = s.rc.Write(func(fd uintptr) bool {
		for {
			_, werr = unix.SendmsgN(int(fd), datagram, oob, sa, 0)
			if werr != unix.EINTR {
				return werr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return s.pollError(err)
	}
	if werr != nil {
		return os.NewSyscallError("sendmsg", werr)
	}
	return nil
}

func (s *rawSocket) recv(b []byte) (int, netip.Addr, error) {
	var (
		n    int
		from unix.Sockaddr
		rerr error
	)
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			n, from, rerr = unix.Recvfrom(int(fd), b, 0)
			if rerr != unix.EINTR {
				return rerr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return 0, netip.Addr{}, s.pollError(err)
	}
	if rerr != nil {
		return 0, netip.Addr{}, os.NewSyscallError("recvfrom", rerr)
	}
	return n, rawudp.SockaddrAddr(from), nil
}

// pollError maps the poller's "use of closed file" to net.ErrClosed, the
// error network connections report after Close; deadline errors pass as
// they are (os.ErrDeadlineExceeded).
func (s *rawSocket) pollError(err error) error {
	if s.closed.Load() {
		return net.ErrClosed
	}
	return err
}

func (s *rawSocket) close() error {
	s.closed.Store(true)
	s.routeMu.Lock()
	if s.route >= 0 {
		unix.Close(s.route)
		s.route = -1
	}
	s.routeMu.Unlock()
	return s.f.Close()
}
