package stun

// Interoperability with github.com/pion/stun/v3, used as the reference
// implementation (test files only).

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"

	pion "github.com/pion/stun/v3"
)

func TestPionDecodesOurMessages(t *testing.T) {
	for _, tc := range []struct {
		name     string
		build    func(TxID) []byte
		wantType pion.MessageType
		wantCR   []byte // CHANGE-REQUEST value; nil: absent
	}{
		{
			name:     "binding request",
			build:    func(tx TxID) []byte { return AppendBindingRequest(nil, tx, 0) },
			wantType: pion.BindingRequest,
		},
		{
			name:     "binding request change IP and port",
			build:    func(tx TxID) []byte { return AppendBindingRequest(nil, tx, ChangeIP|ChangePort) },
			wantType: pion.BindingRequest,
			wantCR:   []byte{0, 0, 0, 6},
		},
		{
			name:     "binding request change port",
			build:    func(tx TxID) []byte { return AppendBindingRequest(nil, tx, ChangePort) },
			wantType: pion.BindingRequest,
			wantCR:   []byte{0, 0, 0, 2},
		},
		{
			name:     "binding indication",
			build:    func(tx TxID) []byte { return AppendBindingIndication(nil, tx) },
			wantType: pion.NewType(pion.MethodBinding, pion.ClassIndication),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx := NewTxID()
			raw := tc.build(tx)
			if !pion.IsMessage(raw) {
				t.Fatal("pion.IsMessage = false")
			}
			m := &pion.Message{Raw: bytes.Clone(raw)}
			if err := m.Decode(); err != nil {
				t.Fatalf("pion Decode: %v", err)
			}
			if m.Type != tc.wantType {
				t.Errorf("type = %v, want %v", m.Type, tc.wantType)
			}
			if m.TransactionID != tx {
				t.Errorf("TxID = %x, want %x", m.TransactionID, tx)
			}
			if err := pion.Fingerprint.Check(m); err != nil {
				t.Errorf("pion fingerprint check: %v", err)
			}
			cr, err := m.Get(pion.AttrChangeRequest)
			switch {
			case tc.wantCR == nil && err == nil:
				t.Errorf("unexpected CHANGE-REQUEST %x", cr)
			case tc.wantCR != nil && !bytes.Equal(cr, tc.wantCR):
				t.Errorf("CHANGE-REQUEST = %x (err %v), want %x", cr, err, tc.wantCR)
			}
			if n := len(m.Attributes); n != 1+len(tc.wantCR)/4 {
				t.Errorf("pion sees %d attributes: %v", n, m.Attributes)
			}
		})
	}
}

