package daemon

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/store"
	"github.com/wgstun/wgstun/src/record"
)

// multiStore holds several values per key, as a DHT does, and hands them
// out in the order given (the store's unauthenticated preference); its Get
// returns the first, as a DHT store choosing by an unsigned timestamp did.
type multiStore struct {
	memStore
	extra map[string][]string // put before the memStore's value
}

func (s *multiStore) Get(ctx context.Context, k string) (string, error) {
	all, err := s.GetAll(ctx, k)
	if err != nil {
		return "", err
	}
	return all[0], nil
}

func (s *multiStore) GetAll(ctx context.Context, k string) ([]string, error) {
	v, err := s.memStore.Get(ctx, k)
	out := append([]string(nil), s.extra[k]...)
	if err == nil {
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, store.ErrNotFound
	}
	return out, nil
}

var _ store.Multi = (*multiStore)(nil)

// TestMultiStoreNewestSealed: under a key that holds several values, the
// peer's newest record by its sealed time wins; a forged value the store
// ranks first (it cannot be opened) and an older genuine record the store
// also ranks first are passed over.
func TestMultiStoreNewestSealed(t *testing.T) {
	a, b, _, clk := newPair(t)
	ms := &multiStore{memStore: memStore{m: map[string]string{}}, extra: map[string][]string{}}
	a.r.set.store, b.r.set.store = ms, ms
	key := record.Key(a.peerKey(b), b.peerKey(a)) // b's record for a
	older, err := record.Seal(record.Endpoints{IPv4: netip.MustParseAddrPort("203.0.113.99:1111"), Time: clk.t.Add(-time.Hour)}, b.priv, a.peerKey(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	ms.extra[key] = []string{strings.Repeat("ab", 80), older}
	ctx := context.Background()
	settle(ctx, b.r) // publishes the current record
	settle(ctx, a.r)
	p := a.r.peers[a.peerKey(b)]
	if want := netip.MustParseAddrPort("203.0.113.20:40002"); p.cand != want || p.lastErr != "" {
		t.Fatalf("candidate %v (err %q), want b's current %v", p.cand, p.lastErr, want)
	}
	// Only a forgery under the key: nothing is taken, and why is said.
	ms.mu.Lock()
	delete(ms.m, key)
	ms.mu.Unlock()
	ms.extra[key] = []string{strings.Repeat("ab", 80)}
	p.nextPoll = clk.t
	p.cand = netip.AddrPort{}
	settle(ctx, a.r)
	if p.cand.IsValid() || !strings.Contains(p.lastErr, "record does not open") {
		t.Fatalf("forgery alone: candidate %v, err %q", p.cand, p.lastErr)
	}
}
