package linuxraw

import (
	"encoding/binary"
	"errors"
	"github.com/wgstun/wgstun/src/stunwire"
	"net/netip"
)

// Reasons the parser rejects a received packet. ReadFrom drops such packets
// silently; they are sentinels so tests can tell the reasons apart.
var (
	errTruncated       = stunwire.ErrTruncated
	errNotIPv4         = errors.New("not an IPv4 packet")
	errBadHeaderLen    = errors.New("bad IPv4 header length")
	errNotUDP          = errors.New("not a UDP packet")
	errFragment        = errors.New("IPv4 fragment")
	errBadUDPLen       = stunwire.ErrBadUDPLen
	errOtherPort       = stunwire.ErrOtherPort
	errNotSTUNResponse = stunwire.ErrNotSTUNResponse
	errBadSource       = errors.New("bad source address")
)

// parseIPv4 takes a datagram as an AF_INET raw socket delivers it (IPv4
// header first) and returns its UDP payload and source when it passes the
// same checks as filterIPv4(port): IPv4, UDP, not a fragment, destination
// port, STUN Binding response. It also requires the IPv4 total length and the
// UDP length to fit the captured bytes, so a datagram truncated by a short
// read buffer is rejected. The payload aliases b.
func parseIPv4(b []byte, port uint16) ([]byte, netip.AddrPort, error) {
	if len(b) < ipv4MinHeaderLen {
		return nil, netip.AddrPort{}, errTruncated
	}
	if b[0]>>4 != 4 {
		return nil, netip.AddrPort{}, errNotIPv4
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < ipv4MinHeaderLen {
		return nil, netip.AddrPort{}, errBadHeaderLen
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < ihl {
		return nil, netip.AddrPort{}, errBadHeaderLen
	}
	if total > len(b) {
		return nil, netip.AddrPort{}, errTruncated
	}
	b = b[:total]
	if b[9] != protoUDP {
		return nil, netip.AddrPort{}, errNotUDP
	}
	if binary.BigEndian.Uint16(b[6:8])&ipv4FragMask != 0 {
		return nil, netip.AddrPort{}, errFragment
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	payload, sport, err := stunwire.ParseUDP(b[ihl:], port)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return payload, netip.AddrPortFrom(src, sport), nil
}

// parseIPv6 takes a datagram as an AF_INET6 raw socket delivers it (UDP
// header first) and the source address recvfrom reported, and returns its
// UDP payload and source when it passes the same checks as filterIPv6(port).
// The payload aliases b.
func parseIPv6(b []byte, from netip.Addr, port uint16) ([]byte, netip.AddrPort, error) {
	if !from.Is6() || from.Is4In6() {
		return nil, netip.AddrPort{}, errBadSource
	}
	payload, sport, err := stunwire.ParseUDP(b, port)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return payload, netip.AddrPortFrom(from, sport), nil
}
