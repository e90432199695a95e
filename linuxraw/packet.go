package linuxraw

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Reasons the parser rejects a received packet. ReadFrom drops such packets
// silently; they are sentinels so tests can tell the reasons apart.
var (
	errTruncated       = errors.New("truncated packet")
	errNotIPv4         = errors.New("not an IPv4 packet")
	errBadHeaderLen    = errors.New("bad IPv4 header length")
	errNotUDP          = errors.New("not a UDP packet")
	errFragment        = errors.New("IPv4 fragment")
	errBadUDPLen       = errors.New("bad UDP length")
	errOtherPort       = errors.New("UDP destination port is not ours")
	errNotSTUNResponse = errors.New("not a STUN Binding response")
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
	payload, sport, err := parseUDP(b[ihl:], port)
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
	payload, sport, err := parseUDP(b, port)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return payload, netip.AddrPortFrom(from, sport), nil
}

// parseUDP checks a UDP header and its STUN payload and returns the payload
// (trimmed to the UDP length) and the source port.
func parseUDP(u []byte, port uint16) ([]byte, uint16, error) {
	if len(u) < udpHeaderLen {
		return nil, 0, errTruncated
	}
	ulen := int(binary.BigEndian.Uint16(u[4:6]))
	if ulen < udpHeaderLen {
		return nil, 0, errBadUDPLen
	}
	if ulen > len(u) {
		return nil, 0, errTruncated
	}
	if binary.BigEndian.Uint16(u[2:4]) != port {
		return nil, 0, errOtherPort
	}
	payload := u[udpHeaderLen:ulen]
	if !isSTUNResponse(payload) {
		return nil, 0, errNotSTUNResponse
	}
	return payload, binary.BigEndian.Uint16(u[0:2]), nil
}

// isSTUNResponse reports whether p starts with a STUN header whose type is a
// Binding success or error response and whose cookie is the magic cookie.
func isSTUNResponse(p []byte) bool {
	if len(p) < stunHeaderLen {
		return false
	}
	t := binary.BigEndian.Uint16(p[0:2])
	return (t == stunBindingSuccess || t == stunBindingError) &&
		binary.BigEndian.Uint32(p[4:8]) == stunMagicCookie
}

// buildUDP returns a UDP header followed by payload, with the checksum for
// the pseudo-header of src and dst (RFC 768; RFC 8200 section 8.1). The
// caller has checked that the length fits in 16 bits.
func buildUDP(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, udpHeaderLen+len(payload))
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)))
	copy(b[udpHeaderLen:], payload)
	binary.BigEndian.PutUint16(b[6:8], udpChecksum(src, dst, b))
	return b
}

// udpChecksum returns the UDP checksum of datagram (whose checksum field is
// summed as it is, so it must be zero when computing) between src and dst,
// which are both IPv4 or both IPv6. A computed zero is sent as 0xffff, since
// zero means "no checksum" in IPv4 and is invalid in IPv6.
func udpChecksum(src, dst netip.Addr, datagram []byte) uint16 {
	var sum uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = sumWords(sum, s[:])
		sum = sumWords(sum, d[:])
	} else {
		s, d := src.As16(), dst.As16()
		sum = sumWords(sum, s[:])
		sum = sumWords(sum, d[:])
	}
	n := uint64(len(datagram))
	sum += n>>16 + n&0xffff + protoUDP
	sum = sumWords(sum, datagram)
	cs := ^fold(sum)
	if cs == 0 {
		cs = 0xffff
	}
	return cs
}

// sumWords adds b to sum as big-endian 16-bit words, padding an odd final
// byte with zero (RFC 1071).
func sumWords(sum uint64, b []byte) uint64 {
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// fold reduces a 64-bit sum of 16-bit words to their 16-bit one's
// complement sum (RFC 1071 end-around carry).
func fold(sum uint64) uint16 {
	for sum>>16 != 0 {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
