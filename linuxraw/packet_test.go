package linuxraw

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/wgstun/wgstun/src/rawudp"
	"github.com/wgstun/wgstun/src/stun/stuntest"
)

// TestParseIPv4Errors covers the checks the parser makes beyond the filter's
// and names the reason for each rejection.
func TestParseIPv4Errors(t *testing.T) {
	msg := stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, testMapped4)
	good := ipv4Packet(nil, 0, protoUDP, testServer4, testLocal4, udpHeader(testServerPort, testPort, msg))
	mod := func(f func(p []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name   string
		packet []byte
		want   error
	}{
		{"empty", nil, errTruncated},
		{"19 bytes", good[:19], errTruncated},
		{"version 6", mod(func(p []byte) []byte { p[0] = 0x65; return p }), errNotIPv4},
		{"IHL 0", mod(func(p []byte) []byte { p[0] = 0x40; return p }), errBadHeaderLen},
		{"total length below IHL", mod(func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:4], 19); return p }), errBadHeaderLen},
		{"total length past capture", mod(func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:4], uint16(len(p)+1)); return p }), errTruncated},
		{"total length leaves no UDP header", mod(func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:4], 27); return p }), errTruncated},
		{"not UDP", mod(func(p []byte) []byte { p[9] = 6; return p }), errNotUDP},
		{"fragment", mod(func(p []byte) []byte { p[6] = 0x20; return p }), errFragment},
		{"UDP length 7", mod(func(p []byte) []byte { binary.BigEndian.PutUint16(p[24:26], 7); return p }), errBadUDPLen},
		{"UDP length past IP length", mod(func(p []byte) []byte { binary.BigEndian.PutUint16(p[24:26], uint16(len(p)-19)); return p }), errTruncated},
		{"UDP length cuts STUN header", mod(func(p []byte) []byte { binary.BigEndian.PutUint16(p[24:26], 8+19); return p }), errNotSTUNResponse},
		{"other port", mod(func(p []byte) []byte { p[23]++; return p }), errOtherPort},
		{"wrong cookie", mod(func(p []byte) []byte { p[35]++; return p }), errNotSTUNResponse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseIPv4(tc.packet, testPort)
			if !errors.Is(err, tc.want) {
				t.Errorf("parseIPv4 error = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestParseIPv4Trailer checks that bytes past the IPv4 total length and the
// UDP length are not returned as payload.
func TestParseIPv4Trailer(t *testing.T) {
	msg := stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, testMapped4)
	p := ipv4Packet([]byte{1, 1, 1, 0}, 0, protoUDP, testServer4, testLocal4, udpHeader(testServerPort, testPort, msg))
	p = append(p, 0xde, 0xad, 0xbe, 0xef)
	payload, src, err := parseIPv4(p, testPort)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(payload, msg) {
		t.Errorf("payload % x, want % x", payload, msg)
	}
	if want := netip.AddrPortFrom(testServer4, testServerPort); src != want {
		t.Errorf("source %v, want %v", src, want)
	}
}

func TestParseIPv6Source(t *testing.T) {
	u := udpHeader(testServerPort, testPort, stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, testMapped6))
	tests := []struct {
		name string
		from netip.Addr
		want error
	}{
		{"global", testServer6, nil},
		{"link-local with zone", netip.MustParseAddr("fe80::1%3"), nil},
		{"zero address", netip.Addr{}, errBadSource},
		{"IPv4", testServer4, errBadSource},
		{"IPv4-mapped", netip.AddrFrom16(testServer4.As16()), errBadSource},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, src, err := parseIPv6(u, tc.from, testPort)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if err == nil && src != netip.AddrPortFrom(tc.from, testServerPort) {
				t.Errorf("source %v", src)
			}
		})
	}
}

// TestUDPChecksumFixtures compares with datagrams whose checksums tcpdump
// 4.99.3 ("tcpdump -vv -r" on a LINKTYPE_RAW capture) reports as
// "[udp sum ok]", and which it reports as bad when one bit is flipped.
func TestUDPChecksumFixtures(t *testing.T) {
	tests := []struct {
		name     string
		src, dst netip.Addr
		datagram string // hex, checksum at bytes 6-7
	}{
		{
			name: "IPv4 Binding request 192.0.2.10.51820 > 198.51.100.7.3478",
			src:  testLocal4, dst: testServer4,
			datagram: "ca6c0d96001caa3c000100002112a442b7e7a701bc34d686fa87dfae",
		},
		{
			name: "IPv6 Binding success 2001:db8::7.3478 > 2001:db8:1::10.51820",
			src:  testServer6, dst: testLocal6,
			datagram: "0d96ca6c00340542010100182112a442b7e7a701bc34d686fa87dfae" +
				"002000140002bd530113a9fab7e5a701bc34d686fa87dfab",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := hex.DecodeString(tc.datagram)
			if err != nil {
				t.Fatal(err)
			}
			want := binary.BigEndian.Uint16(d[6:8])
			d[6], d[7] = 0, 0
			if got := rawudp.UDPChecksum(tc.src, tc.dst, d); got != want {
				t.Errorf("udpChecksum = %#04x, want %#04x", got, want)
			}
			built := rawudp.BuildUDP(tc.src, tc.dst, binary.BigEndian.Uint16(d[0:2]), binary.BigEndian.Uint16(d[2:4]), d[8:])
			d[6], d[7] = byte(want>>8), byte(want)
			if !bytes.Equal(built, d) {
				t.Errorf("buildUDP = %x\nwant       %x", built, d)
			}
		})
	}
}

