package daemon

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/wg"
)

// TestRecreateWhy is the decision table: session age, the health verdict
// and the setting.
func TestRecreateWhy(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name  string
		fast  bool
		hsAgo time.Duration // 0: never a handshake
		state string
		want  string // "" for in place
	}{
		{name: "never a handshake", fast: true, state: StateConnecting, want: "no handshake yet"},
		{name: "never a handshake, setting off", fast: false, state: StateConnecting},
		{name: "session expired", fast: true, hsAgo: rejectAfter, state: StateDown, want: "its session expired"},
		{name: "session just alive", fast: true, hsAgo: rejectAfter - time.Second, state: StateConnecting},
		{name: "live session, judged down", fast: true, hsAgo: 30 * time.Second, state: StateDown, want: "judged down"},
		{name: "live session, judged down, setting off", fast: false, hsAgo: 30 * time.Second, state: StateDown},
		{name: "live session, connected (endpoint wiped by someone)", fast: true, hsAgo: 30 * time.Second, state: StateConnected},
		{name: "live session, waiting", fast: true, hsAgo: 10 * time.Second, state: StateWaiting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &peer{state: tt.state}
			if tt.hsAgo > 0 {
				p.wg.LastHandshake = now.Add(-tt.hsAgo)
			}
			got := recreateWhy(tt.fast, p, now)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("recreateWhy = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFastHandshakeFlow runs the pair with fast_handshake on: a new peer is
// re-created, status says so, the next device read does not take the reset
// counters for someone else's change, and a peer with a live session is
// only ever updated in place.
func TestFastHandshakeFlow(t *testing.T) {
	a, b, _, clk := newPair(t)
	var logs bytes.Buffer
	b.r.log = logfmt.New(&logs, nil)
	a.r.set.ic.FastHandshake, b.r.set.ic.FastHandshake = true, true
	ctx := context.Background()
	settle(ctx, a.r)
	settle(ctx, b.r)
	if b.wg.recreates != 1 || b.wg.sets != 1 {
		t.Fatalf("b: %d re-creations, %d sets; want the new peer re-created once", b.wg.recreates, b.wg.sets)
	}
	ps := b.r.d.board.snapshot().Interfaces[0].Peers[0]
	if !ps.Recreated.Equal(clk.t) || ps.RecreatedWhy != "no handshake yet" || ps.Endpoint.String() != "203.0.113.10:40001" {
		t.Fatalf("status after re-creation: %+v", ps)
	}
	// The device reads fresh counters; that is ours, not someone else's.
	clk.advance(watchEvery)
	settle(ctx, b.r)
	if strings.Contains(logs.String(), "re-created on the device") || strings.Contains(logs.String(), "someone else") {
		t.Fatalf("own re-creation logged as a foreign change:\n%s", logs.String())
	}

	// A live, connected session: a record with a new address does not
	// touch it (shouldSet), and an endpoint wiped by someone else is put
	// back in place, not by re-creation.
	b.wg.handshake("wgb", b.peerKey(a), clk.t)
	clk.advance(watchEvery)
	settle(ctx, b.r)
	if s := b.r.peers[b.peerKey(a)].state; s != StateConnected {
		t.Fatalf("state %s", s)
	}
	b.wg.mu.Lock()
	b.wg.devs["wgb"].Peers[0].Endpoint = netip.AddrPort{}
	b.wg.mu.Unlock()
	clk.advance(watchEvery)
	settle(ctx, b.r)
	if got := b.wg.peer("wgb", b.peerKey(a)); got.Endpoint.String() != "203.0.113.10:40001" || b.wg.recreates != 1 {
		t.Fatalf("wiped endpoint: now %v after %d re-creations; want it back in place", got.Endpoint, b.wg.recreates)
	}

	// Once the session has expired, a repair re-creates again.
	clk.advance(rejectAfter)
	b.r.peers[b.peerKey(a)].nextPoll = clk.t
	b.wg.mu.Lock()
	b.wg.devs["wgb"].Peers[0].Endpoint = netip.MustParseAddrPort("198.51.100.77:9") // stale, from elsewhere
	b.wg.mu.Unlock()
	settle(ctx, b.r)
	if b.wg.recreates != 2 || !strings.Contains(b.r.peers[b.peerKey(a)].recreatedWhy, "session expired") {
		t.Fatalf("after expiry: %d re-creations, why %q", b.wg.recreates, b.r.peers[b.peerKey(a)].recreatedWhy)
	}
	mark := logs.Len()
	clk.advance(watchEvery)
	settle(ctx, b.r)
	if after := logs.String()[mark:]; strings.Contains(after, "re-created on the device") || strings.Contains(after, "someone else") {
		t.Fatalf("own re-creation of a peer that had a handshake logged as a foreign change:\n%s", after)
	}
}

// TestFastHandshakeOff: with the setting off the peer is only updated.
func TestFastHandshakeOff(t *testing.T) {
	a, b, _, _ := newPair(t)
	ctx := context.Background()
	settle(ctx, a.r)
	settle(ctx, b.r)
	if b.wg.recreates != 0 || b.wg.sets != 1 {
		t.Fatalf("%d re-creations, %d sets; want one in-place set", b.wg.recreates, b.wg.sets)
	}
	if ps := b.r.d.board.snapshot().Interfaces[0].Peers[0]; !ps.Recreated.IsZero() || ps.RecreatedWhy != "" {
		t.Fatalf("status reports a re-creation: %+v", ps)
	}
}

var _ WireGuard = (*fakeWG)(nil)

// TestHandshakeBeatsRecreate: a handshake that completes between the
// device read and act leaves the peer as WireGuard has it (roamed to the
// peer's real port, which behind a symmetric NAT is not the published one):
// no re-creation, no endpoint written over it.
func TestHandshakeBeatsRecreate(t *testing.T) {
	a, b, _, clk := newPair(t)
	b.r.set.ic.FastHandshake = true
	ctx := context.Background()
	settle(ctx, a.r)
	settle(ctx, b.r) // b re-creates its peer with a's published address
	roamed := netip.MustParseAddrPort("203.0.113.10:11008")
	b.wg.mu.Lock()
	b.wg.devs["wgb"].Peers[0].Endpoint = roamed
	b.wg.devs["wgb"].Peers[0].LastHandshake = clk.t
	b.wg.mu.Unlock()
	p := b.r.peers[b.peerKey(a)]
	p.wg.Endpoint = netip.AddrPort{} // as b read it before the handshake
	sets := b.wg.sets
	b.r.act(p, clk.t)
	if got := b.wg.peer("wgb", b.peerKey(a)).Endpoint; got != roamed || b.wg.sets != sets {
		t.Fatalf("endpoint %v after %d more sets; want the roamed %v untouched", got, b.wg.sets-sets, roamed)
	}
	if p.lastErr != "" {
		t.Fatalf("lastErr %q", p.lastErr)
	}
}

// TestAnsweredInitiationKept: the peer's initiation reached us from a port
// that is not the published one (its NAT is symmetric) and WireGuard
// answered it, roaming there; the session shows no handshake until the
// peer's first data packet. Neither a re-creation racing that answer
// (Recreate sees the counter grow) nor the next rounds (shouldSet holds a
// fresh roam for roamHold) may drop it; after roamHold with no handshake
// the published address is tried again.
func TestAnsweredInitiationKept(t *testing.T) {
	a, b, _, clk := newPair(t)
	b.r.set.ic.FastHandshake = true
	ctx := context.Background()
	settle(ctx, a.r)
	settle(ctx, b.r)
	k := b.peerKey(a)
	published := b.wg.peer("wgb", k).Endpoint
	roamed := netip.MustParseAddrPort("203.0.113.10:11008")
	answer := func() {
		b.wg.mu.Lock()
		b.wg.devs["wgb"].Peers[0].Endpoint = roamed
		b.wg.devs["wgb"].Peers[0].RxBytes += 148
		b.wg.mu.Unlock()
	}

	// The answer lands between b's device read and its act.
	p := b.r.peers[k]
	p.wg.Endpoint = netip.AddrPort{}
	answer()
	sets := b.wg.sets
	b.r.act(p, clk.t)
	if got := b.wg.peer("wgb", k).Endpoint; got != roamed || b.wg.sets != sets {
		t.Fatalf("racing act: endpoint %v after %d more sets; want the roamed %v untouched", got, b.wg.sets-sets, roamed)
	}

	// The following rounds see the roam and keep it.
	for range 3 {
		clk.advance(roamHold / 4)
		settle(ctx, b.r)
		if got := b.wg.peer("wgb", k).Endpoint; got != roamed || b.wg.sets != sets {
			t.Fatalf("%v after the answer: endpoint %v, %d more sets; want the roamed %v kept", clk.t.Sub(p.roamed), got, b.wg.sets-sets, roamed)
		}
	}

	// No handshake came of it within roamHold: back to the published one.
	clk.advance(roamHold)
	p.nextPoll = clk.t
	settle(ctx, b.r)
	if got := b.wg.peer("wgb", k).Endpoint; got != published {
		t.Fatalf("%v after the answer with no handshake: endpoint %v, want the published %v", clk.t.Sub(p.roamed), got, published)
	}
}

// TestRecreateDeferredByHigherKey: when both sides would re-create, only
// the one with the lower public key does it at once; the other (a here,
// see newPair) sets in place, then re-creates after recreateDefer if no
// handshake came, and not at all if one did.
func TestRecreateDeferredByHigherKey(t *testing.T) {
	for _, handshake := range []bool{false, true} {
		a, b, _, clk := newPair(t)
		a.r.set.ic.FastHandshake, b.r.set.ic.FastHandshake = true, true
		ctx := context.Background()
		settle(ctx, a.r)
		settle(ctx, b.r) // b reads a's record
		k := a.peerKey(b)
		a.r.peers[k].nextPoll = clk.t
		settle(ctx, a.r) // a reads b's
		if b.wg.recreates != 1 {
			t.Fatalf("b (lower key): %d re-creations, want 1 at once", b.wg.recreates)
		}
		if a.wg.recreates != 0 || a.wg.sets != 1 || a.wg.peer("wga", k).Endpoint != netip.MustParseAddrPort("203.0.113.20:40002") {
			t.Fatalf("a (higher key): %d re-creations, %d sets, endpoint %v; want one set in place", a.wg.recreates, a.wg.sets, a.wg.peer("wga", k).Endpoint)
		}
		if handshake {
			a.wg.handshake("wga", k, clk.t)
			clk.advance(watchEvery)
			settle(ctx, a.r) // reads the handshake
		}
		clk.advance(recreateDefer)
		if d := settle(ctx, a.r); d <= 0 {
			t.Fatalf("next wake %v", d)
		}
		want := 1
		if handshake {
			want = 0
		}
		if a.wg.recreates != want {
			t.Fatalf("handshake=%v: a re-created %d times after recreateDefer, want %d", handshake, a.wg.recreates, want)
		}
		if want == 1 && !strings.Contains(a.r.peers[k].recreatedWhy, "no handshake yet (deferred)") {
			t.Fatalf("why %q", a.r.peers[k].recreatedWhy)
		}
	}
}

// TestWeakPeerSkipped: a device peer whose key is zero is left alone
// (never published to, never read), logged once; the others are served.
func TestWeakPeerSkipped(t *testing.T) {
	a, b, st, clk := newPair(t)
	var logs bytes.Buffer
	a.r.log = logfmt.New(&logs, nil)
	a.wg.mu.Lock()
	a.wg.devs["wga"].Peers = append(a.wg.devs["wga"].Peers, wg.Peer{})
	a.wg.mu.Unlock()
	ctx := context.Background()
	settle(ctx, a.r)
	clk.advance(watchEvery)
	settle(ctx, a.r)
	if _, ok := a.r.peers[wgtypes.Key{}]; ok || len(a.r.peers) != 1 {
		t.Fatalf("peers %d, zero key among them: %v", len(a.r.peers), ok)
	}
	if n := strings.Count(logs.String(), "zero or of small order"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logs.String())
	}
	if len(st.m) != 1 {
		t.Fatalf("store has %d records, want a's one for b", len(st.m))
	}
	_ = b
}
