package linuxraw

import (
	"errors"
	"net/netip"

	"github.com/wgstun/wgstun/src/rawudp"
)

// Reasons the parser rejects a received packet. ReadFrom drops such packets
// silently; they are sentinels so tests can tell the reasons apart.
var (
	errTruncated       = rawudp.ErrTruncated
	errNotIPv4         = rawudp.ErrNotIPv4
	errBadHeaderLen    = rawudp.ErrBadHeaderLen
	errNotUDP          = rawudp.ErrNotUDP
	errFragment        = rawudp.ErrFragment
	errBadUDPLen       = rawudp.ErrBadUDPLen
	errOtherPort       = rawudp.ErrOtherPort
	errNotSTUNResponse = rawudp.ErrNotSTUNResponse
	errBadSource       = errors.New("bad source address")
)

// parseIPv4 takes a datagram as an AF_INET raw socket delivers it (IPv4
// header first) and returns its UDP payload and source when it passes the
// same checks as filterIPv4(port): IPv4, UDP, not a fragment, destination
// port, STUN Binding response (rawudp.ParseIPv4).
func parseIPv4(b []byte, port uint16) ([]byte, netip.AddrPort, error) {
	return rawudp.ParseIPv4(b, port)
}

// parseIPv6 takes a datagram as an AF_INET6 raw socket delivers it (UDP
// header first) and the source address recvfrom reported, and returns its
// UDP payload and source when it passes the same checks as filterIPv6(port).
// The payload aliases b.
func parseIPv6(b []byte, from netip.Addr, port uint16) ([]byte, netip.AddrPort, error) {
	if !from.Is6() || from.Is4In6() {
		return nil, netip.AddrPort{}, errBadSource
	}
	payload, sport, err := rawudp.ParseUDP(b, port)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return payload, netip.AddrPortFrom(from, sport), nil
}