// referenceChecksum is a second, deliberately naive implementation: it
// writes the pseudo-header out as bytes, appends the datagram and adds byte
// pairs with an end-around carry after every addition.
func referenceChecksum(src, dst netip.Addr, datagram []byte) uint16 {
	var pseudo []byte
	pseudo = append(pseudo, src.AsSlice()...)
	pseudo = append(pseudo, dst.AsSlice()...)
	if src.Is4() {
		pseudo = append(pseudo, 0, protoUDP, byte(len(datagram)>>8), byte(len(datagram)))
	} else {
		pseudo = append(pseudo, 0, 0, byte(len(datagram)>>8), byte(len(datagram)), 0, 0, 0, protoUDP)
	}
	all := append(pseudo, datagram...)
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var sum uint32
	for i := 0; i < len(all); i += 2 {
		sum += uint32(all[i])<<8 | uint32(all[i+1])
		if sum > 0xffff {
			sum -= 0xffff
		}
	}
	cs := ^uint16(sum)
	if cs == 0 {
		cs = 0xffff
	}
	return cs
}

func TestUDPChecksumReference(t *testing.T) {
	big := make([]byte, 65000)
	for i := range big {
		big[i] = 0xff
	}
	payloads := map[string][]byte{
		"empty":                nil,
		"odd length":           []byte{0xab, 0xcd, 0xef},
		"STUN request":         stunMessage(stuntest.TypeBindingRequest, stuntest.MagicCookie, testMapped4),
		"all ones 65000 bytes": big,
	}
	pairs := map[string][2]netip.Addr{
		"IPv4":            {testLocal4, testServer4},
		"IPv6":            {testLocal6, testServer6},
		"IPv6 link-local": {netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::ffff:ffff:ffff:ffff")},
	}
	for pname, payload := range payloads {
		for aname, a := range pairs {
			t.Run(aname+" "+pname, func(t *testing.T) {
				d := rawudp.BuildUDP(a[0], a[1], testPort, testServerPort, payload)
				got := binary.BigEndian.Uint16(d[6:8])
				d[6], d[7] = 0, 0
				if want := referenceChecksum(a[0], a[1], d); got != want {
					t.Errorf("checksum %#04x, reference %#04x", got, want)
				}
			})
		}
	}
}

// FuzzParseIPv4 feeds arbitrary bytes to the IPv4 parser: it must not
// panic, an accepted packet must also pass the BPF filter, and the payload
// must lie inside the input.
func FuzzParseIPv4(f *testing.F) {
	for _, tc := range ipv4Cases() {
		f.Add(tc.packet)
	}
	vm, err := bpf.NewVM(filterIPv4(testPort))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, src, err := parseIPv4(b, testPort)
		if err != nil {
			return
		}
		if n, _ := vm.Run(b); n == 0 {
			t.Fatalf("parser accepts a packet the filter drops: % x", b)
		}
		checkPayload(t, b, payload)
		if !src.Addr().Is4() {
			t.Fatalf("source %v is not IPv4", src)
		}
	})
}

// FuzzParseIPv6 is FuzzParseIPv4 for the IPv6 parser.
func FuzzParseIPv6(f *testing.F) {
	for _, tc := range ipv6Cases() {
		f.Add(tc.packet)
	}
	vm, err := bpf.NewVM(filterIPv6(testPort))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, src, err := parseIPv6(b, testServer6, testPort)
		if err != nil {
			return
		}
		if n, _ := vm.Run(b); n == 0 {
			t.Fatalf("parser accepts a packet the filter drops: % x", b)
		}
		checkPayload(t, b, payload)
		if src.Addr() != testServer6 {
			t.Fatalf("source %v", src)
		}
	})
}

func checkPayload(t *testing.T, b, payload []byte) {
	t.Helper()
	if len(payload) < stunHeaderLen || !rawudp.IsSTUNResponse(payload) {
		t.Fatalf("payload % x is not a STUN response", payload)
	}
	end := cap(b) - cap(payload) + len(payload) // payload aliases b
	if end > len(b) || !bytes.Equal(b[end-len(payload):end], payload) {
		t.Fatalf("payload is not inside the packet")
	}
}
