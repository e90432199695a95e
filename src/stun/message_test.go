package stun

import (
	"bytes"
	"errors"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"

	"github.com/wgstun/wgstun/src/stun/stuntest"
)

var testTx = TxID{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae}

func TestRFC5769Responses(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  []byte
		want netip.AddrPort
	}{
		{"2.2 IPv4", stuntest.RFC5769IPv4Response(), netip.MustParseAddrPort("192.0.2.1:32853")},
		{"2.3 IPv6", stuntest.RFC5769IPv6Response(), netip.MustParseAddrPort("[2001:db8:1234:5678:11:2233:4455:6677]:32853")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.msg
			if !IsMessage(b) {
				t.Fatal("IsMessage = false")
			}
			r, err := ParseResponse(b)
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if r.TxID != testTx {
				t.Errorf("TxID = %x, want %x", r.TxID, testTx)
			}
			if r.Mapped != tc.want {
				t.Errorf("Mapped = %v, want %v", r.Mapped, tc.want)
			}
			if r.Other.IsValid() || r.Origin.IsValid() {
				t.Errorf("Other %v Origin %v, want none", r.Other, r.Origin)
			}
			// A flipped bit anywhere the CRC covers, or in the CRC, breaks
			// the FINGERPRINT. (Bytes 0..7 trip the header checks first;
			// a flip in the FINGERPRINT's own type turns it into another,
			// optional, attribute.)
			for i := 8; i < len(b); i++ {
				if i >= len(b)-8 && i < len(b)-4 {
					continue
				}
				c := bytes.Clone(b)
				c[i] ^= 0x01
				if _, err := ParseResponse(c); !errors.Is(err, ErrMalformed) {
					t.Fatalf("byte %d flipped: err = %v, want ErrMalformed", i, err)
				}
			}
		})
	}
}

func TestAppendBindingRequest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  Change
		typ     uint16
		wantLen int
		wantCR  uint32 // CHANGE-REQUEST value, 0xffffffff: absent
	}{
		{"plain", 0, typeBindingRequest, 28, 0xffffffff},
		{"change IP and port", ChangeIP | ChangePort, typeBindingRequest, 36, 0x06},
		{"change port", ChangePort, typeBindingRequest, 36, 0x02},
		{"change IP", ChangeIP, typeBindingRequest, 36, 0x04},
		{"stray bits dropped", 0xFF, typeBindingRequest, 36, 0x06},
		{"only stray bits", 0x01, typeBindingRequest, 28, 0xffffffff},
		{"indication", 0, typeBindingIndication, 28, 0xffffffff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx := NewTxID()
			prefix := []byte("keep")
			var b []byte
			if tc.typ == typeBindingIndication {
				b = AppendBindingIndication(bytes.Clone(prefix), tx)
			} else {
				b = AppendBindingRequest(bytes.Clone(prefix), tx, tc.change)
			}
			if !bytes.HasPrefix(b, prefix) {
				t.Fatalf("prefix lost: %x", b)
			}
			m := b[len(prefix):]
			if len(m) != tc.wantLen {
				t.Fatalf("len = %d, want %d: %x", len(m), tc.wantLen, m)
			}
			if !IsMessage(m) {
				t.Fatalf("IsMessage = false: %x", m)
			}
			if got := be.Uint16(m); got != tc.typ {
				t.Errorf("type = %#04x, want %#04x", got, tc.typ)
			}
			if !bytes.Equal(m[8:20], tx[:]) {
				t.Errorf("TxID = %x, want %x", m[8:20], tx)
			}
			cr := uint32(0xffffffff)
			if be.Uint16(m[20:]) == attrChangeRequest {
				if be.Uint16(m[22:]) != 4 {
					t.Fatalf("CHANGE-REQUEST length = %d", be.Uint16(m[22:]))
				}
				cr = be.Uint32(m[24:])
			}
			if cr != tc.wantCR {
				t.Errorf("CHANGE-REQUEST = %#x, want %#x", cr, tc.wantCR)
			}
			fp := m[len(m)-8:]
			if be.Uint16(fp) != 0x8028 || be.Uint16(fp[2:]) != 4 {
				t.Fatalf("last attribute is not FINGERPRINT: %x", fp)
			}
			if want := crc32.ChecksumIEEE(m[:len(m)-8]) ^ 0x5354554e; be.Uint32(fp[4:]) != want {
				t.Errorf("FINGERPRINT = %#x, want %#x", be.Uint32(fp[4:]), want)
			}
			if _, err := ParseResponse(m); !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseResponse(own %s) err = %v, want ErrMalformed", tc.name, err)
			}
		})
	}
}

