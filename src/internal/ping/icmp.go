package ping

import (
	"encoding/binary"
	"errors"
)

// ICMP echo message types (RFC 792, RFC 4443).
const (
	typeEchoReply4   = 0
	typeEchoRequest4 = 8
	typeEchoRequest6 = 128
	typeEchoReply6   = 129

	echoHeaderLen = 8 // type, code, checksum, identifier, sequence
)

var (
	errShort     = errors.New("ping: message too short")
	errNotIPv4   = errors.New("ping: not an IPv4 header")
	errNotICMP   = errors.New("ping: IPv4 packet does not carry ICMP")
	errBadLength = errors.New("ping: IPv4 header length out of range")
	errChecksum  = errors.New("ping: bad ICMP checksum")
)

// echo is an ICMP or ICMPv6 echo request or reply.
type echo struct {
	Type, Code uint8
	ID, Seq    uint16
	Data       []byte // aliases the parsed buffer
}

// marshalEcho builds an echo request. IPv4 gets its checksum here; for
// ICMPv6 the kernel fills it in (it covers a pseudo-header with addresses
// only the kernel knows for sure), so it stays zero.
func marshalEcho(v6 bool, id, seq uint16, data []byte) []byte {
	b := make([]byte, echoHeaderLen+len(data))
	b[0] = typeEchoRequest4
	if v6 {
		b[0] = typeEchoRequest6
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[echoHeaderLen:], data)
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], checksum(b))
	}
	return b
}

// parseEcho reads the echo header of an ICMP message. With v4 it also
// checks the checksum (raw IPv4 sockets deliver unverified packets); the
// ICMPv6 checksum is verified by the kernel. Type and code are returned
// as found; the caller decides what it wants.
func parseEcho(b []byte, v4 bool) (echo, error) {
	if len(b) < echoHeaderLen {
		return echo{}, errShort
	}
	if v4 && checksum(b) != 0 {
		return echo{}, errChecksum
	}
	return echo{
		Type: b[0],
		Code: b[1],
		ID:   binary.BigEndian.Uint16(b[4:]),
		Seq:  binary.BigEndian.Uint16(b[6:]),
		Data: b[echoHeaderLen:],
	}, nil
}

// stripIPv4 returns the ICMP message inside an IPv4 packet as a raw
// IPv4 socket delivers it (header included), cut to the header's total
// length.
//
//	offset 0: version (high nibble), IHL in 32-bit words (low nibble)
//	offset 2: total length
//	offset 9: protocol (1 = ICMP)
func stripIPv4(b []byte) ([]byte, error) {
	if len(b) < 20 {
		return nil, errShort
	}
	if b[0]>>4 != 4 {
		return nil, errNotIPv4
	}
	if b[9] != 1 {
		return nil, errNotICMP
	}
	hl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if hl < 20 || hl > len(b) {
		return nil, errBadLength
	}
	// Some stacks report a total length that disagrees with what was
	// read; trust it only when it lies within the buffer.
	if total >= hl && total < len(b) {
		b = b[:total]
	}
	return b[hl:], nil
}

// checksum is the Internet checksum (RFC 1071) of b. Over a message that
// carries a correct checksum it is 0.
func checksum(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
