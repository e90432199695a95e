package record

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// fixedKey returns a clamped Curve25519 private key whose 32 bytes are all
// b, so test vectors and the committed fuzz corpus stay stable.
func fixedKey(t testing.TB, b byte) wgtypes.Key {
	t.Helper()
	raw := bytes.Repeat([]byte{b}, wgtypes.KeyLen)
	raw[0] &= 248
	raw[31] = raw[31]&127 | 64
	k, err := wgtypes.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Test keys: A (0x11…) sends to B (0x22…); C (0x33…) is a stranger.
func testKeys(t testing.TB) (aPriv, bPriv, cPriv wgtypes.Key) {
	return fixedKey(t, 0x11), fixedKey(t, 0x22), fixedKey(t, 0x33)
}

func TestKeyVector(t *testing.T) {
	// Vector from shared/spec/stunmesh-compat.md.
	var a, b wgtypes.Key
	b[0] = 0x01
	tests := []struct {
		name     string
		from, to wgtypes.Key
		want     string
	}{
		{"A publishes for B", a, b, "37b7dcf21e0e183a9a86170997df242a84a85ff7"},
		{"B publishes for A", b, a, "9c8d8e5a31c9802b093c4116dfb0a23a311b8029"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Key(tt.from, tt.to); got != tt.want {
				t.Errorf("Key = %s, want %s", got, tt.want)
			}
		})
	}
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestSealOpenRoundTrip(t *testing.T) {
	aPriv, bPriv, _ := testKeys(t)
	ts := time.UnixMilli(1_700_000_000_123)
	tests := []struct {
		name string
		e    Endpoints
	}{
		{"dual stack with time", Endpoints{IPv4: mustAP("203.0.113.7:51820"), IPv6: mustAP("[2001:db8::7]:51820"), Time: ts}},
		{"ipv4 only, no time", Endpoints{IPv4: mustAP("198.51.100.1:1")}},
		{"ipv6 only with nat hint", Endpoints{IPv6: mustAP("[2001:db8:1::1]:65535"), Time: ts, NAT: "endpoint-independent"}},
		{"ipv4 with an RFC 5780 nat hint", Endpoints{IPv4: mustAP("203.0.113.7:51820"), Time: ts, NAT: "apdm+apdf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Seal(tt.e, aPriv, bPriv.PublicKey(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if v != strings.ToLower(v) {
				t.Errorf("value %q is not lowercase", v)
			}
			got, err := Open(v, bPriv, aPriv.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if got.IPv4 != tt.e.IPv4 || got.IPv6 != tt.e.IPv6 || !got.Time.Equal(tt.e.Time) || got.NAT != tt.e.NAT {
				t.Errorf("Open = %+v, want %+v", got, tt.e)
			}
			// Surrounding whitespace and upper-case hex are tolerated.
			if _, err := Open("  "+strings.ToUpper(v)+"\n", bPriv, aPriv.PublicKey()); err != nil {
				t.Errorf("Open of padded upper-case value: %v", err)
			}
		})
	}
}

func TestSealFreshNonce(t *testing.T) {
	aPriv, bPriv, _ := testKeys(t)
	e := Endpoints{IPv4: mustAP("203.0.113.7:51820")}
	v1, err := Seal(e, aPriv, bPriv.PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := Seal(e, aPriv, bPriv.PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v1[:48] == v2[:48] {
		t.Errorf("two seals share nonce %s", v1[:48])
	}
	if _, err := Seal(e, aPriv, bPriv.PublicKey(), bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("Seal with a short random source succeeded")
	}
}

// sealRaw seals arbitrary plaintext the way Seal does, for error cases.
func sealRaw(t *testing.T, pt []byte, senderPriv, receiverPub wgtypes.Key) string {
	t.Helper()
	var nonce [24]byte
	nonce[0] = 7
	priv, pub := [32]byte(senderPriv), [32]byte(receiverPub)
	return hex.EncodeToString(box.Seal(nonce[:], pt, &nonce, &pub, &priv))
}

func TestOpenErrors(t *testing.T) {
	aPriv, bPriv, cPriv := testKeys(t)
	good, err := Seal(Endpoints{IPv4: mustAP("203.0.113.7:51820")}, aPriv, bPriv.PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(good)
	if flipped[60] == '0' {
		flipped[60] = '1'
	} else {
		flipped[60] = '0'
	}
	tests := []struct {
		name    string
		value   string
		recv    wgtypes.Key
		sender  wgtypes.Key
		want    error
		wantMsg string
	}{
		{"empty", "", bPriv, aPriv.PublicKey(), ErrMalformed, "need at least 40"},
		{"not hex", "zz" + good[2:], bPriv, aPriv.PublicKey(), ErrMalformed, "not hex"},
		{"odd length", good[:len(good)-1], bPriv, aPriv.PublicKey(), ErrMalformed, "not hex"},
		{"nonce only", good[:48], bPriv, aPriv.PublicKey(), ErrMalformed, "24 bytes"},
		{"nonce and short tag", good[:48+30], bPriv, aPriv.PublicKey(), ErrMalformed, "39 bytes"},
		{"too long", strings.Repeat("00", MaxValueLen), bPriv, aPriv.PublicKey(), ErrMalformed, "limit"},
		{"tampered", string(flipped), bPriv, aPriv.PublicKey(), ErrAuth, ""},
		{"wrong sender", good, bPriv, cPriv.PublicKey(), ErrAuth, ""},
		{"wrong receiver", good, cPriv, aPriv.PublicKey(), ErrAuth, ""},
		{"reflected: B's record for A read by B as A's", good, aPriv, bPriv.PublicKey(), ErrAuth, "another receiver"},
		{"to names another receiver", sealRaw(t, []byte(`{"ipv4":"192.0.2.1:2","to":"00000000"}`), aPriv, bPriv.PublicKey()), bPriv, aPriv.PublicKey(), ErrAuth, "another receiver"},
		{"legacy bare ip:port", sealRaw(t, []byte("203.0.113.7:51820"), aPriv, bPriv.PublicKey()), bPriv, aPriv.PublicKey(), ErrLegacy, "stunmesh-go before 1.5.1"},
		{"json without endpoints", sealRaw(t, []byte(`{"ts_ms":5}`), aPriv, bPriv.PublicKey()), bPriv, aPriv.PublicKey(), ErrMalformed, "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.value, tt.recv, tt.sender)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Open error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestParsePlaintext(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Endpoints
		err  error
	}{
		{"stunmesh-go dual stack", `{"ipv4":"203.0.113.7:51820","ipv6":"[2001:db8::7]:51820"}`,
			Endpoints{IPv4: mustAP("203.0.113.7:51820"), IPv6: mustAP("[2001:db8::7]:51820")}, nil},
		{"wgstun with ts and nat", `{"ipv4":"203.0.113.7:51820","ts_ms":1700000000123,"nat":"symmetric"}`,
			Endpoints{IPv4: mustAP("203.0.113.7:51820"), Time: time.UnixMilli(1700000000123), NAT: "symmetric"}, nil},
		{"wgstun with an RFC 5780 nat hint", `{"ipv4":"203.0.113.7:51820","ts_ms":1700000000123,"nat":"eim+apdf"}`,
			Endpoints{IPv4: mustAP("203.0.113.7:51820"), Time: time.UnixMilli(1700000000123), NAT: "eim+apdf"}, nil},
		{"unknown fields ignored", `{"ipv6":"[2001:db8::7]:1","future":{"x":[1,2]},"v":2}`,
			Endpoints{IPv6: mustAP("[2001:db8::7]:1")}, nil},
		{"whitespace around", " \n{\"ipv4\":\"192.0.2.1:2\"}\n", Endpoints{IPv4: mustAP("192.0.2.1:2")}, nil},
		{"empty strings mean absent", `{"ipv4":"","ipv6":"[2001:db8::7]:1"}`, Endpoints{IPv6: mustAP("[2001:db8::7]:1")}, nil},
		{"invalid nat hint dropped", `{"ipv4":"192.0.2.1:2","nat":"bad\nhint"}`, Endpoints{IPv4: mustAP("192.0.2.1:2")}, nil},
		{"legacy ipv4", `203.0.113.7:51820`, Endpoints{}, ErrLegacy},
		{"legacy ipv6", `[2001:db8::7]:51820`, Endpoints{}, ErrLegacy},
		{"empty", ``, Endpoints{}, ErrMalformed},
		{"null", `null`, Endpoints{}, ErrMalformed},
		{"array", `[1]`, Endpoints{}, ErrMalformed},
		{"trailing data", `{"ipv4":"192.0.2.1:2"}x`, Endpoints{}, ErrMalformed},
		{"no endpoints", `{}`, Endpoints{}, ErrMalformed},
		{"ipv6 in ipv4 field", `{"ipv4":"[2001:db8::7]:1"}`, Endpoints{}, ErrMalformed},
		{"ipv4 in ipv6 field", `{"ipv6":"192.0.2.1:2"}`, Endpoints{}, ErrMalformed},
		{"v4-mapped in ipv6 field", `{"ipv6":"[::ffff:192.0.2.1]:2"}`, Endpoints{}, ErrMalformed},
		{"zone", `{"ipv6":"[fe80::1%eth0]:2"}`, Endpoints{}, ErrMalformed},
		{"port zero", `{"ipv4":"192.0.2.1:0"}`, Endpoints{}, ErrMalformed},
		{"no port", `{"ipv4":"192.0.2.1"}`, Endpoints{}, ErrMalformed},
		{"hostname", `{"ipv4":"example.com:1"}`, Endpoints{}, ErrMalformed},
		{"unspecified", `{"ipv4":"0.0.0.0:1"}`, Endpoints{}, ErrMalformed},
		{"multicast", `{"ipv6":"[ff02::1]:1"}`, Endpoints{}, ErrMalformed},
		{"one bad family spoils record", `{"ipv4":"192.0.2.1:2","ipv6":"junk"}`, Endpoints{}, ErrMalformed},
		{"ipv4 not a string", `{"ipv4":3}`, Endpoints{}, ErrMalformed},
		{"ts_ms zero", `{"ipv4":"192.0.2.1:2","ts_ms":0}`, Endpoints{}, ErrMalformed},
		{"ts_ms negative", `{"ipv4":"192.0.2.1:2","ts_ms":-1}`, Endpoints{}, ErrMalformed},
		{"ts_ms fraction", `{"ipv4":"192.0.2.1:2","ts_ms":1.5}`, Endpoints{}, ErrMalformed},
		{"ts_ms string", `{"ipv4":"192.0.2.1:2","ts_ms":"1"}`, Endpoints{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePlaintext([]byte(tt.in))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error = %v, want %v", err, tt.err)
				}
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("error %v does not match ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.IPv4 != tt.want.IPv4 || got.IPv6 != tt.want.IPv6 || !got.Time.Equal(tt.want.Time) || got.NAT != tt.want.NAT {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMarshalPlaintext(t *testing.T) {
	tests := []struct {
		name string
		e    Endpoints
		want string
		err  bool
	}{
		{"stunmesh-go shape", Endpoints{IPv4: mustAP("203.0.113.7:51820"), IPv6: mustAP("[2001:db8::7]:51820")},
			`{"ipv4":"203.0.113.7:51820","ipv6":"[2001:db8::7]:51820"}`, false},
		{"with time and nat", Endpoints{IPv4: mustAP("203.0.113.7:51820"), Time: time.UnixMilli(1700000000123).Add(999 * time.Microsecond), NAT: "cone"},
			`{"ipv4":"203.0.113.7:51820","ts_ms":1700000000123,"nat":"cone"}`, false},
		{"nothing", Endpoints{}, "", true},
		{"v6 in ipv4", Endpoints{IPv4: mustAP("[2001:db8::7]:1")}, "", true},
		{"mapped in ipv4", Endpoints{IPv4: mustAP("[::ffff:192.0.2.1]:1")}, "", true},
		{"port 0", Endpoints{IPv6: mustAP("[2001:db8::7]:0")}, "", true},
		{"before epoch", Endpoints{IPv4: mustAP("192.0.2.1:1"), Time: time.Unix(-5, 0)}, "", true},
		{"nat too long", Endpoints{IPv4: mustAP("192.0.2.1:1"), NAT: strings.Repeat("x", MaxNATLen+1)}, "", true},
		{"nat control char", Endpoints{IPv4: mustAP("192.0.2.1:1"), NAT: "a\x00"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MarshalPlaintext(tt.e)
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestWeakKeys: every small-order encoding, with or without the top bit,
// is refused for sealing and opening; each is checked independently to
// give an all-zero X25519 output, and random keys are not weak.
func TestWeakKeys(t *testing.T) {
	priv, _ := wgtypes.GeneratePrivateKey()
	for _, s := range smallOrder {
		for _, top := range []byte{0, 0x80} {
			b, _ := hex.DecodeString(s)
			b[31] |= top
			k := wgtypes.Key(b)
			if _, err := curve25519.X25519(priv[:], k[:]); err == nil {
				t.Errorf("%x: X25519 output is not all zero; the list is wrong", k)
			}
			if _, err := Seal(Endpoints{IPv4: netip.MustParseAddrPort("203.0.113.10:51820")}, priv, k, nil); !errors.Is(err, ErrWeakKey) {
				t.Errorf("Seal to %x = %v, want ErrWeakKey", k, err)
			}
			if _, err := Open(strings.Repeat("00", 64), priv, k); !errors.Is(err, ErrWeakKey) {
				t.Errorf("Open from %x = %v, want ErrWeakKey", k, err)
			}
		}
	}
	for range 100 {
		k, _ := wgtypes.GeneratePrivateKey()
		if WeakKey(k.PublicKey()) {
			t.Fatalf("random key %s called weak", k.PublicKey())
		}
	}
}

func TestCandidates(t *testing.T) {
	aPriv, bPriv, _ := testKeys(t)
	e := Endpoints{
		IPv4: netip.MustParseAddrPort("203.0.113.10:40001"), Time: time.UnixMilli(1700000000123), Checks: true,
		Candidates: []Candidate{
			{CandLAN, netip.MustParseAddrPort("192.168.10.3:51820")},
			{CandMapped, netip.MustParseAddrPort("203.0.113.10:40001")},
			{CandPortMapped, netip.MustParseAddrPort("[2001:db8::5]:51820")},
		},
	}
	v, err := Seal(e, aPriv, bPriv.PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(v, bPriv, aPriv.PublicKey())
	if err != nil || !got.Checks || !slices.Equal(got.Candidates, e.Candidates) {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	// The compatible part is what stunmesh-go reads; "cand" is one more
	// field it ignores.
	pt, err := MarshalPlaintext(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ipv4":"203.0.113.10:40001","ts_ms":1700000000123,"cand":["lan 192.168.10.3:51820","mapped 203.0.113.10:40001","port-mapped [2001:db8::5]:51820"]}`
	if string(pt) != want {
		t.Fatalf("plaintext\n%s\nwant\n%s", pt, want)
	}
	// Checks with no candidate is an empty list; no checks, no field.
	for _, tc := range []struct {
		e    Endpoints
		want string
	}{
		{Endpoints{IPv4: e.IPv4, Checks: true}, `{"ipv4":"203.0.113.10:40001","cand":[]}`},
		{Endpoints{IPv4: e.IPv4}, `{"ipv4":"203.0.113.10:40001"}`},
	} {
		pt, err := MarshalPlaintext(tc.e)
		if err != nil || string(pt) != tc.want {
			t.Fatalf("%+v: %s, %v", tc.e, pt, err)
		}
	}
	if _, err := Seal(Endpoints{IPv4: e.IPv4, Checks: true, Candidates: make([]Candidate, MaxCandidates+1)}, aPriv, bPriv.PublicKey(), nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Seal of too many candidates: %v", err)
	}
	if _, err := MarshalPlaintext(Endpoints{IPv4: e.IPv4, Checks: true, Candidates: []Candidate{{"lan", netip.MustParseAddrPort("127.0.0.1:5")}}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("MarshalPlaintext of a loopback candidate: %v", err)
	}
}

func TestCandidatesLenient(t *testing.T) {
	for _, tc := range []struct {
		pt     string
		checks bool
		n      int
	}{
		{`{"ipv4":"203.0.113.7:1","cand":"lan 10.0.0.1:1"}`, false, 0},
		{`{"ipv4":"203.0.113.7:1","cand":null}`, false, 0},
		{`{"ipv4":"203.0.113.7:1","cand":[1,{},"lan","lan 10.0.0.1:0","lan 0.0.0.0:1","relay 10.0.0.1:1","lan 224.0.0.1:1","lan [fe80::1%eth0]:1","lan [fe80::1]:1","lan 169.254.0.1:1","lan 10.0.0.1:1"]}`, true, 1},
		{`{"ipv4":"203.0.113.7:1","cand":["lan 10.0.0.1:1","lan 10.0.0.2:1","lan 10.0.0.3:1","lan 10.0.0.4:1","lan 10.0.0.5:1","lan 10.0.0.6:1","lan 10.0.0.7:1","lan 10.0.0.8:1","lan 10.0.0.9:1"]}`, true, MaxCandidates},
	} {
		e, err := ParsePlaintext([]byte(tc.pt))
		if err != nil || e.Checks != tc.checks || len(e.Candidates) != tc.n {
			t.Errorf("%s: checks %v, %d candidates, %v; want %v, %d", tc.pt, e.Checks, len(e.Candidates), err, tc.checks, tc.n)
		}
	}
}