func TestNewTxIDDiffers(t *testing.T) {
	a, b := NewTxID(), NewTxID()
	if a == b || a == (TxID{}) {
		t.Fatalf("NewTxID gave %x and %x", a, b)
	}
}

func TestParseResponse(t *testing.T) {
	v4 := netip.MustParseAddrPort("198.51.100.7:51820")
	v6 := netip.MustParseAddrPort("[2001:db8::7]:51820")
	other := netip.MustParseAddrPort("192.0.2.2:3479")
	origin := netip.MustParseAddrPort("192.0.2.1:3478")
	decoy := netip.MustParseAddrPort("203.0.113.9:9")
	for _, tc := range []struct {
		name     string
		msg      []byte
		want     Response // TxID is always testTx
		wantCode int      // non-zero: expect *ErrorResponse
		reason   string
	}{
		{
			name: "XOR-MAPPED-ADDRESS IPv4 with fingerprint",
			msg:  stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.XORMappedAddress(v4, testTx), stuntest.Fingerprint()),
			want: Response{Mapped: v4},
		},
		{
			name: "XOR-MAPPED-ADDRESS IPv6 without fingerprint",
			msg:  stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.XORMappedAddress(v6, testTx)),
			want: Response{Mapped: v6},
		},
		{
			name: "MAPPED-ADDRESS only",
			msg:  stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.MappedAddress(v4)),
			want: Response{Mapped: v4},
		},
		{
			name: "XOR-MAPPED-ADDRESS preferred whatever the order",
			msg: stuntest.Message(stuntest.TypeBindingSuccess, testTx,
				stuntest.MappedAddress(decoy),
				stuntest.XORMappedAddress(v6, testTx),
				stuntest.Fingerprint()),
			want: Response{Mapped: v6},
		},
		{
			name: "first of repeated XOR-MAPPED-ADDRESS counts",
			msg: stuntest.Message(stuntest.TypeBindingSuccess, testTx,
				stuntest.XORMappedAddress(v4, testTx),
				stuntest.XORMappedAddress(decoy, testTx),
				stuntest.Fingerprint()),
			want: Response{Mapped: v4},
		},
		{
			name: "RFC 5780 OTHER-ADDRESS and RESPONSE-ORIGIN",
			msg: stuntest.Message(stuntest.TypeBindingSuccess, testTx,
				stuntest.XORMappedAddress(v4, testTx),
				stuntest.ResponseOrigin(origin),
				stuntest.OtherAddress(other),
				stuntest.Fingerprint()),
			want: Response{Mapped: v4, Other: other, Origin: origin},
		},
		{
			name: "RFC 3489 CHANGED-ADDRESS and SOURCE-ADDRESS as fallback",
			msg: stuntest.Message(stuntest.TypeBindingSuccess, testTx,
				stuntest.MappedAddress(v4),
				stuntest.SourceAddress(origin),
				stuntest.ChangedAddress(other)),
			want: Response{Mapped: v4, Other: other, Origin: origin},
		},
		{
			name: "RFC 5780 attributes win over RFC 3489 ones",
			msg: stuntest.Message(stuntest.TypeBindingSuccess, testTx,
				stuntest.MappedAddress(v4),
				stuntest.SourceAddress(decoy),
				stuntest.ChangedAddress(decoy),
				stuntest.OtherAddress(other),
				stuntest.ResponseOrigin(origin)),
			want: Response{Mapped: v4, Other: other, Origin: origin},
		},
		{
			name: "unknown comprehension-optional and odd-length attributes skipped",
			msg: stuntest.Message(stuntest.TypeBindingSuccess, testTx,
				stuntest.Software("odd"), // padded by one byte
				stuntest.Attr{Type: 0xC001},
				stuntest.Attr{Type: 0xFFFF, Value: bytes.Repeat([]byte{0xEE}, 13)},
				stuntest.XORMappedAddress(v4, testTx),
				stuntest.Fingerprint()),
			want: Response{Mapped: v4},
		},
		{
			name: "known comprehension-required attributes skipped",
			msg: stuntest.Message(stuntest.TypeBindingSuccess, testTx,
				stuntest.Attr{Type: stuntest.AttrUsername, Value: []byte("user")},
				stuntest.Attr{Type: stuntest.AttrRealm, Value: []byte("x")},
				stuntest.XORMappedAddress(v4, testTx)),
			want: Response{Mapped: v4},
		},
		{
			name: "attributes after MESSAGE-INTEGRITY ignored",
			msg: stuntest.Message(stuntest.TypeBindingSuccess, testTx,
				stuntest.XORMappedAddress(v4, testTx),
				stuntest.Attr{Type: stuntest.AttrMessageIntegrity, Value: make([]byte, 20)},
				stuntest.Attr{Type: stuntest.AttrOtherAddress, Value: []byte{0, 9, 0, 0}}, // bad family, ignored
				stuntest.Attr{Type: 0x0042},                                               // unknown required, ignored
				stuntest.Fingerprint()),
			want: Response{Mapped: v4},
		},
		{
			name:     "error response 420 with reason and fingerprint",
			msg:      stuntest.Message(stuntest.TypeBindingError, testTx, stuntest.ErrorCode(420, "Unknown Attribute"), stuntest.Fingerprint()),
			wantCode: 420,
			reason:   "Unknown Attribute",
		},
		{
			name:     "error response 300, no reason, mapped address ignored",
			msg:      stuntest.Message(stuntest.TypeBindingError, testTx, stuntest.XORMappedAddress(v4, testTx), stuntest.ErrorCode(300, "")),
			wantCode: 300,
		},
		{
			name:     "error response 699, reserved bits in class byte ignored",
			msg:      stuntest.Message(stuntest.TypeBindingError, testTx, stuntest.Attr{Type: stuntest.AttrErrorCode, Value: append([]byte{0, 0, 0xF8 | 6, 99}, "x"...)}),
			wantCode: 699,
			reason:   "x",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseResponse(tc.msg)
			tc.want.TxID = testTx
			if tc.wantCode != 0 {
				var er *ErrorResponse
				if !errors.As(err, &er) {
					t.Fatalf("err = %v, want *ErrorResponse", err)
				}
				if er.Code != tc.wantCode || er.Reason != tc.reason {
					t.Errorf("got %d %q, want %d %q", er.Code, er.Reason, tc.wantCode, tc.reason)
				}
				if r != (Response{TxID: testTx}) {
					t.Errorf("Response = %+v, want only TxID", r)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if r != tc.want {
				t.Errorf("got %+v\nwant %+v", r, tc.want)
			}
		})
	}
}

