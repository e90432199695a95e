package record

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzOpen feeds arbitrary stored values to Open with the fixed test keys
// (A seals for B). The committed corpus in testdata/fuzz/FuzzOpen holds
// values sealed by A for B, so mutations start from authentic records.
func FuzzOpen(f *testing.F) {
	aPriv, bPriv, _ := testKeys(f)
	aPub := aPriv.PublicKey()
	f.Add("")
	f.Add("00")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, value string) {
		e, err := Open(value, bPriv, aPub)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuth) {
				t.Fatalf("Open error %v matches no sentinel", err)
			}
			return
		}
		if verr := e.validate(); verr != nil {
			t.Fatalf("Open returned invalid endpoints %+v: %v", e, verr)
		}
	})
}

// FuzzParsePlaintext exercises the plaintext parser directly, since box
// authentication keeps the fuzzer from reaching it through Open. Whatever
// parses must survive a marshal/parse round trip unchanged.
func FuzzParsePlaintext(f *testing.F) {
	f.Add([]byte(`{"ipv4":"203.0.113.7:51820","ipv6":"[2001:db8::7]:51820"}`))
	f.Add([]byte(`{"ipv4":"203.0.113.7:51820","ts_ms":1700000000123,"nat":"cone"}`))
	f.Add([]byte(`203.0.113.7:51820`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"ipv4":"203.0.113.7:51820","cand":["lan 192.168.1.2:51820","mapped 203.0.113.7:51820","port-mapped [2001:db8::1]:9"]}`))
	f.Add([]byte(`{"ipv4":"203.0.113.7:51820","cand":[1,"lan 10.0.0.1:0",{"a":"b"},"x 1.2.3.4:5"]}`))
	f.Fuzz(func(t *testing.T, pt []byte) {
		e, err := ParsePlaintext(pt)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		out, err := MarshalPlaintext(e)
		if err != nil {
			t.Fatalf("MarshalPlaintext(%+v) of parsed input: %v", e, err)
		}
		e2, err := ParsePlaintext(out)
		if err != nil {
			t.Fatalf("reparse of %s: %v", out, err)
		}
		if e2.IPv4 != e.IPv4 || e2.IPv6 != e.IPv6 || !e2.Time.Equal(e.Time) || e2.NAT != e.NAT ||
			e2.Checks != e.Checks || !slices.Equal(e2.Candidates, e.Candidates) {
			t.Fatalf("round trip changed %+v to %+v", e, e2)
		}
		// The candidate list opener keeps only usable candidates, at most
		// MaxCandidates, and only when the sender answers checks.
		if len(e.Candidates) > MaxCandidates || !e.Checks && len(e.Candidates) > 0 {
			t.Fatalf("%d candidates (checks %v)", len(e.Candidates), e.Checks)
		}
		for _, c := range e.Candidates {
			if a := c.Addr.Addr(); c.Addr.Port() == 0 || !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.Zone() != "" {
				t.Fatalf("unusable candidate %v kept", c)
			}
		}
	})
}

// TestFuzzOpenCorpus checks that the committed authentic seeds really open,
// so the fuzzer starts from records that reach the plaintext parser.
func TestFuzzOpenCorpus(t *testing.T) {
	aPriv, bPriv, _ := testKeys(t)
	tests := []struct {
		name string
		want error
	}{
		{"sealed-dual-stack-ts", nil},
		{"sealed-ipv4-only", nil},
		{"sealed-ipv6-nat", nil},
		{"stunmesh-no-ts", nil},
		{"unknown-fields", nil},
		{"whitespace-padded", nil},
		{"legacy-bare", ErrLegacy},
		{"wrong-to", ErrAuth},
		{"empty-object", ErrMalformed},
		{"garbage-hex", ErrAuth},
		{"short-nonce-only", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzOpen", tt.name))
			if err != nil {
				t.Fatal(err)
			}
			_, lit, ok := strings.Cut(strings.TrimSpace(string(b)), "\nstring(")
			if !ok {
				t.Fatalf("corpus file %s has no string value", tt.name)
			}
			v, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Open(v, bPriv, aPriv.PublicKey())
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Open = %v, want %v", err, tt.want)
			}
		})
	}
}
