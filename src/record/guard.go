package record

import (
	"fmt"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// DefaultMaxSkew is how far ahead of the local clock a record's timestamp
// may be before Guard rejects it.
const DefaultMaxSkew = 10 * time.Minute

// Guard is the replay protection for opened records: per peer it remembers
// the newest timestamp accepted. Its zero value is ready to use and it is
// safe for concurrent use. State lives in memory; Newest and Restore let
// the caller keep it across restarts.
//
// Policy, per peer:
//   - A timestamped record is accepted if its time is not before the newest
//     accepted one (an equal time is the same record read again, which
//     happens on every poll) and not more than MaxSkew ahead of Now. A
//     record from the future is refused rather than remembered, because
//     remembering it would lock out every honest record until that time.
//   - An untimestamped record (stunmesh-go never writes timestamps) is
//     accepted as long as no timestamped record was accepted from that peer:
//     a peer that has shown it writes timestamps is running wgstun, so an
//     untimestamped record under its key is treated as a downgrade replay of
//     an old stunmesh-go record and refused with ErrStale. A peer that
//     really moves back to stunmesh-go is accepted again after Forget or a
//     restart. The first untimestamped record accepted from a peer is
//     reported (firstUntimed) so the caller can log once that this peer has
//     no replay protection.
type Guard struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// MaxSkew bounds how far in the future a timestamp may be; zero or
	// negative means DefaultMaxSkew.
	MaxSkew time.Duration
	// MaxAge, when positive, refuses a timestamped record older than this
	// (ErrStale): what a restart, which forgets the newest accepted time
	// unless restored, could otherwise be fed.
	MaxAge time.Duration

	mu    sync.Mutex
	peers map[wgtypes.Key]*peerState
}

type peerState struct {
	newest     time.Time // zero until a timestamped record is accepted
	sawUntimed bool
}

// Accept decides whether e, opened from peer's record, may be used, and
// remembers it if so. err matches ErrStale or ErrFuture when the record is
// refused; firstUntimed is true when e is the first accepted record from
// peer without a timestamp.
func (g *Guard) Accept(peer wgtypes.Key, e Endpoints) (firstUntimed bool, err error) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	skew := g.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.peers[peer]
	if st == nil {
		st = &peerState{}
	}

	if e.Time.IsZero() {
		if !st.newest.IsZero() {
			return false, fmt.Errorf("%w: untimestamped record after a timestamped one from %v", ErrStale, st.newest.UTC().Format(time.RFC3339Nano))
		}
		g.store(peer, st)
		if st.sawUntimed {
			return false, nil
		}
		st.sawUntimed = true
		return true, nil
	}

	if limit := now().Add(skew); e.Time.After(limit) {
		return false, fmt.Errorf("%w: record time %s is more than %v ahead of local time", ErrFuture, e.Time.UTC().Format(time.RFC3339Nano), skew)
	}
	if g.MaxAge > 0 && e.Time.Before(now().Add(-g.MaxAge)) {
		return false, fmt.Errorf("%w: record time %s is more than %v old", ErrStale, e.Time.UTC().Format(time.RFC3339Nano), g.MaxAge)
	}
	if e.Time.Before(st.newest) {
		return false, fmt.Errorf("%w: record time %s is before %s already accepted", ErrStale, e.Time.UTC().Format(time.RFC3339Nano), st.newest.UTC().Format(time.RFC3339Nano))
	}
	st.newest = e.Time
	g.store(peer, st)
	return false, nil
}

// Forget drops what the guard remembers about peer, for example when the
// peer is removed from the configuration.
func (g *Guard) Forget(peer wgtypes.Key) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.peers, peer)
}

// store keeps st for peer; g.mu must be held.
func (g *Guard) store(peer wgtypes.Key, st *peerState) {
	if g.peers == nil {
		g.peers = make(map[wgtypes.Key]*peerState)
	}
	g.peers[peer] = st
}

// Newest returns, per peer, the newest timestamp accepted, for the caller
// to keep across restarts.
func (g *Guard) Newest() map[wgtypes.Key]time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[wgtypes.Key]time.Time, len(g.peers))
	for k, st := range g.peers {
		if !st.newest.IsZero() {
			out[k] = st.newest
		}
	}
	return out
}

// Restore sets peer's newest accepted timestamp to t, unless a newer one
// was accepted already.
func (g *Guard) Restore(peer wgtypes.Key, t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.peers[peer]
	if st == nil {
		st = &peerState{}
	}
	if t.After(st.newest) {
		st.newest = t
	}
	g.store(peer, st)
}

// SetMaxAge changes MaxAge while the guard is in use.
func (g *Guard) SetMaxAge(d time.Duration) {
	g.mu.Lock()
	g.MaxAge = d
	g.mu.Unlock()
}
