package stuntest_test

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/wgstun/wgstun/src/stun"
	"github.com/wgstun/wgstun/src/stun/stuntest"
)

// The transaction ID of the RFC 5769 §2.1 to §2.3 vectors.
var rfcTx = stuntest.RFC5769TxID

// TestRFC5769Responses rebuilds the two sample responses byte for byte:
// header, SOFTWARE padded with a space as the RFC does, XOR-MAPPED-ADDRESS
// of both families, and the FINGERPRINT computed over all of it. The
// MESSAGE-INTEGRITY value (an HMAC this package does not compute) is
// copied from the vector.
func TestRFC5769Responses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		msg    []byte
		mapped netip.AddrPort
	}{
		{"2.2 IPv4", stuntest.RFC5769IPv4Response(), netip.MustParseAddrPort("192.0.2.1:32853")},
		{"2.3 IPv6", stuntest.RFC5769IPv6Response(), netip.MustParseAddrPort("[2001:db8:1234:5678:11:2233:4455:6677]:32853")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.msg
			integrity := want[len(want)-8-20 : len(want)-8]
			got := stuntest.Message(stuntest.TypeBindingSuccess, rfcTx,
				stuntest.Attr{Type: stuntest.AttrSoftware, Value: []byte("test vector"), Pad: ' '},
				stuntest.XORMappedAddress(tc.mapped, rfcTx),
				stuntest.Attr{Type: stuntest.AttrMessageIntegrity, Value: integrity},
				stuntest.Fingerprint())
			if !bytes.Equal(got, want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
		})
	}
}

func TestRequestTxID(t *testing.T) {
	tx := stun.NewTxID()
	vector := stuntest.RFC5769Request()
	badFP := bytes.Clone(vector)
	badFP[len(badFP)-1] ^= 1
	withFP := stuntest.Message(stuntest.TypeBindingRequest, tx, stuntest.Software("x"), stuntest.Fingerprint())
	fpNotLast := stuntest.Message(stuntest.TypeBindingRequest, tx, stuntest.Fingerprint(), stuntest.Software("x"))
	overrun := stuntest.Message(stuntest.TypeBindingRequest, tx, stuntest.Software("abcd"))
	overrun[23] = 5 // SOFTWARE length 5: its padding runs past the end
	for _, tc := range []struct {
		name string
		b    []byte
		want [12]byte // zero: not a Binding request
	}{
		{"RFC 5769 2.1 request", vector, rfcTx},
		{"stun.AppendBindingRequest", stun.AppendBindingRequest(nil, tx, 0), tx},
		{"stun.AppendBindingRequest with CHANGE-REQUEST", stun.AppendBindingRequest(nil, tx, stun.ChangeIP|stun.ChangePort), tx},
		{"header only", stuntest.Message(stuntest.TypeBindingRequest, tx), tx},
		{"own FINGERPRINT", withFP, tx},
		{"bad FINGERPRINT", badFP, [12]byte{}},
		{"FINGERPRINT not last", fpNotLast, [12]byte{}},
		{"attribute overruns", overrun, [12]byte{}},
		{"truncated", vector[:len(vector)-4], [12]byte{}},
		{"short", vector[:19], [12]byte{}},
		{"stun.AppendBindingIndication", stun.AppendBindingIndication(nil, tx), [12]byte{}},
		{"Binding success", stuntest.BindingSuccess(tx, netip.MustParseAddrPort("192.0.2.1:1")), [12]byte{}},
		{"WireGuard handshake initiation", append([]byte{1, 0, 0, 0}, make([]byte, 144)...), [12]byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := stuntest.RequestTxID(tc.b)
			if wantOK := tc.want != [12]byte{}; ok != wantOK || got != tc.want {
				t.Errorf("RequestTxID = %x, %v; want %x, %v", got, ok, tc.want, wantOK)
			}
		})
	}
}

