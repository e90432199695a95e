package pathcheck

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func keys(t *testing.T) (a, b, c wgtypes.Key) {
	t.Helper()
	for _, k := range []*wgtypes.Key{&a, &b, &c} {
		var err error
		if *k, err = wgtypes.GeneratePrivateKey(); err != nil {
			t.Fatal(err)
		}
	}
	return a, b, c
}

func TestKey(t *testing.T) {
	a, b, c := keys(t)
	ab, err := Key(a, b.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	ba, _ := Key(b, a.PublicKey())
	ac, _ := Key(a, c.PublicKey())
	if !bytes.Equal(ab, ba) || len(ab) != 32 {
		t.Fatalf("the two sides derive %x and %x", ab, ba)
	}
	if bytes.Equal(ab, ac) {
		t.Fatal("two pairs share a key")
	}
	if _, err := Key(a, wgtypes.Key{}); !errors.Is(err, ErrWeakKey) {
		t.Fatalf("zero peer key: %v", err)
	}
}

func TestUsername(t *testing.T) {
	u := Username{Tag: "0a0b0c0d", Epoch: 1700000000123, Seq: 42}
	got, ok := ParseUsername(u.String())
	if !ok || got != u {
		t.Fatalf("round trip %q: %+v %v", u.String(), got, ok)
	}
	for _, s := range []string{
		"", "wgs1", "wgs2 0a0b0c0d 1 2", "wgs1 0a0b0c0 1 2", "wgs1 0A0B0C0D 1 2", "wgs1 0a0b0c0g 1 2",
		"wgs1 0a0b0c0d 0 2", "wgs1 0a0b0c0d 1 -2", "wgs1 0a0b0c0d 1 2 3", "wgs1  0a0b0c0d 1 2", "wgs1 0a0b0c0d 1 99999999999999999999",
	} {
		if _, ok := ParseUsername(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestSeqIncreases(t *testing.T) {
	var s Seq
	last := s.Next()
	if d := time.Since(time.UnixMicro(last)); d < 0 || d > time.Minute {
		t.Fatalf("first number %d is not about now", last)
	}
	for range 1000 {
		n := s.Next()
		if n <= last {
			t.Fatalf("%d after %d", n, last)
		}
		last = n
	}
}

func TestReplay(t *testing.T) {
	var r Replay
	base := int64(1_700_000_000_000_000)
	if !r.Accept(base) || r.Accept(base) {
		t.Fatal("first number not accepted once")
	}
	if !r.Accept(base-1000) || r.Accept(base-1000) {
		t.Fatal("an older number within the window: accepted once")
	}
	if r.Accept(base + 1 - replayWindow - 1000) {
		t.Fatal("a number below the window accepted")
	}
	// Forgetting raises the floor: nothing forgotten is accepted again.
	for i := int64(1); i <= replayKeep; i++ {
		if !r.Accept(base + i) {
			t.Fatalf("new number %d refused", base+i)
		}
	}
	for i := int64(-1000); i <= replayKeep; i++ {
		if r.Accept(base + i) {
			t.Fatalf("number %d accepted twice", base+i)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter()
	now := time.Unix(1000, 0)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	n := 0
	for range 100 {
		if l.Allow(a, now) {
			n++
		}
	}
	if n != int(l.Burst) {
		t.Fatalf("%d answers to one source at once, want the burst %v", n, l.Burst)
	}
	if !l.Allow(b, now) {
		t.Fatal("another source is limited by the first")
	}
	if !l.Allow(a, now.Add(100*time.Millisecond)) || l.Allow(a, now.Add(100*time.Millisecond)) {
		t.Fatal("0.1 s at 10/s does not give exactly one more answer")
	}
	// The table stays bounded.
	for i := range 1000 {
		l.Allow(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), now.Add(time.Duration(i)*time.Second))
	}
	if len(l.buckets) > l.MaxSources {
		t.Fatalf("%d sources kept, limit %d", len(l.buckets), l.MaxSources)
	}
	// And all sources together get at most Global a second.
	g := NewLimiter()
	n = 0
	for i := range 1000 {
		if g.Allow(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), now) {
			n++
		}
	}
	if n != int(g.Global) {
		t.Fatalf("%d answers in one instant from many sources, want %v", n, g.Global)
	}
}
