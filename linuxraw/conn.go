package linuxraw

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/wgstun/wgstun/src/rawudp"
)

// ErrNotSupported is returned (wrapped) by Listen on systems other than Linux.
var ErrNotSupported = errors.New("linuxraw: raw UDP sockets are only supported on Linux")

var (
	errZeroPort        = errors.New("port 0")
	errFamily          = errors.New("address family does not match the socket")
	errBadDestination  = errors.New("unspecified address or port 0")
	errPayloadTooLarge = errors.New("payload does not fit in one UDP datagram")
)

// recvBufferSize bounds the datagrams ReadFrom can return, headers included.
// STUN over UDP stays well under the path MTU (RFC 8489 section 6.1 asks for
// less than 576 bytes when the MTU is unknown); a larger datagram arrives
// truncated, fails the length checks and is dropped.
const recvBufferSize = 4096

// Conn sends and receives STUN messages on a UDP port owned by someone else,
// for one address family. It satisfies stun.Conn. WriteTo and ReadFrom may be
// called concurrently with each other; concurrent ReadFrom calls are
// serialised.
type Conn struct {
	port uint16
	ipv6 bool

	// System hooks, set by the OS-specific listen; tests swap in closures.
	//
	// routeSource returns the source address the kernel picks for dst.
	routeSource func(dst netip.AddrPort) (netip.Addr, error)
	// send transmits a UDP datagram (header included) from src to dst.
	send func(datagram []byte, src, dst netip.Addr) error
	// recv reads one datagram as the raw socket delivers it into b and
	// returns its length and the address recvfrom reported.
	recv func(b []byte) (n int, from netip.Addr, err error)
	// setReadDeadline and close act on the socket.
	setReadDeadline func(t time.Time) error
	close           func() error
	// control runs f with the socket's file descriptor (tests use it to read
	// socket options).
	control func(f func(fd uintptr)) error

	rmu  sync.Mutex // guards rbuf
	rbuf []byte
}

// Listen opens a raw packet path for UDP port port: IPv4 when ipv6 is false,
// IPv6 when it is true. Datagrams it sends carry source port port; ReadFrom
// returns STUN Binding responses sent to port. When mark is non-zero it is
// set as SO_MARK on every socket used (pass WireGuard's fwmark). Listen needs
// CAP_NET_RAW, and CAP_NET_ADMIN when mark is non-zero. Call it in the
// network namespace of WireGuard's UDP socket; the Conn keeps that namespace
// whichever thread uses it later. On systems other than Linux it returns an
// error wrapping ErrNotSupported.
func Listen(port uint16, ipv6 bool, mark uint32) (*Conn, error) {
	fam := "ipv4"
	if ipv6 {
		fam = "ipv6"
	}
	if port == 0 {
		return nil, fmt.Errorf("linuxraw: listen %s: %w", fam, errZeroPort)
	}
	c, err := listen(port, ipv6, mark)
	if err != nil {
		return nil, fmt.Errorf("linuxraw: listen %s port %d: %w", fam, port, err)
	}
	return c, nil
}

// WriteTo sends payload in a UDP datagram from the Conn's port to dst. dst
// must belong to the Conn's address family (an IPv4-mapped IPv6 address
// counts as IPv4; an IPv6 link-local address needs its zone).
func (c *Conn) WriteTo(payload []byte, dst netip.AddrPort) error {
	daddr, err := c.checkDestination(dst)
	if err != nil {
		return fmt.Errorf("linuxraw: send to %v: %w", dst, err)
	}
	limit := 0xffff - udpHeaderLen // IPv6 payload length covers the UDP header
	if !c.ipv6 {
		limit -= ipv4MinHeaderLen // IPv4 total length covers the IP header too
	}
	if len(payload) > limit {
		return fmt.Errorf("linuxraw: send %d bytes to %v: %w", len(payload), dst, errPayloadTooLarge)
	}
	dst = netip.AddrPortFrom(daddr, dst.Port())
	src, err := c.routeSource(dst)
	if err != nil {
		return fmt.Errorf("linuxraw: find source address for %v: %w", dst, err)
	}
	datagram := rawudp.BuildUDP(src, daddr, c.port, dst.Port(), payload)
	if err := c.send(datagram, src, daddr); err != nil {
		return fmt.Errorf("linuxraw: send from %v to %v: %w", netip.AddrPortFrom(src, c.port), dst, err)
	}
	return nil
}

// checkDestination returns dst's address in the Conn's family or an error.
func (c *Conn) checkDestination(dst netip.AddrPort) (netip.Addr, error) {
	a := dst.Addr()
	if !a.IsValid() || a.IsUnspecified() || dst.Port() == 0 {
		return netip.Addr{}, errBadDestination
	}
	if c.ipv6 {
		if !a.Is6() || a.Is4In6() {
			return netip.Addr{}, errFamily
		}
		return a, nil
	}
	a = a.Unmap()
	if !a.Is4() {
		return netip.Addr{}, errFamily
	}
	return a, nil
}

// ReadFrom waits for the next STUN Binding response sent to the Conn's port,
// copies its STUN message (the UDP payload) into buf and returns the number
// of bytes copied and the sender. A message longer than buf is truncated to
// len(buf), as with a UDP socket. After Close it returns an error wrapping
// net.ErrClosed; after the read deadline, one wrapping os.ErrDeadlineExceeded.
func (c *Conn) ReadFrom(buf []byte) (int, netip.AddrPort, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rbuf == nil {
		c.rbuf = make([]byte, recvBufferSize)
	}
	for {
		n, from, err := c.recv(c.rbuf)
		if err != nil {
			return 0, netip.AddrPort{}, fmt.Errorf("linuxraw: read port %d: %w", c.port, err)
		}
		var payload []byte
		var src netip.AddrPort
		if c.ipv6 {
			payload, src, err = parseIPv6(c.rbuf[:n], from, c.port)
		} else {
			payload, src, err = parseIPv4(c.rbuf[:n], c.port)
		}
		if err != nil {
			// Queued before the filter was attached, or truncated: drop.
			continue
		}
		return copy(buf, payload), src, nil
	}
}

// SetReadDeadline sets the deadline for pending and future ReadFrom calls; a
// zero t means no deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if err := c.setReadDeadline(t); err != nil {
		return fmt.Errorf("linuxraw: set read deadline on port %d: %w", c.port, err)
	}
	return nil
}

// Close closes the socket; a blocked ReadFrom returns with net.ErrClosed.
func (c *Conn) Close() error {
	if err := c.close(); err != nil {
		return fmt.Errorf("linuxraw: close port %d: %w", c.port, err)
	}
	return nil
}
