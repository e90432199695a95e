package linuxraw

import (
	"encoding/binary"
	"net/netip"

	"github.com/wgstun/wgstun/src/stun/stuntest"
)

// Packet builders for tests, crafted by hand from the RFCs (IPv4: RFC 791,
// IPv6: RFC 8200, UDP: RFC 768); the STUN messages come from stuntest.

var testTxID = [12]byte{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae}

// stunMessage returns a STUN message of type typ with testTxID and an
// XOR-MAPPED-ADDRESS of mapped, built by stuntest (not with the filter's
// constants), then its magic cookie overwritten with cookie.
func stunMessage(typ uint16, cookie uint32, mapped netip.AddrPort) []byte {
	m := stuntest.Message(typ, testTxID, stuntest.XORMappedAddress(mapped, testTxID))
	binary.BigEndian.PutUint32(m[4:8], cookie)
	return m
}

// wgHandshakeInitiation returns a 148-byte WireGuard handshake initiation
// (message type 1, little-endian, then reserved zeros) with a filler body.
func wgHandshakeInitiation() []byte {
	m := make([]byte, 148)
	m[0] = 1
	for i := 4; i < len(m); i++ {
		m[i] = byte(i * 7)
	}
	return m
}

// udpHeader returns a UDP header and payload with a zero checksum.
func udpHeader(sport, dport uint16, payload []byte) []byte {
	u := make([]byte, udpHeaderLen, udpHeaderLen+len(payload))
	binary.BigEndian.PutUint16(u[0:2], sport)
	binary.BigEndian.PutUint16(u[2:4], dport)
	binary.BigEndian.PutUint16(u[4:6], uint16(udpHeaderLen+len(payload)))
	return append(u, payload...)
}

// ipv4Packet returns an IPv4 header with options opts (a multiple of 4
// bytes), the given flags/fragment-offset field and protocol, then body.
// The header checksum is left zero: raw sockets and BPF do not check it.
func ipv4Packet(opts []byte, frag uint16, proto byte, src, dst netip.Addr, body []byte) []byte {
	hl := ipv4MinHeaderLen + len(opts)
	p := make([]byte, hl, hl+len(body))
	p[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(p[2:4], uint16(hl+len(body)))
	binary.BigEndian.PutUint16(p[4:6], 0x1234)
	binary.BigEndian.PutUint16(p[6:8], frag)
	p[8] = 64
	p[9] = proto
	s, d := src.As4(), dst.As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	copy(p[20:], opts)
	return append(p, body...)
}

// ipv6Packet returns a fixed IPv6 header (next header proto) then body, as
// a packet socket would see it; AF_INET6 raw sockets never deliver this.
func ipv6Packet(proto byte, src, dst netip.Addr, body []byte) []byte {
	p := make([]byte, 40, 40+len(body))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:6], uint16(len(body)))
	p[6] = proto
	p[7] = 64
	s, d := src.As16(), dst.As16()
	copy(p[8:24], s[:])
	copy(p[24:40], d[:])
	return append(p, body...)
}
