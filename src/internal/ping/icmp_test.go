package ping

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMarshalEcho(t *testing.T) {
	tests := []struct {
		name    string
		v6      bool
		id, seq uint16
		data    []byte
		want    string
	}{
		// Checksums by hand (RFC 1071): ~(0x0800+0x1234+0x0001+0x4142+0x4344) = 0x6144;
		// the odd byte is padded with a zero: ~fold(0x0800+0xff00) = 0xf8fe.
		{"ipv4", false, 0x1234, 1, []byte("ABCD"), "080061441234000141424344"},
		{"ipv4 odd payload", false, 0, 0, []byte{0xff}, "0800f8fe00000000ff"},
		{"ipv4 empty", false, 0xffff, 0xffff, nil, "0800f7ffffffffff"},
		{"ipv6 checksum left to the kernel", true, 0x1234, 2, []byte("ABCD"), "800000001234000241424344"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := marshalEcho(tt.v6, tt.id, tt.seq, tt.data)
			if !bytes.Equal(got, mustHex(t, tt.want)) {
				t.Fatalf("got %x, want %s", got, tt.want)
			}
			e, err := parseEcho(got, !tt.v6)
			if err != nil {
				t.Fatalf("parse own message: %v", err)
			}
			if e.ID != tt.id || e.Seq != tt.seq || !bytes.Equal(e.Data, tt.data) || e.Code != 0 {
				t.Fatalf("round trip: %+v", e)
			}
		})
	}
}

func TestParseEcho(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		v4      bool
		want    echo
		wantErr error
	}{
		{"ipv4 reply", "0000694412340001" + "41424344", true, echo{Type: 0, ID: 0x1234, Seq: 1, Data: []byte("ABCD")}, nil},
		{"ipv6 reply, checksum unchecked", "8100abcd12340002", false, echo{Type: 129, ID: 0x1234, Seq: 2, Data: []byte{}}, nil},
		{"ipv4 bad checksum", "0000694512340001" + "41424344", true, echo{}, errChecksum},
		{"short", "00000000123400", true, echo{}, errShort},
		{"empty", "", false, echo{}, errShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEcho(mustHex(t, tt.msg), tt.v4)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && (got.Type != tt.want.Type || got.Code != tt.want.Code || got.ID != tt.want.ID ||
				got.Seq != tt.want.Seq || !bytes.Equal(got.Data, tt.want.Data)) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStripIPv4(t *testing.T) {
	// An echo reply 10.77.0.2 -> 10.77.0.1 as a raw socket reads it
	// (built by hand; the IP header checksum is not checked here).
	hdr := "4500001c0000000040010000" + "0a4d0002" + "0a4d0001"
	icmp := "0000fffe00000001"
	tests := []struct {
		name    string
		pkt     string
		want    string
		wantErr error
	}{
		{"plain", hdr + icmp, icmp, nil},
		{"trailing bytes cut to total length", hdr + icmp + "eeee", icmp, nil},
		{"total length beyond buffer ignored", "450000ff0000000040010000" + "0a4d0002" + "0a4d0001" + icmp, icmp, nil},
		{"options", "4600002000000000400100000a4d00020a4d0001" + "01010101" + icmp, icmp, nil},
		{"ihl beyond buffer", "4f00001c0000000040010000" + "0a4d0002" + "0a4d0001", "", errBadLength},
		{"ihl too small", "4400001c0000000040010000" + "0a4d0002" + "0a4d0001", "", errBadLength},
		{"ipv6", "6000001c0000000040010000" + "0a4d0002" + "0a4d0001", "", errNotIPv4},
		{"udp", "4500001c0000000040110000" + "0a4d0002" + "0a4d0001", "", errNotICMP},
		{"short", "45000014", "", errShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stripIPv4(mustHex(t, tt.pkt))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, mustHex(t, tt.want)) {
				t.Fatalf("got %x, want %s", got, tt.want)
			}
		})
	}
}

func FuzzParseEcho(f *testing.F) {
	f.Add([]byte{0, 0, 0x69, 0x44, 0x12, 0x34, 0, 1, 'A', 'B', 'C', 'D'}, true)
	f.Fuzz(func(t *testing.T, b []byte, v4 bool) {
		e, err := parseEcho(b, v4)
		if err != nil {
			return
		}
		if len(e.Data) != len(b)-echoHeaderLen {
			t.Fatalf("data length %d of %d-byte message", len(e.Data), len(b))
		}
		if v4 && checksum(b) != 0 {
			t.Fatal("accepted a bad checksum")
		}
		re := marshalEcho(!v4, e.ID, e.Seq, e.Data)
		if !bytes.Equal(re[4:], b[4:]) {
			t.Fatalf("re-marshal differs: %x vs %x", re, b)
		}
	})
}

func FuzzStripIPv4(f *testing.F) {
	f.Add(mustHex(f, "4500001c00000000400100000a4d00020a4d00010000fffe00000001"))
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := stripIPv4(b)
		if err != nil {
			return
		}
		hl := int(b[0]&0x0f) * 4
		if hl < 20 || len(msg) > len(b)-hl {
			t.Fatalf("ihl %d gave %d bytes of %d", hl, len(msg), len(b))
		}
	})
}
