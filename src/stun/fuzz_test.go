package stun

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pion "github.com/pion/stun/v3"

	"github.com/wgstun/wgstun/src/stun/stuntest"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpus under testdata/fuzz")

type seed struct {
	name string
	b    []byte
}

// seeds are the fuzz seeds: the RFC 5769 responses, every pion-built
// response of the interop test, hand-built responses with the RFC 5780
// attributes and error codes, and our own request and indication.
func seeds(t testing.TB) []seed {
	other := netip.MustParseAddrPort("192.0.2.2:3479")
	origin := netip.MustParseAddrPort("[2001:db8::1]:3478")
	s := []seed{
		{"rfc5769-2.2-ipv4-response", stuntest.RFC5769IPv4Response()},
		{"rfc5769-2.3-ipv6-response", stuntest.RFC5769IPv6Response()},
		{"own-binding-request", AppendBindingRequest(nil, testTx, 0)},
		{"own-binding-request-change", AppendBindingRequest(nil, testTx, ChangeIP|ChangePort)},
		{"own-binding-request-change-port", AppendBindingRequest(nil, testTx, ChangePort)},
		{"own-binding-indication", AppendBindingIndication(nil, testTx)},
		{"hand-rfc5780", stuntest.Message(stuntest.TypeBindingSuccess, testTx,
			stuntest.MappedAddress(public4),
			stuntest.XORMappedAddress(public6, testTx),
			stuntest.OtherAddress(other),
			stuntest.ResponseOrigin(origin),
			stuntest.Fingerprint())},
		{"hand-rfc5780-changed-answer", stuntest.Message(stuntest.TypeBindingSuccess, testTx,
			stuntest.XORMappedAddress(public4, testTx),
			stuntest.ResponseOrigin(other),
			stuntest.OtherAddress(netip.MustParseAddrPort("192.0.2.1:3478")),
			stuntest.Software("Coturn-4.6.1 'Gorst'"),
			stuntest.Fingerprint())},
		{"hand-rfc3489", stuntest.Message(stuntest.TypeBindingSuccess, testTx,
			stuntest.MappedAddress(public4),
			stuntest.SourceAddress(origin),
			stuntest.ChangedAddress(other))},
		{"hand-error-401", stuntest.Message(stuntest.TypeBindingError, testTx,
			stuntest.ErrorCode(401, "Unauthorized"),
			stuntest.Attr{Type: stuntest.AttrRealm, Value: []byte("example.org")},
			stuntest.Attr{Type: stuntest.AttrNonce, Value: []byte("abc")},
			stuntest.Fingerprint())},
		{"hand-integrity", stuntest.Message(stuntest.TypeBindingSuccess, testTx,
			stuntest.XORMappedAddress(public4, testTx),
			stuntest.Attr{Type: stuntest.AttrMessageIntegrity, Value: make([]byte, 20)},
			stuntest.Attr{Type: attrMessageIntegritySHA256, Value: make([]byte, 32)},
			stuntest.Fingerprint())},
	}
	for _, p := range pionResponses(t) {
		name := "pion-" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return '-'
		}, p.name)
		s = append(s, seed{name, p.raw})
	}
	return s
}

