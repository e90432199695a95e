package record_test

// An independent, minimal implementation of the record format written
// straight from shared/spec/stunmesh-compat.md (SHA-1 of the raw keys, hex,
// json.Marshal of a map, box.Seal with a crypto/rand nonce), used to show
// that package record reads what a stunmesh-go-style writer produces and
// writes what such a reader accepts.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/record"
)

func refKey(a, b [32]byte) string {
	h := sha1.New()
	h.Write(a[:])
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil))
}

func refSeal(t *testing.T, plain map[string]any, senderPriv, receiverPub [32]byte) string {
	t.Helper()
	msg, err := json.Marshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(box.Seal(nonce[:], msg, &nonce, &receiverPub, &senderPriv))
}

func refOpen(value string, receiverPriv, senderPub [32]byte) (map[string]any, error) {
	raw, err := hex.DecodeString(value)
	if err != nil {
		return nil, err
	}
	if len(raw) < 24 {
		return nil, errors.New("short")
	}
	var nonce [24]byte
	copy(nonce[:], raw[:24])
	msg, ok := box.Open(nil, raw[24:], &nonce, &senderPub, &receiverPriv)
	if !ok {
		return nil, errors.New("box open failed")
	}
	var m map[string]any
	if err := json.Unmarshal(msg, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func interopKey(t *testing.T, b byte) wgtypes.Key {
	t.Helper()
	raw := bytes.Repeat([]byte{b}, 32)
	raw[0] &= 248
	raw[31] = raw[31]&127 | 64
	k, err := wgtypes.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestInteropKey(t *testing.T) {
	a, b := interopKey(t, 0x11).PublicKey(), interopKey(t, 0x22).PublicKey()
	if got, want := record.Key(a, b), refKey(a, b); got != want {
		t.Errorf("Key(a,b) = %s, reference %s", got, want)
	}
	if got, want := record.Key(b, a), refKey(b, a); got != want {
		t.Errorf("Key(b,a) = %s, reference %s", got, want)
	}
}

func TestInteropReferenceWritesRecordReads(t *testing.T) {
	aPriv, bPriv := interopKey(t, 0x11), interopKey(t, 0x22)
	aPub := aPriv.PublicKey()
	tests := []struct {
		name  string
		plain map[string]any
		want  record.Endpoints
	}{
		{"stunmesh-go dual stack without ts_ms",
			map[string]any{"ipv4": "203.0.113.7:51820", "ipv6": "[2001:db8::7]:51820"},
			record.Endpoints{IPv4: netip.MustParseAddrPort("203.0.113.7:51820"), IPv6: netip.MustParseAddrPort("[2001:db8::7]:51820")}},
		{"ipv6 only",
			map[string]any{"ipv6": "[2001:db8::7]:51820"},
			record.Endpoints{IPv6: netip.MustParseAddrPort("[2001:db8::7]:51820")}},
		{"with ts_ms and unknown fields",
			map[string]any{"ipv4": "203.0.113.7:51820", "ts_ms": int64(1700000000123), "relay": map[string]any{"x": true}, "version": "9.9"},
			record.Endpoints{IPv4: netip.MustParseAddrPort("203.0.113.7:51820"), Time: time.UnixMilli(1700000000123)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := refSeal(t, tt.plain, aPriv, bPriv.PublicKey())
			got, err := record.Open(v, bPriv, aPub)
			if err != nil {
				t.Fatalf("record.Open: %v", err)
			}
			if got.IPv4 != tt.want.IPv4 || got.IPv6 != tt.want.IPv6 || !got.Time.Equal(tt.want.Time) || got.NAT != "" {
				t.Errorf("record.Open = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestInteropRecordWritesReferenceReads(t *testing.T) {
	aPriv, bPriv := interopKey(t, 0x11), interopKey(t, 0x22)
	e := record.Endpoints{
		IPv4: netip.MustParseAddrPort("203.0.113.7:51820"),
		IPv6: netip.MustParseAddrPort("[2001:db8::7]:51820"),
		Time: time.UnixMilli(1700000000123),
	}
	v, err := record.Seal(e, aPriv, bPriv.PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := refOpen(v, bPriv, aPriv.PublicKey())
	if err != nil {
		t.Fatalf("reference open: %v", err)
	}
	if m["ipv4"] != "203.0.113.7:51820" || m["ipv6"] != "[2001:db8::7]:51820" {
		t.Errorf("reference read %v", m)
	}
	if ts, ok := m["ts_ms"].(float64); !ok || int64(ts) != 1700000000123 {
		t.Errorf("reference read ts_ms %v", m["ts_ms"])
	}
	if _, ok := m["nat"]; ok {
		t.Errorf("empty nat hint was written: %v", m)
	}
	// The spec says a dual-stack record is about 250–260 hex characters;
	// ours carries ts_ms as well. Keep an eye on it for DNS stores.
	t.Logf("dual-stack value with ts_ms: %d hex characters", len(v))
}
