package bsdbpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/wgstun/wgstun/src/rawudp"
)

// TestDecodeErrors covers the checks decode makes beyond the filter's and
// names the reason for each rejection.
func TestDecodeErrors(t *testing.T) {
	mod4 := func(f func(p []byte)) []byte { p := good4(); f(p); return p }
	mod6 := func(f func(p []byte)) []byte { p := good6(); f(p); return p }
	tests := []struct {
		name string
		ip   []byte
		want error
	}{
		{"IHL 0", mod4(func(p []byte) { p[0] = 0x40 }), errBadHeaderLen},
		{"total length below IHL", mod4(func(p []byte) { binary.BigEndian.PutUint16(p[2:4], 19) }), errBadHeaderLen},
		{"total length past capture", mod4(func(p []byte) { binary.BigEndian.PutUint16(p[2:4], uint16(len(p)+1)) }), errTruncated},
		{"total length leaves no UDP header", mod4(func(p []byte) { binary.BigEndian.PutUint16(p[2:4], 27) }), errTruncated},
		{"UDP length 7", mod4(func(p []byte) { binary.BigEndian.PutUint16(p[24:26], 7) }), errBadUDPLen},
		{"UDP length past IP length", mod4(func(p []byte) { binary.BigEndian.PutUint16(p[24:26], uint16(len(p)-19)) }), errTruncated},
		{"UDP length cuts STUN header", mod4(func(p []byte) { binary.BigEndian.PutUint16(p[24:26], 8+19) }), errNotSTUNResponse},
		{"v4 fragment", mod4(func(p []byte) { p[6] = 0x20 }), errFragment},
		{"v4 other port", mod4(func(p []byte) { p[23]++ }), errOtherPort},
		{"v4 not UDP", mod4(func(p []byte) { p[9] = 6 }), errNotUDP},
		{"v6 payload length past capture", mod6(func(p []byte) { binary.BigEndian.PutUint16(p[4:6], uint16(len(p))) }), errTruncated},
		{"v6 payload length cuts UDP", mod6(func(p []byte) { binary.BigEndian.PutUint16(p[4:6], 7) }), errTruncated},
		{"v6 IPv4-mapped source", mod6(func(p []byte) { copy(p[8:24], netip.AddrFrom16(tServer4.As16()).AsSlice()) }), errBadSource},
		{"v6 unspecified source", mod6(func(p []byte) { clear(p[8:24]) }), errBadSource},
		{"v6 multicast source", mod6(func(p []byte) { p[8] = 0xff }), errBadSource},
		{"v6 not UDP", mod6(func(p []byte) { p[6] = 58 }), errNotUDP},
		{"truncated v4 payload", good4()[:len(good4())-1], errTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decode(tc.ip, dltRaw, FreeBSD, tPort)
			if !errors.Is(err, tc.want) {
				t.Errorf("decode error = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestDecodeTrimsTrailer checks bytes past the IP and UDP lengths (Ethernet
// padding) are not returned as payload.
func TestDecodeTrimsTrailer(t *testing.T) {
	msg := goodSTUN()
	for _, ip := range [][]byte{
		ipv4Dgram([]byte{1, 1, 1, 0}, 0, protoUDP, tServer4, tLocal4, udpDgram(tServerPort, tPort, msg)),
		ipv6Dgram(protoUDP, tServer6, tLocal6, udpDgram(tServerPort, tPort, msg)),
	} {
		frame := append(frameFor(dltEN10MB, Darwin, ip), 0xde, 0xad, 0xbe, 0xef)
		payload, _, err := decode(frame, dltEN10MB, Darwin, tPort)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(payload, msg) {
			t.Errorf("payload % x, want % x", payload, msg)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, os := range []OS{FreeBSD, Darwin} {
		for _, dlt := range allDLTs {
			f.Add(frameFor(dlt, os, good4()), dlt, uint8(os))
			f.Add(frameFor(dlt, os, good6()), dlt, uint8(os))
		}
	}
	f.Add(ether(etherTypeIPv4, []uint16{etherTypeVLAN}, good4()), uint32(dltEN10MB), uint8(FreeBSD))
	f.Fuzz(func(t *testing.T, frame []byte, dlt uint32, osn uint8) {
		os := OS(osn%2 + 1)
		payload, src, err := decode(frame, dlt, os, tPort)
		prog, perr := program(dlt, tPort, os)
		if perr != nil {
			if err == nil {
				t.Fatalf("decode accepts link type %d that has no filter", dlt)
			}
			return
		}
		accepted := vmRun(t, prog, frame) != 0
		if err == nil {
			if !accepted {
				t.Fatalf("decode accepts a frame the filter drops: % x", frame)
			}
			if !rawudp.IsSTUNResponse(payload) || !src.IsValid() {
				t.Fatalf("decode returned payload % x from %v", payload, src)
			}
		}
	})
}
