package bsdbpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/wgstun/wgstun/src/rawudp"
)

// The send path. BSD systems deliver received UDP to sockets bound to the
// port and never to raw sockets, which is why answers are read from
// /dev/bpf; sending, though, works through an ordinary raw socket:
// socket(AF_INET or AF_INET6, SOCK_RAW, IPPROTO_UDP) and sendto with a UDP
// header that we write ourselves, so the source port is WireGuard's without
// binding it.
//
// IPv4: the socket does not set IP_HDRINCL, so the kernel writes the IPv4
// header (source address, ID, TTL, length) and, on FreeBSD and macOS alike,
// leaves the UDP checksum as we wrote it. We compute it over the
// pseudo-header with the source address the kernel will choose, learnt by
// connecting a throwaway UDP socket to the destination and reading its name
// (a route lookup; nothing is sent). IP_HDRINCL was not chosen because its
// ip_len and ip_off fields must be in host byte order on macOS and on
// FreeBSD before 11 but in network byte order on FreeBSD 11 and later
// (ip(4)); without it there is nothing that depends on the version.
//
// IPv6: the socket sets IPV6_CHECKSUM to 6, the offset of the checksum in
// the UDP header (RFC 3542 section 3.1), so the kernel fills the checksum in
// with the source address it really used; no route lookup is needed.
//
// FreeBSD: when a FIB is given, SO_SETFIB puts the raw socket (and the
// route-lookup socket) in that routing table, so that a full tunnel whose
// default route lives in the main table does not swallow STUN. macOS: when
// an egress interface is given, IP_BOUND_IF or IPV6_BOUND_IF pins both
// sockets to it for the same reason.

// Header sizes and offsets the send path writes.
const (
	txUDPHeaderLen   = 8
	txIPv4HeaderLen  = 20 // what the kernel prepends (no options)
	txUDPChecksumOff = 6
	txProtoUDP       = 17
)

var (
	errSendClosed   = errors.New("send socket closed")
	errNoSendSys    = errors.New("no raw socket calls for this operating system")
	errNoRouteAddr  = errors.New("route lookup returned no usable source address")
	errSendTooLarge = errors.New("payload does not fit in one UDP datagram")
)

// SendSys are the socket calls of the send path. The native set lives in
// send_bsd.go; tests on other systems pass closures that record the calls.
// Every fd is a plain blocking descriptor: raw sendto does not wait for
// the peer, and a full send buffer makes it fail with ENOBUFS rather than
// block.
type SendSys struct {
	// OpenRaw opens socket(AF_INET or AF_INET6, SOCK_RAW, IPPROTO_UDP).
	OpenRaw func(ipv6 bool) (int, error)
	// OpenUDP opens socket(AF_INET or AF_INET6, SOCK_DGRAM, IPPROTO_UDP)
	// for a route lookup.
	OpenUDP func(ipv6 bool) (int, error)
	// SetFIB sets SO_SETFIB (FreeBSD).
	SetFIB func(fd, fib int) error
	// BindInterface sets IP_BOUND_IF or IPV6_BOUND_IF (macOS).
	BindInterface func(fd int, ipv6 bool, ifindex int) error
	// SetChecksumOffset sets IPV6_CHECKSUM.
	SetChecksumOffset func(fd, offset int) error
	// Connect connects a UDP socket (no packet is sent).
	Connect func(fd int, dst netip.AddrPort) error
	// LocalAddr returns the address getsockname reports.
	LocalAddr func(fd int) (netip.Addr, error)
	// SendTo sends p to dst (port 0 for raw sockets).
	SendTo func(fd int, p []byte, dst netip.AddrPort) error
	// Close closes fd.
	Close func(fd int) error
	// IfIndex returns the index of the named interface.
	IfIndex func(name string) (int, error)
}

// sender owns the raw socket of one address family.
type sender struct {
	sys     SendSys
	ipv6    bool
	port    uint16
	fib     int // 0: leave the process's FIB
	ifindex int // 0: not bound

	mu sync.RWMutex // guards fd against close during a send
	fd int          // -1 once closed
}