// TestParsedByStun feeds what the builders make to stun.ParseResponse.
func TestParsedByStun(t *testing.T) {
	tx := stun.NewTxID()
	v4 := netip.MustParseAddrPort("198.51.100.7:51820")
	v6 := netip.MustParseAddrPort("[2001:db8:ffff::7]:65535")
	other := netip.MustParseAddrPort("192.0.2.2:3479")
	origin := netip.MustParseAddrPort("[2001:db8::1]:3478")
	for _, tc := range []struct {
		name   string
		b      []byte
		want   stun.Response // TxID is always tx
		code   int           // non-zero: an error response
		reason string
	}{
		{"success IPv4", stuntest.BindingSuccess(tx, v4), stun.Response{Mapped: v4}, 0, ""},
		{"success IPv6", stuntest.BindingSuccess(tx, v6), stun.Response{Mapped: v6}, 0, ""},
		{
			"success with RFC 5780 addresses",
			stuntest.BindingSuccess(tx, v4, stuntest.OtherAddress(other), stuntest.ResponseOrigin(origin)),
			stun.Response{Mapped: v4, Other: other, Origin: origin}, 0, "",
		},
		{
			"success without FINGERPRINT",
			stuntest.Message(stuntest.TypeBindingSuccess, tx, stuntest.XORMappedAddress(v6, tx)),
			stun.Response{Mapped: v6}, 0, "",
		},
		{
			"MAPPED-ADDRESS only, odd-length SOFTWARE",
			stuntest.Message(stuntest.TypeBindingSuccess, tx, stuntest.Software("odd"), stuntest.MappedAddress(v6), stuntest.Fingerprint()),
			stun.Response{Mapped: v6}, 0, "",
		},
		{
			"RFC 3489 addresses",
			stuntest.Message(stuntest.TypeBindingSuccess, tx, stuntest.MappedAddress(v4),
				stuntest.ChangedAddress(other), stuntest.SourceAddress(origin)),
			stun.Response{Mapped: v4, Other: other, Origin: origin}, 0, "",
		},
		{"error 420", stuntest.BindingError(tx, 420, "Unknown Attribute"), stun.Response{}, 420, "Unknown Attribute"},
		{
			"error 300 without reason or FINGERPRINT",
			stuntest.Message(stuntest.TypeBindingError, tx, stuntest.ErrorCode(300, "")),
			stun.Response{}, 300, "",
		},
		{"error 699", stuntest.BindingError(tx, 699, "x", stuntest.Software("s")), stun.Response{}, 699, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !stun.IsMessage(tc.b) {
				t.Fatalf("stun.IsMessage(%x) = false", tc.b)
			}
			r, err := stun.ParseResponse(tc.b)
			tc.want.TxID = tx
			if tc.code != 0 {
				var er *stun.ErrorResponse
				if !errors.As(err, &er) || er.Code != tc.code || er.Reason != tc.reason {
					t.Fatalf("err = %v, want error response %d %q", err, tc.code, tc.reason)
				}
			} else if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if r != tc.want {
				t.Errorf("got %+v, want %+v", r, tc.want)
			}
		})
	}
}

// TestMalformed: what the builders make on purpose to be wrong, stun
// rejects for that reason.
func TestMalformed(t *testing.T) {
	tx := stun.NewTxID()
	v4 := netip.MustParseAddrPort("198.51.100.7:51820")
	badFP := stuntest.BindingSuccess(tx, v4)
	badFP[len(badFP)-1] ^= 1
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"bad FINGERPRINT", badFP, "FINGERPRINT: checksum mismatch"},
		{"FINGERPRINT not last", stuntest.Message(stuntest.TypeBindingSuccess, tx, stuntest.Fingerprint(), stuntest.XORMappedAddress(v4, tx)), "not the last attribute"},
		{"FINGERPRINT of 8 bytes", stuntest.Message(stuntest.TypeBindingSuccess, tx, stuntest.XORMappedAddress(v4, tx), stuntest.Attr{Type: stuntest.AttrFingerprint, Value: make([]byte, 8)}), "length is not 4"},
		{"error class 2", stuntest.BindingError(tx, 200, ""), "class is not 3..6"},
		{"error class 7", stuntest.BindingError(tx, 700, ""), "class is not 3..6"},
		{"request", stuntest.Message(stuntest.TypeBindingRequest, tx, stuntest.Fingerprint()), "not a Binding success or error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stun.ParseResponse(tc.b)
			if !errors.Is(err, stun.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrMalformed with %q", err, tc.want)
			}
		})
	}
}

func TestInvalidAddressPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	stuntest.MappedAddress(netip.AddrPort{})
}
