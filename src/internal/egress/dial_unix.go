//go:build linux || freebsd || darwin

package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Dial opens a UDP or TCP ("udp", "tcp") connection to addr, a literal
// ip:port, from a socket that follows the policy. It opens the socket
// itself rather than through a net.Dialer, whose name resolution and
// address-family racing wgstun does not need and the router build does
// not link (see resolve). A TCP connect is bounded by ctx.
func Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", network, addr, err)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	var typ int
	switch network {
	case "udp":
		typ = unix.SOCK_DGRAM
	case "tcp":
		typ = unix.SOCK_STREAM
	default:
		return nil, fmt.Errorf("dial %s %s: network not supported", network, addr)
	}
	fd, err := socket(ap.Addr().Is6(), typ)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: opAddr(network, ap), Err: os.NewSyscallError("socket", err)}
	}
	if err := apply(fd, network+family(ap.Addr().Is6()), Get()); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := connect(ctx, fd, ap, typ == unix.SOCK_STREAM); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: network, Addr: opAddr(network, ap), Err: err}
	}
	return fileConn(fd, network)
}

// ListenUDP opens an unconnected UDP socket of the family on an
// ephemeral port, following the policy.
func ListenUDP(ipv6 bool) (*net.UDPConn, error) {
	fd, err := socket(ipv6, unix.SOCK_DGRAM)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := apply(fd, "udp"+family(ipv6), Get()); err != nil {
		unix.Close(fd)
		return nil, err
	}
	var sa unix.Sockaddr = &unix.SockaddrInet4{}
	if ipv6 {
		sa = &unix.SockaddrInet6{}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	c, err := fileConn(fd, "udp")
	if err != nil {
		return nil, err
	}
	return c.(*net.UDPConn), nil
}

// family is the suffix of a network name ("udp4", "tcp6") that apply
// reads the address family from.
func family(ipv6 bool) string {
	if ipv6 {
		return "6"
	}
	return "4"
}

func opAddr(network string, ap netip.AddrPort) net.Addr {
	if network == "tcp" {
		return net.TCPAddrFromAddrPort(ap)
	}
	return net.UDPAddrFromAddrPort(ap)
}

// socket opens a non-blocking, close-on-exec UDP or TCP socket of the
// family.
func socket(ipv6 bool, typ int) (int, error) {
	family := unix.AF_INET
	if ipv6 {
		family = unix.AF_INET6
	}
	return Socket(family, typ, 0)
}

// Socket opens a non-blocking, close-on-exec socket, as the net package
// opens its own. Where socket(2) cannot set both at once (macOS), fork is
// held off in between, so no plugin started meanwhile inherits it. The
// ping package opens its ICMP sockets with it too.
func Socket(family, typ, proto int) (int, error) {
	if sockFlags != 0 {
		return unix.Socket(family, typ|sockFlags, proto)
	}
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, typ, proto)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// connect connects fd to ap; a stream connect in progress is waited for
// until ctx ends.
func connect(ctx context.Context, fd int, ap netip.AddrPort, stream bool) error {
	var sa unix.Sockaddr
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	err := unix.Connect(fd, sa)
	if err != unix.EINPROGRESS || !stream {
		return os.NewSyscallError("connect", err)
	}
	for {
		wait := -1
		if d, ok := ctx.Deadline(); ok {
			wait = int(time.Until(d) / time.Millisecond)
			if wait <= 0 {
				return os.ErrDeadlineExceeded
			}
		}
		// Poll in slices of at most 100 ms, so a cancelled ctx is seen.
		if wait < 0 || wait > 100 {
			wait = 100
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(pfd, wait)
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("poll", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if n > 0 {
			soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err != nil {
				return os.NewSyscallError("getsockopt", err)
			}
			if soErr != 0 {
				return os.NewSyscallError("connect", syscall.Errno(soErr))
			}
			return nil
		}
	}
}

// fileConn hands fd over to the net package (which takes a copy of it)
// and closes fd.
func fileConn(fd int, network string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), network)
	defer f.Close()
	return net.FileConn(f)
}
