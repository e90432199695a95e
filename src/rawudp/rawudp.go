// Package rawudp is UDP over IPv4 and IPv6 as a program sees it when it
// reads and writes a port it does not own, through a raw socket or a packet
// capture: checking a received IPv4 datagram and its UDP header, recognising
// a STUN answer in it, building a UDP datagram with its checksum, and
// converting addresses to and from socket addresses. linuxraw and bsdbpf,
// the two packet paths, share it; it is public so that a program using
// either can frame its own datagrams the same way.
package rawudp

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// UDPHeaderLen is the length of a UDP header.
const UDPHeaderLen = 8

const (
	protoUDP         = 17
	ipv4MinHeaderLen = 20
	ipv4FragMask     = 0x3fff // MF flag and fragment offset
	headerLen        = 20     // STUN message header
	bindingRequest   = 0x0001
	bindingSuccess   = 0x0101
	bindingError     = 0x0111
	magicCookie      = 0x2112A442
)

// Reasons ParseUDP rejects a datagram.
var (
	ErrTruncated       = errors.New("truncated packet")
	ErrBadUDPLen       = errors.New("bad UDP length")
	ErrOtherPort       = errors.New("UDP destination port is not ours")
	ErrNotSTUNResponse = errors.New("not a STUN Binding response")
)

// Reasons ParseIPv4 rejects a datagram, besides ParseUDP's.
var (
	ErrNotIPv4      = errors.New("not an IPv4 packet")
	ErrBadHeaderLen = errors.New("bad IPv4 header length")
	ErrNotUDP       = errors.New("not a UDP packet")
	ErrFragment     = errors.New("IPv4 fragment")
)

// ParseIPv4 checks an IPv4 datagram (header first, possibly followed by
// link padding) carrying UDP to port and a STUN Binding answer, and
// returns the payload and the source. It requires the IPv4 total length
// and the UDP length to fit the bytes given, so a datagram cut short by a
// read buffer or a capture is rejected. The payload aliases b.
func ParseIPv4(b []byte, port uint16) ([]byte, netip.AddrPort, error) {
	if len(b) < ipv4MinHeaderLen {
		return nil, netip.AddrPort{}, ErrTruncated
	}
	if b[0]>>4 != 4 {
		return nil, netip.AddrPort{}, ErrNotIPv4
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < ipv4MinHeaderLen {
		return nil, netip.AddrPort{}, ErrBadHeaderLen
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < ihl {
		return nil, netip.AddrPort{}, ErrBadHeaderLen
	}
	if total > len(b) {
		return nil, netip.AddrPort{}, ErrTruncated
	}
	b = b[:total] // drop link padding
	if b[9] != protoUDP {
		return nil, netip.AddrPort{}, ErrNotUDP
	}
	if binary.BigEndian.Uint16(b[6:8])&ipv4FragMask != 0 {
		return nil, netip.AddrPort{}, ErrFragment
	}
	payload, sport, err := ParseUDP(b[ihl:], port)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return payload, netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), sport), nil
}

// ParseUDP checks a UDP header for destination port and its payload for a
// STUN Binding answer, and returns the payload (trimmed to the UDP length,
// aliasing u) and the source port.
func ParseUDP(u []byte, port uint16) ([]byte, uint16, error) {
	if len(u) < UDPHeaderLen {
		return nil, 0, ErrTruncated
	}
	ulen := int(binary.BigEndian.Uint16(u[4:6]))
	if ulen < UDPHeaderLen {
		return nil, 0, ErrBadUDPLen
	}
	if ulen > len(u) {
		return nil, 0, ErrTruncated
	}
	if binary.BigEndian.Uint16(u[2:4]) != port {
		return nil, 0, ErrOtherPort
	}
	payload := u[UDPHeaderLen:ulen]
	if !IsSTUNResponse(payload) {
		return nil, 0, ErrNotSTUNResponse
	}
	return payload, binary.BigEndian.Uint16(u[0:2]), nil
}

// IsSTUNResponse reports whether p starts with a STUN header whose type is
// a Binding success or error response, or a Binding request (a peer's
// path check), and whose cookie is the magic cookie (RFC 8489 section 5).
// These are what the capture filters pass.
func IsSTUNResponse(p []byte) bool {
	if len(p) < headerLen {
		return false
	}
	t := binary.BigEndian.Uint16(p[0:2])
	return (t == bindingSuccess || t == bindingError || t == bindingRequest) && binary.BigEndian.Uint32(p[4:8]) == magicCookie
}

// BuildUDP returns a UDP header followed by payload, with the checksum for
// the pseudo-header of src and dst (RFC 768; RFC 8200 section 8.1). The
// caller has checked that the length fits in 16 bits.
func BuildUDP(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, UDPHeaderLen+len(payload))
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)))
	copy(b[UDPHeaderLen:], payload)
	binary.BigEndian.PutUint16(b[6:8], UDPChecksum(src, dst, b))
	return b
}

// UDPChecksum returns the UDP checksum of datagram (whose checksum field is
// summed as it is, so it must be zero when computing) between src and dst,
// both IPv4 or both IPv6. A computed zero is sent as 0xffff, since zero
// means "no checksum" in IPv4 and is invalid in IPv6.
func UDPChecksum(src, dst netip.Addr, datagram []byte) uint16 {
	var sum uint64
	sum = sumWords(sum, src.AsSlice())
	sum = sumWords(sum, dst.AsSlice())
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
