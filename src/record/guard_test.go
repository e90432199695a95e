package record

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestGuard(t *testing.T) {
	aPriv, bPriv, _ := testKeys(t)
	peerA, peerB := aPriv.PublicKey(), bPriv.PublicKey()
	now := time.UnixMilli(1_700_000_000_000)
	ep := mustAP("203.0.113.7:51820")
	at := func(d time.Duration) Endpoints { return Endpoints{IPv4: ep, Time: now.Add(d)} }
	untimed := Endpoints{IPv4: ep}

	type step struct {
		peer      string // "a" or "b"
		e         Endpoints
		wantErr   error
		wantFirst bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"newer and equal accepted", []step{
			{"a", at(-time.Hour), nil, false},
			{"a", at(-time.Minute), nil, false},
			{"a", at(-time.Minute), nil, false}, // same record polled again
		}},
		{"older refused", []step{
			{"a", at(-time.Minute), nil, false},
			{"a", at(-time.Minute - time.Millisecond), ErrStale, false},
			{"a", at(-time.Minute), nil, false}, // a refusal does not move the mark
		}},
		{"peers are independent", []step{
			{"a", at(0), nil, false},
			{"b", at(-time.Hour), nil, false},
			{"b", untimed, ErrStale, false},
		}},
		{"future within skew accepted", []step{
			{"a", at(DefaultMaxSkew), nil, false},
		}},
		{"far future refused and not remembered", []step{
			{"a", at(DefaultMaxSkew + time.Millisecond), ErrFuture, false},
			{"a", at(-time.Hour), nil, false},
		}},
		{"stunmesh-go peer keeps working, reported once", []step{
			{"a", untimed, nil, true},
			{"a", untimed, nil, false},
			{"b", untimed, nil, true},
			{"a", untimed, nil, false},
		}},
		{"upgrade to timestamps then downgrade refused", []step{
			{"a", untimed, nil, true},
			{"a", at(0), nil, false},
			{"a", untimed, ErrStale, false},
			{"a", at(time.Second), nil, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Guard{Now: func() time.Time { return now }}
			for i, s := range tt.steps {
				peer := peerA
				if s.peer == "b" {
					peer = peerB
				}
				first, err := g.Accept(peer, s.e)
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
					t.Fatalf("step %d: Accept error = %v, want %v", i, err, s.wantErr)
				}
				if first != s.wantFirst {
					t.Errorf("step %d: firstUntimed = %v, want %v", i, first, s.wantFirst)
				}
			}
		})
	}
}

func TestGuardForgetAndSkew(t *testing.T) {
	aPriv, _, _ := testKeys(t)
	peer := aPriv.PublicKey()
	now := time.UnixMilli(1_700_000_000_000)
	g := &Guard{Now: func() time.Time { return now }, MaxSkew: time.Second}
	ep := mustAP("203.0.113.7:51820")
	if _, err := g.Accept(peer, Endpoints{IPv4: ep, Time: now.Add(2 * time.Second)}); !errors.Is(err, ErrFuture) {
		t.Fatalf("custom MaxSkew: error = %v, want ErrFuture", err)
	}
	if _, err := g.Accept(peer, Endpoints{IPv4: ep, Time: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Accept(peer, Endpoints{IPv4: ep}); !errors.Is(err, ErrStale) {
		t.Fatalf("downgrade: error = %v, want ErrStale", err)
	}
	g.Forget(peer)
	first, err := g.Accept(peer, Endpoints{IPv4: ep})
	if err != nil || !first {
		t.Fatalf("after Forget: first=%v err=%v, want true, nil", first, err)
	}
}

// TestGuardConcurrent runs Accept from many goroutines; with -race it
// checks the locking, and it checks that the mark ends at the newest time.
func TestGuardConcurrent(t *testing.T) {
	aPriv, _, _ := testKeys(t)
	peer := aPriv.PublicKey()
	base := time.UnixMilli(1_700_000_000_000)
	g := &Guard{Now: func() time.Time { return base.Add(time.Hour) }}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				_, _ = g.Accept(peer, Endpoints{IPv4: mustAP("192.0.2.1:1"), Time: base.Add(time.Duration(i*100+j) * time.Millisecond)})
			}
		})
	}
	wg.Wait()
	newest := base.Add(799 * time.Millisecond)
	if _, err := g.Accept(peer, Endpoints{IPv4: mustAP("192.0.2.1:1"), Time: newest}); err != nil {
		t.Errorf("newest record refused: %v", err)
	}
	if _, err := g.Accept(peer, Endpoints{IPv4: mustAP("192.0.2.1:1"), Time: newest.Add(-time.Millisecond)}); !errors.Is(err, ErrStale) {
		t.Errorf("older record: error = %v, want ErrStale", err)
	}
}

// TestGuardMaxAgeAndRestore: a record older than MaxAge is refused; a
// restored newest time holds across a new guard as the old one did.
func TestGuardMaxAgeAndRestore(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	peer := wgtypes.Key{1}
	g := &Guard{Now: func() time.Time { return now }, MaxAge: 24 * time.Hour}
	if _, err := g.Accept(peer, Endpoints{Time: now.Add(-25 * time.Hour)}); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "more than 24h0m0s old") {
		t.Fatalf("a 25 h old record: %v", err)
	}
	if _, err := g.Accept(peer, Endpoints{Time: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	saved := g.Newest()
	if !saved[peer].Equal(now.Add(-time.Hour)) || len(saved) != 1 {
		t.Fatalf("Newest = %v", saved)
	}
	g2 := &Guard{Now: func() time.Time { return now }}
	for k, v := range saved {
		g2.Restore(k, v)
	}
	if _, err := g2.Accept(peer, Endpoints{Time: now.Add(-2 * time.Hour)}); !errors.Is(err, ErrStale) {
		t.Fatalf("older record after a restore: %v", err)
	}
	g2.Restore(peer, now.Add(-3*time.Hour)) // older: ignored
	if _, err := g2.Accept(peer, Endpoints{Time: now.Add(-90 * time.Minute)}); !errors.Is(err, ErrStale) {
		t.Fatalf("Restore of an older time moved the guard back: %v", err)
	}
}