// newSender opens and configures the raw socket. fib > 0 sets SO_SETFIB;
// a non-empty boundIf binds the socket to that interface.
func newSender(sys SendSys, ipv6 bool, port uint16, fib int, boundIf string) (*sender, error) {
	if sys.OpenRaw == nil {
		return nil, errNoSendSys
	}
	s := &sender{sys: sys, ipv6: ipv6, port: port, fib: fib, fd: -1}
	if boundIf != "" {
		idx, err := sys.IfIndex(boundIf)
		if err != nil {
			return nil, fmt.Errorf("interface %s to bind to: %w", boundIf, err)
		}
		s.ifindex = idx
	}
	fd, err := sys.OpenRaw(ipv6)
	if err != nil {
		return nil, fmt.Errorf("open raw socket: %w", err)
	}
	if err := s.configure(fd); err != nil {
		sys.Close(fd)
		return nil, err
	}
	if ipv6 {
		if err := sys.SetChecksumOffset(fd, txUDPChecksumOff); err != nil {
			sys.Close(fd)
			return nil, fmt.Errorf("set IPV6_CHECKSUM: %w", err)
		}
	}
	s.fd = fd
	return s, nil
}

// configure applies the FIB and the interface binding to fd; the raw
// socket and every route-lookup socket get the same, so the lookup sees
// the route the datagram will take.
func (s *sender) configure(fd int) error {
	if s.fib > 0 {
		if err := s.sys.SetFIB(fd, s.fib); err != nil {
			return fmt.Errorf("set FIB %d: %w", s.fib, err)
		}
	}
	if s.ifindex > 0 {
		if err := s.sys.BindInterface(fd, s.ipv6, s.ifindex); err != nil {
			return fmt.Errorf("bind to interface index %d: %w", s.ifindex, err)
		}
	}
	return nil
}

// routeSource returns the source address the kernel picks towards dst.
func (s *sender) routeSource(dst netip.AddrPort) (netip.Addr, error) {
	fd, err := s.sys.OpenUDP(s.ipv6)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("open route lookup socket: %w", err)
	}
	defer s.sys.Close(fd)
	if err := s.configure(fd); err != nil {
		return netip.Addr{}, err
	}
	if err := s.sys.Connect(fd, dst); err != nil {
		return netip.Addr{}, fmt.Errorf("route lookup towards %v: %w", dst, err)
	}
	a, err := s.sys.LocalAddr(fd)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("route lookup towards %v: %w", dst, err)
	}
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.Is4() == s.ipv6 {
		return netip.Addr{}, fmt.Errorf("route lookup towards %v: %w (%v)", dst, errNoRouteAddr, a)
	}
	return a, nil
}

// send writes payload in a UDP datagram from the sender's port to dst,
// which the caller has checked belongs to the sender's family.
func (s *sender) send(payload []byte, dst netip.AddrPort) error {
	limit := 0xffff - txUDPHeaderLen
	if !s.ipv6 {
		limit -= txIPv4HeaderLen
	}
	if len(payload) > limit {
		return errSendTooLarge
	}
	var datagram []byte
	if s.ipv6 {
		// The kernel computes the checksum (IPV6_CHECKSUM).
		datagram = buildDatagram(netip.Addr{}, netip.Addr{}, s.port, dst.Port(), payload)
	} else {
		src, err := s.routeSource(dst)
		if err != nil {
			return err
		}
		datagram = buildDatagram(src, dst.Addr(), s.port, dst.Port(), payload)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return errSendClosed
	}
	// Raw sockets take no port in the destination.
	if err := s.sys.SendTo(s.fd, datagram, netip.AddrPortFrom(dst.Addr(), 0)); err != nil {
		return fmt.Errorf("sendto: %w", err)
	}
	return nil
}

func (s *sender) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return nil
	}
	fd := s.fd
	s.fd = -1
	return s.sys.Close(fd)
}

// buildDatagram returns a UDP header followed by payload. With valid src
// and dst it carries the checksum over their pseudo-header (RFC 768, RFC
// 8200 section 8.1); with zero addresses the checksum field stays zero for
// the kernel to fill in. The caller has checked that the length fits.
func buildDatagram(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, txUDPHeaderLen+len(payload))
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)))
	copy(b[txUDPHeaderLen:], payload)
	if src.IsValid() && dst.IsValid() {
		binary.BigEndian.PutUint16(b[6:8], rawudp.UDPChecksum(src, dst, b))
	}
	return b
}