func TestParseResponseMalformed(t *testing.T) {
	v4 := netip.MustParseAddrPort("198.51.100.7:51820")
	good := stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.XORMappedAddress(v4, testTx), stuntest.Fingerprint())
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	fpBad := mod(func(b []byte) []byte { b[len(b)-1] ^= 0xFF; return b })
	// FINGERPRINT followed by another attribute (header length adjusted).
	fpNotLast := append(bytes.Clone(good), 0x80, 0x22, 0x00, 0x00)
	be.PutUint16(fpNotLast[2:], uint16(len(fpNotLast)-headerLen))
	for _, tc := range []struct {
		name string
		msg  []byte
		want string // substring of the error text
	}{
		{"empty", nil, "shorter than the 20-byte header"},
		{"truncated header", good[:19], "shorter than the 20-byte header"},
		{"truncated attributes", good[:len(good)-4], "length does not match"},
		{"trailing bytes", append(bytes.Clone(good), 0, 0, 0, 0), "length does not match"},
		{"top bits set", mod(func(b []byte) []byte { b[0] |= 0x80; return b }), "top two bits"},
		{"bad cookie", mod(func(b []byte) []byte { b[4] = 0; return b }), "magic cookie"},
		{"length not multiple of 4", mod(func(b []byte) []byte { b[3]--; return b }), "multiple of 4"},
		{"length too large", mod(func(b []byte) []byte { b[3] += 4; return b }), "length does not match"},
		{"binding request", stuntest.Message(stuntest.TypeBindingRequest, testTx, stuntest.Fingerprint()), "not a Binding success or error"},
		{"binding indication", stuntest.Message(stuntest.TypeBindingIndication, testTx, stuntest.Fingerprint()), "not a Binding success or error"},
		{"allocate success", stuntest.Message(0x0103, testTx, stuntest.XORMappedAddress(v4, testTx)), "not a Binding success or error"},
		{"bad fingerprint", fpBad, "FINGERPRINT: checksum mismatch"},
		{"fingerprint not last", fpNotLast, "FINGERPRINT: not the last attribute"},
		{"fingerprint length 8", stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.XORMappedAddress(v4, testTx), stuntest.Attr{Type: stuntest.AttrFingerprint, Value: make([]byte, 8)}), "FINGERPRINT: length is not 4"},
		{
			"attribute overruns message",
			mod(func(b []byte) []byte { be.PutUint16(b[22:], 0x100); return b }),
			"XOR-MAPPED-ADDRESS: value overruns",
		},
		{
			"attribute length one past end",
			mod(func(b []byte) []byte { be.PutUint16(b[22:], 17); return b }),
			"value overruns",
		},
		{"no mapped address", stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.Software("sw"), stuntest.Fingerprint()), "without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS"},
		{"wrong family", stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.Attr{Type: stuntest.AttrXORMappedAddress, Value: []byte{0, 3, 1, 2, 1, 2, 3, 4}}), "XOR-MAPPED-ADDRESS: unknown address family"},
		{"family 0", stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.Attr{Type: stuntest.AttrMappedAddress, Value: []byte{0, 0, 1, 2, 1, 2, 3, 4}}), "MAPPED-ADDRESS: unknown address family"},
		{"IPv4 family with 16-byte address", stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.Attr{Type: stuntest.AttrXORMappedAddress, Value: append([]byte{0, 1, 1, 2}, make([]byte, 16)...)}), "IPv4 address value is not 8 bytes"},
		{"IPv6 family with 4-byte address", stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.Attr{Type: stuntest.AttrXORMappedAddress, Value: []byte{0, 2, 1, 2, 1, 2, 3, 4}}), "IPv6 address value is not 20 bytes"},
		{"address value too short", stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.Attr{Type: stuntest.AttrXORMappedAddress, Value: []byte{0, 1}}), "shorter than 4 bytes"},
		{"bad OTHER-ADDRESS", stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.XORMappedAddress(v4, testTx), stuntest.Attr{Type: stuntest.AttrOtherAddress, Value: []byte{0, 1, 0, 1}}), "OTHER-ADDRESS: IPv4 address value"},
		{"bad RESPONSE-ORIGIN", stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.XORMappedAddress(v4, testTx), stuntest.Attr{Type: stuntest.AttrResponseOrigin, Value: []byte{0, 7, 0, 1, 1, 1, 1, 1}}), "RESPONSE-ORIGIN: unknown address family"},
		{"unknown comprehension-required attribute", stuntest.Message(stuntest.TypeBindingSuccess, testTx, stuntest.XORMappedAddress(v4, testTx), stuntest.Attr{Type: 0x7ABC}), "attribute 0x7abc: unknown comprehension-required"},
		{"error response without ERROR-CODE", stuntest.Message(stuntest.TypeBindingError, testTx, stuntest.Fingerprint()), "error response without ERROR-CODE"},
		{"ERROR-CODE too short", stuntest.Message(stuntest.TypeBindingError, testTx, stuntest.Attr{Type: stuntest.AttrErrorCode, Value: []byte{0, 0, 4}}), "ERROR-CODE: shorter than 4 bytes"},
		{"ERROR-CODE class 2", stuntest.Message(stuntest.TypeBindingError, testTx, stuntest.ErrorCode(200, "")), "ERROR-CODE: class is not 3..6"},
		{"ERROR-CODE class 7", stuntest.Message(stuntest.TypeBindingError, testTx, stuntest.ErrorCode(700, "")), "ERROR-CODE: class is not 3..6"},
		{"ERROR-CODE number 100", stuntest.Message(stuntest.TypeBindingError, testTx, stuntest.Attr{Type: stuntest.AttrErrorCode, Value: []byte{0, 0, 4, 100}}), "ERROR-CODE: number is not 0..99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseResponse(tc.msg)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want)
			}
			var er *ErrorResponse
			if errors.As(err, &er) {
				t.Errorf("malformed message reported as error response %v", er)
			}
		})
	}
}

func TestIsMessage(t *testing.T) {
	good := AppendBindingRequest(nil, testTx, 0)
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"request", good, true},
		{"header only", stuntest.Message(stuntest.TypeBindingSuccess, testTx), true},
		{"short", good[:19], false},
		{"top bits", append([]byte{0x40}, good[1:]...), false},
		{"bad cookie", append(append(bytes.Clone(good[:4]), 0, 0, 0, 0), good[8:]...), false},
		{"length mismatch", good[:24], false},
		{"WireGuard handshake initiation", append([]byte{1, 0, 0, 0}, make([]byte, 144)...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsMessage(tc.b); got != tc.want {
				t.Errorf("IsMessage = %v, want %v", got, tc.want)
			}
		})
	}
}

func BenchmarkParseResponse(b *testing.B) {
	msg := stuntest.RFC5769IPv6Response()
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := ParseResponse(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBindingRequest(b *testing.B) {
	buf := make([]byte, 0, 64)
	tx := NewTxID()
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBindingRequest(buf[:0], tx, 0)
	}
}