// pionResponses are responses built by pion/stun for transaction testTx,
// with what ParseResponse must make of them. They double as fuzz seeds.
func pionResponses(t testing.TB) []struct {
	name     string
	raw      []byte
	want     Response
	wantCode int
} {
	v4 := netip.MustParseAddrPort("198.51.100.7:51820")
	v6 := netip.MustParseAddrPort("[2001:db8::7]:51820")
	other := netip.MustParseAddrPort("192.0.2.2:3479")
	origin := netip.MustParseAddrPort("192.0.2.1:3478")
	ip := func(ap netip.AddrPort) net.IP { return net.IP(ap.Addr().AsSlice()) }
	port := func(ap netip.AddrPort) int { return int(ap.Port()) }
	txs := pion.NewTransactionIDSetter(testTx)
	unknownOpt := pion.RawAttribute{Type: 0x8fff, Value: []byte{1, 2, 3, 4, 5}}
	build := func(setters ...pion.Setter) []byte {
		m, err := pion.Build(setters...)
		if err != nil {
			t.Fatalf("pion Build: %v", err)
		}
		return m.Raw
	}
	type tc = struct {
		name     string
		raw      []byte
		want     Response
		wantCode int
	}
	return []tc{
		{
			name: "XOR-MAPPED-ADDRESS IPv4 with FINGERPRINT",
			raw:  build(txs, pion.BindingSuccess, &pion.XORMappedAddress{IP: ip(v4), Port: port(v4)}, pion.Fingerprint),
			want: Response{Mapped: v4},
		},
		{
			name: "XOR-MAPPED-ADDRESS IPv6 with FINGERPRINT",
			raw:  build(txs, pion.BindingSuccess, &pion.XORMappedAddress{IP: ip(v6), Port: port(v6)}, pion.Fingerprint),
			want: Response{Mapped: v6},
		},
		{
			name: "XOR-MAPPED-ADDRESS IPv6 without FINGERPRINT",
			raw:  build(txs, pion.BindingSuccess, &pion.XORMappedAddress{IP: ip(v6), Port: port(v6)}),
			want: Response{Mapped: v6},
		},
		{
			name: "MAPPED-ADDRESS only",
			raw:  build(txs, pion.BindingSuccess, &pion.MappedAddress{IP: ip(v4), Port: port(v4)}),
			want: Response{Mapped: v4},
		},
		{
			name: "MAPPED-ADDRESS IPv6 only with FINGERPRINT",
			raw:  build(txs, pion.BindingSuccess, &pion.MappedAddress{IP: ip(v6), Port: port(v6)}, pion.Fingerprint),
			want: Response{Mapped: v6},
		},
		{
			name: "SOFTWARE, unknown attribute, RFC 5780 addresses, FINGERPRINT",
			raw: build(txs, pion.BindingSuccess,
				pion.NewSoftware("pion test server"),
				unknownOpt,
				&pion.XORMappedAddress{IP: ip(v4), Port: port(v4)},
				&pion.ResponseOrigin{IP: ip(origin), Port: port(origin)},
				&pion.OtherAddress{IP: ip(other), Port: port(other)},
				pion.Fingerprint),
			want: Response{Mapped: v4, Other: other, Origin: origin},
		},
		{
			name: "MESSAGE-INTEGRITY then FINGERPRINT",
			raw: build(txs, pion.BindingSuccess,
				&pion.XORMappedAddress{IP: ip(v6), Port: port(v6)},
				pion.NewShortTermIntegrity("secret"),
				pion.Fingerprint),
			want: Response{Mapped: v6},
		},
		{
			name:     "ERROR-CODE 420 with FINGERPRINT",
			raw:      build(txs, pion.BindingError, pion.CodeUnknownAttribute, pion.Fingerprint),
			wantCode: 420,
		},
		{
			name:     "ERROR-CODE 500 with SOFTWARE and unknown attribute",
			raw:      build(txs, pion.BindingError, pion.NewSoftware("x"), unknownOpt, pion.CodeServerError),
			wantCode: 500,
		},
	}
}

func TestOursDecodesPionResponses(t *testing.T) {
	for _, tc := range pionResponses(t) {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseResponse(tc.raw)
			if tc.wantCode != 0 {
				var er *ErrorResponse
				if !errors.As(err, &er) || er.Code != tc.wantCode {
					t.Fatalf("err = %v, want error response %d", err, tc.wantCode)
				}
				// Reason must be what pion put there.
				m := &pion.Message{Raw: tc.raw}
				var ec pion.ErrorCodeAttribute
				if err := m.Decode(); err != nil {
					t.Fatal(err)
				}
				if err := ec.GetFrom(m); err != nil {
					t.Fatal(err)
				}
				if er.Reason != string(ec.Reason) {
					t.Errorf("reason %q, want %q", er.Reason, ec.Reason)
				}
				if r.TxID != testTx {
					t.Errorf("TxID = %x", r.TxID)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			tc.want.TxID = testTx
			if r != tc.want {
				t.Errorf("got %+v\nwant %+v", r, tc.want)
			}
		})
	}
}

// TestFingerprintAgreesWithPion corrupts one byte covered by the CRC of
// each pion-built message that has a FINGERPRINT: pion and we must both
// reject it.
func TestFingerprintAgreesWithPion(t *testing.T) {
	for _, tc := range pionResponses(t) {
		t.Run(tc.name, func(t *testing.T) {
			raw := bytes.Clone(tc.raw)
			if be.Uint16(raw[len(raw)-8:]) != attrFingerprint {
				t.Skip("no FINGERPRINT")
			}
			raw[len(raw)-9] ^= 0x10 // last byte before the FINGERPRINT
			m := &pion.Message{Raw: raw}
			if err := m.Decode(); err != nil {
				t.Fatal(err)
			}
			pionErr := pion.Fingerprint.Check(m)
			_, ours := ParseResponse(raw)
			if pionErr == nil || !errors.Is(ours, ErrMalformed) {
				t.Errorf("pion: %v, ours: %v; both should reject", pionErr, ours)
			}
		})
	}
}
