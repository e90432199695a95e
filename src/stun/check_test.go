package stun

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net"
	"net/netip"
	"testing"

	pion "github.com/pion/stun/v3"
)

var checkKey = bytes.Repeat([]byte{0x5a}, 32)

// rfcIntegrity computes MESSAGE-INTEGRITY-SHA256 as RFC 8489 §14.6 words
// it, from a message cut just before the attribute: the header's length
// is set to count the attribute, then HMAC-SHA256 over what precedes it.
func rfcIntegrity(msg []byte, miOff int, key []byte) []byte {
	c := append([]byte(nil), msg[:miOff]...)
	be.PutUint16(c[2:], uint16(miOff-headerLen+36))
	m := hmac.New(sha256.New, key)
	m.Write(c)
	return m.Sum(nil)
}

func TestCheckRequestRoundTrip(t *testing.T) {
	tx := TxID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	for _, user := range []string{"", "a", "abcd", "wgs1 0011aabb 1700000000000 42"} {
		b := AppendCheckRequest([]byte{0xff, 0xff}, tx, user, checkKey)[2:]
		r, err := ParseRequest(b)
		if err != nil {
			t.Fatalf("%q: ParseRequest: %v", user, err)
		}
		if r.TxID != tx || r.Username != user || !r.Integrity || !r.Fingerprint {
			t.Fatalf("%q: parsed %+v", user, r)
		}
		if !VerifyIntegrity(b, checkKey) {
			t.Fatalf("%q: integrity does not verify", user)
		}
		if VerifyIntegrity(b, checkKey[1:]) {
			t.Fatalf("%q: integrity verifies under another key", user)
		}
		miOff := len(b) - 8 - 36
		if got, want := b[miOff+4:miOff+36], rfcIntegrity(b, miOff, checkKey); !bytes.Equal(got, want) {
			t.Fatalf("%q: integrity %x, RFC 8489 §14.6 gives %x", user, got, want)
		}
		// pion reads the same USERNAME and checks the FINGERPRINT.
		m := &pion.Message{Raw: append([]byte(nil), b...)}
		if err := m.Decode(); err != nil {
			t.Fatalf("%q: pion: %v", user, err)
		}
		var u pion.Username
		if err := u.GetFrom(m); user != "" && (err != nil || string(u) != user) {
			t.Fatalf("%q: pion USERNAME %q, %v", user, u, err)
		}
		if err := pion.Fingerprint.Check(m); err != nil {
			t.Fatalf("%q: pion FINGERPRINT: %v", user, err)
		}
		if m.Type != pion.BindingRequest {
			t.Fatalf("%q: pion type %v", user, m.Type)
		}
	}
}

func TestCheckRequestTampered(t *testing.T) {
	b := AppendCheckRequest(nil, TxID{9}, "wgs1 x", checkKey)
	for i := headerLen; i < len(b)-8; i++ {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		// Re-seal the FINGERPRINT so that only the integrity can catch it.
		fp := len(c) - 4
		be.PutUint32(c[fp:], crcOf(c[:fp-4]))
		if _, err := ParseRequest(c); err == nil && VerifyIntegrity(c, checkKey) {
			t.Fatalf("byte %d flipped: still verifies", i)
		}
	}
	c := append([]byte(nil), b...)
	c[len(c)-1] ^= 1
	if _, err := ParseRequest(c); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad FINGERPRINT: %v", err)
	}
	// A plain Binding request (discovery's) has no integrity.
	plain := AppendBindingRequest(nil, TxID{1}, 0)
	r, err := ParseRequest(plain)
	if err != nil || r.Integrity || VerifyIntegrity(plain, checkKey) {
		t.Fatalf("plain request: %+v %v", r, err)
	}
	if _, err := ParseRequest(AppendBindingIndication(nil, TxID{1})); !errors.Is(err, ErrMalformed) {
		t.Fatalf("indication parsed as request: %v", err)
	}
	long := AppendCheckRequest(nil, TxID{1}, string(bytes.Repeat([]byte("u"), 200)), checkKey)
	if r, err := ParseRequest(long); err != nil || len(r.Username) != MaxUsername {
		t.Fatalf("long username: %d %v", len(r.Username), err)
	}
}

func crcOf(b []byte) uint32 {
	return fingerprintOf(b)
}

func TestCheckResponseRoundTrip(t *testing.T) {
	tx := NewTxID()
	for _, m := range []netip.AddrPort{
		netip.MustParseAddrPort("192.168.10.3:51820"),
		netip.MustParseAddrPort("[2001:db8::7]:4"),
		netip.MustParseAddrPort("[::ffff:203.0.113.9]:65535"),
	} {
		b := AppendCheckResponse(nil, tx, m, checkKey)
		r, err := ParseResponse(b)
		if err != nil {
			t.Fatalf("%v: ParseResponse: %v", m, err)
		}
		if r.TxID != tx || r.Mapped != netip.AddrPortFrom(m.Addr().Unmap(), m.Port()) {
			t.Fatalf("%v: parsed %+v", m, r)
		}
		if !VerifyIntegrity(b, checkKey) || VerifyIntegrity(b, nil) {
			t.Fatalf("%v: integrity", m)
		}
		pm := &pion.Message{Raw: append([]byte(nil), b...)}
		if err := pm.Decode(); err != nil {
			t.Fatal(err)
		}
		var xa pion.XORMappedAddress
		if err := xa.GetFrom(pm); err != nil || !xa.IP.Equal(net.IP(m.Addr().AsSlice())) || xa.Port != int(m.Port()) {
			t.Fatalf("%v: pion XOR-MAPPED-ADDRESS %v %v", m, xa, err)
		}
		if _, err := ParseRequest(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v: response parsed as request", m)
		}
	}
}
