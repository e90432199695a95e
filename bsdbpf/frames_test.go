package bsdbpf

import (
	"encoding/binary"
	"net/netip"

	"github.com/wgstun/wgstun/src/stun/stuntest"
)

// Frame builders for tests, crafted by hand from the RFCs (IPv4: RFC 791,
// IPv6: RFC 8200, UDP: RFC 768, 802.1Q) and the bpf headers (FreeBSD
// sys/net/bpf.h, xnu bsd/net/bpf.h); the STUN messages come from stuntest.

const (
	tPort       = 51820
	tServerPort = 3478
)

var (
	tServer4 = netip.MustParseAddr("198.51.100.7")
	tLocal4  = netip.MustParseAddr("192.0.2.10")
	tServer6 = netip.MustParseAddr("2001:db8::7")
	tLocal6  = netip.MustParseAddr("2001:db8:1::10")
	tTxID    = [12]byte{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae}
	tMapped  = netip.MustParseAddrPort("192.0.2.1:32853") // RFC 5769 §2.2's, with the same TxID
)

// stunMsg returns a STUN message of type typ with tTxID and an
// XOR-MAPPED-ADDRESS of tMapped, built by stuntest (not with the filter's
// constants), then its magic cookie overwritten with cookie.
func stunMsg(typ uint16, cookie uint32) []byte {
	m := stuntest.Message(typ, tTxID, stuntest.XORMappedAddress(tMapped, tTxID))
	binary.BigEndian.PutUint32(m[4:8], cookie)
	return m
}

// goodSTUN is a Binding success response.
func goodSTUN() []byte { return stunMsg(stuntest.TypeBindingSuccess, stuntest.MagicCookie) }

// wgInitiation returns a 148-byte WireGuard handshake initiation (type 1,
// little-endian) with a filler body.
func wgInitiation() []byte {
	m := make([]byte, 148)
	m[0] = 1
	for i := 4; i < len(m); i++ {
		m[i] = byte(i * 7)
	}
	return m
}

// udpDgram returns a UDP header and payload with a zero checksum.
func udpDgram(sport, dport uint16, payload []byte) []byte {
	u := make([]byte, udpHeaderLen, udpHeaderLen+len(payload))
	binary.BigEndian.PutUint16(u[0:2], sport)
	binary.BigEndian.PutUint16(u[2:4], dport)
	binary.BigEndian.PutUint16(u[4:6], uint16(udpHeaderLen+len(payload)))
	return append(u, payload...)
}

// ipv4Dgram returns an IPv4 header with options opts (a multiple of 4
// bytes), the flags/fragment-offset field frag and protocol proto, then
// body. The header checksum is left zero: bpf does not check it.
func ipv4Dgram(opts []byte, frag uint16, proto byte, src, dst netip.Addr, body []byte) []byte {
	hl := ipv4MinHeaderLen + len(opts)
	p := make([]byte, hl, hl+len(body))
	p[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(p[2:4], uint16(hl+len(body)))
	binary.BigEndian.PutUint16(p[6:8], frag)
	p[8], p[9] = 64, proto
	s, d := src.As4(), dst.As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	copy(p[20:], opts)
	return append(p, body...)
}

// ipv6Dgram returns a fixed IPv6 header with next header next, then body.
func ipv6Dgram(next byte, src, dst netip.Addr, body []byte) []byte {
	p := make([]byte, ipv6HeaderLen, ipv6HeaderLen+len(body))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:6], uint16(len(body)))
	p[6], p[7] = next, 64
	s, d := src.As16(), dst.As16()
	copy(p[8:24], s[:])
	copy(p[24:40], d[:])
	return append(p, body...)
}

// good4 and good6 are STUN Binding success responses to tPort.
func good4() []byte {
	return ipv4Dgram(nil, 0, protoUDP, tServer4, tLocal4, udpDgram(tServerPort, tPort, goodSTUN()))
}

func good6() []byte {
	return ipv6Dgram(protoUDP, tServer6, tLocal6, udpDgram(tServerPort, tPort, goodSTUN()))
}

// ether returns an Ethernet frame with EtherType typ after the VLAN tags
// tpids (each followed by TCI 0x0064, VLAN 100), then payload.
func ether(typ uint16, tpids []uint16, payload []byte) []byte {
	f := []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2}
	for _, tpid := range tpids {
		f = binary.BigEndian.AppendUint16(f, tpid)
		f = binary.BigEndian.AppendUint16(f, 0x0064)
	}
	f = binary.BigEndian.AppendUint16(f, typ)
	return append(f, payload...)
}

// family returns the 4-byte DLT_NULL / DLT_LOOP header af in order, then
// payload.
func family(order binary.AppendByteOrder, af uint32, payload []byte) []byte {
	return append(order.AppendUint32(nil, af), payload...)
}

// frameFor wraps an IP packet in the usual link header of dlt on os.
func frameFor(dlt uint32, os OS, ip []byte) []byte {
	v6 := len(ip) > 0 && ip[0]>>4 == 6
	af6, _ := os.afInet6()
	af, typ := uint32(afInet), uint16(etherTypeIPv4)
	if v6 {
		af, typ = af6, etherTypeIPv6
	}
	switch dlt {
	case dltEN10MB:
		return ether(typ, nil, ip)
	case dltNull:
		return family(binary.LittleEndian, af, ip)
	case dltLoop:
		return family(binary.BigEndian, af, ip)
	}
	return ip
}

// record returns one bpf record for layout l: a header with bh_hdrlen
// hdrlen (0: the smallest valid one) and the given caplen, datalen
// (caplen when 0), then frame, then padding to BPF_ALIGNMENT.
func record(l layout, hdrlen int, caplen, datalen uint32, frame []byte) []byte {
	if hdrlen == 0 {
		hdrlen = l.hdrlen + 2
	}
	if datalen == 0 {
		datalen = caplen
	}
	r := make([]byte, hdrlen, wordAlign(hdrlen+len(frame), l.align))
	for i := range l.caplen {
		r[i] = 0xee // timestamp: never read
	}
	hostOrder.PutUint32(r[l.caplen:], caplen)
	hostOrder.PutUint32(r[l.datalen:], datalen)
	hostOrder.PutUint16(r[l.hdrlen:], uint16(hdrlen))
	r = append(r, frame...)
	return r[:cap(r)]
}

// buffer returns a bpf read buffer of well-formed records, one per frame,
// with the header padded the way the kernel pads it: so that the network
// header after a linkLen-byte link header is aligned (FreeBSD bpf.c
// bpf_hdrlen). The last record keeps its padding only if pad is true.
func buffer(l layout, linkLen int, pad bool, frames ...[]byte) []byte {
	hdrlen := wordAlign(l.hdrlen+2+linkLen, l.align) - linkLen
	var b []byte
	for _, f := range frames {
		b = append(b, record(l, hdrlen, uint32(len(f)), 0, f)...)
	}
	if !pad && len(frames) > 0 {
		last := frames[len(frames)-1]
		b = b[:len(b)-(wordAlign(hdrlen+len(last), l.align)-hdrlen-len(last))]
	}
	return b
}