// TestFuzzCorpus keeps the committed corpus in step with seeds(): run with
// -update-corpus to rewrite it.
func TestFuzzCorpus(t *testing.T) {
	for _, fz := range []struct {
		dir    string
		encode func(b []byte) string
	}{
		{"FuzzParseResponse", func(b []byte) string {
			return fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		}},
		{"FuzzClientHandle", func(b []byte) string {
			return fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(true)\n", b)
		}},
	} {
		dir := filepath.Join("testdata", "fuzz", fz.dir)
		for _, s := range seeds(t) {
			path := filepath.Join(dir, s.name)
			want := fz.encode(s.b)
			if *updateCorpus {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != want {
				t.Errorf("%s is missing or stale (err %v); run go test -run TestFuzzCorpus -update-corpus", path, err)
			}
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		r, err := ParseResponse(b)
		if !bytes.Equal(b, orig) {
			t.Fatal("ParseResponse modified its input")
		}
		var er *ErrorResponse
		switch {
		case err == nil:
			if !IsMessage(b) || be.Uint16(b) != typeBindingSuccess {
				t.Fatalf("accepted a non-success message: %x", b)
			}
			if !r.Mapped.IsValid() {
				t.Fatal("success without a mapped address")
			}
		case errors.As(err, &er):
			if !IsMessage(b) || be.Uint16(b) != typeBindingError {
				t.Fatalf("error response from a non-error message: %x", b)
			}
			if er.Code < 300 || er.Code > 699 {
				t.Fatalf("code %d out of range", er.Code)
			}
			if r != (Response{TxID: r.TxID}) {
				t.Fatalf("error response with addresses: %+v", r)
			}
		case !errors.Is(err, ErrMalformed):
			t.Fatalf("error %v matches neither ErrMalformed nor *ErrorResponse", err)
		}
		if err != nil && er == nil {
			return
		}
		if !bytes.Equal(r.TxID[:], b[8:20]) {
			t.Fatalf("TxID %x, message has %x", r.TxID, b[8:20])
		}
		// What we accept, the reference implementation decodes too, and
		// agrees on the FINGERPRINT when there is one.
		m := &pion.Message{Raw: bytes.Clone(b)}
		if err := m.Decode(); err != nil {
			t.Fatalf("we accept, pion rejects: %v", err)
		}
		if _, err := m.Get(pion.AttrFingerprint); err == nil {
			if err := pion.Fingerprint.Check(m); err != nil {
				t.Fatalf("we accept, pion's fingerprint check fails: %v", err)
			}
		}
	})
}

// FuzzClientHandle feeds one packet to the read loop's dispatch with one
// transaction (testTx, to serverA) outstanding, from serverA or not. The
// transaction must get the packet exactly when it parses as a Binding
// response with that TxID from that source; otherwise exactly one drop
// counter moves.
func FuzzClientHandle(f *testing.F) {
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, b []byte, fromServer bool) {
		c := NewClient(newMemConn())
		tr := &transaction{server: serverA, result: make(chan result, 1)}
		c.pending[testTx] = tr
		src := serverB
		if fromServer {
			src = serverA
		}
		c.handle(b, src)

		resp, err := ParseResponse(b)
		var er *ErrorResponse
		parsed := err == nil || errors.As(err, &er)
		want := parsed && resp.TxID == testTx && fromServer
		select {
		case r := <-tr.result:
			if !want {
				t.Fatalf("delivered %+v, %v; want dropped", r.resp, r.err)
			}
			if r.resp != resp || (r.err == nil) != (err == nil) {
				t.Fatalf("delivered %+v, %v; ParseResponse gives %+v, %v", r.resp, r.err, resp, err)
			}
			if _, still := c.pending[testTx]; still {
				t.Fatal("transaction still pending after delivery")
			}
		default:
			if want {
				t.Fatal("valid response from the server was dropped")
			}
			s := c.Stats()
			if s.Garbage+s.Unmatched+s.Spoofed != 1 {
				t.Fatalf("Stats %+v: want exactly one drop counted", s)
			}
		}
	})
}

// FuzzParseRequest: a path check's parser and integrity check never
// panic, never change their input, and accept only whole Binding requests
// that pion decodes too; an integrity verifies only when the check built
// with the key round-trips.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte{})
	f.Add(AppendCheckRequest(nil, TxID{1}, "wgs1 00112233 1 2", checkKey))
	f.Add(AppendBindingRequest(nil, TxID{2}, ChangeIP))
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		r, err := ParseRequest(b)
		ok := VerifyIntegrity(b, checkKey)
		if !bytes.Equal(b, orig) {
			t.Fatal("ParseRequest or VerifyIntegrity modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		if !IsMessage(b) || be.Uint16(b) != typeBindingRequest || len(r.Username) > MaxUsername {
			t.Fatalf("accepted %x as %+v", b, r)
		}
		if ok && !r.Integrity {
			t.Fatalf("integrity verified on a request without one: %x", b)
		}
		if ok {
			// Only the key's holder makes such a request: rebuilding it
			// from what was parsed gives the same bytes up to the end of
			// the integrity (what follows it is not covered, RFC 8489
			// §14.6, and ignored).
			again := AppendCheckRequest(nil, r.TxID, r.Username, checkKey)
			n := len(again) - 8
			if len(b) < n || !bytes.Equal(b[:n], again[:n]) {
				t.Fatalf("an integrity verifies over other bytes: %x", b)
			}
		}
		m := &pion.Message{Raw: bytes.Clone(b)}
		if err := m.Decode(); err != nil {
			t.Fatalf("we accept, pion rejects: %v", err)
		}
	})
}
