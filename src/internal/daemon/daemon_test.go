package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/natcheck"
	"github.com/wgstun/wgstun/src/internal/store"
	"github.com/wgstun/wgstun/src/internal/wg"
	"github.com/wgstun/wgstun/src/record"
	"github.com/wgstun/wgstun/src/stun"
	"github.com/wgstun/wgstun/src/stun/stuntest"
)

// These tests drive one runner per side by calling step with a fake clock,
// against an in-memory WireGuard, an in-memory store and a packet path whose
// STUN "servers" answer with a fixed mapping. The real parts are exercised
// end to end in src/e2e.

type fakeWG struct {
	mu        sync.Mutex
	devs      map[string]*wg.Device
	sets      int // endpoint changes, in place or by re-creation
	recreates int
}

func (f *fakeWG) Device(name string) (wg.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devs[name]
	if !ok {
		return wg.Device{}, wg.ErrNoDevice
	}
	c := *d
	c.Peers = append([]wg.Peer(nil), d.Peers...)
	return c, nil
}

func (f *fakeWG) SetEndpoint(iface string, k wgtypes.Key, ep netip.AddrPort) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.devs[iface]
	for i := range d.Peers {
		if d.Peers[i].PublicKey == k {
			d.Peers[i].Endpoint = ep
			f.sets++
			return nil
		}
	}
	return errors.New("no such peer")
}

// Recreate acts as wg's: a peer whose handshake time and receive counter
// are still as seen comes back fresh (counters and handshake zero) with ep;
// otherwise nothing changes and wg.ErrLiveSession is returned.
func (f *fakeWG) Recreate(iface string, k wgtypes.Key, ep netip.AddrPort, seen wg.Peer) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.devs[iface]
	for i := range d.Peers {
		p := &d.Peers[i]
		if p.PublicKey != k {
			continue
		}
		if !p.LastHandshake.Equal(seen.LastHandshake) || p.RxBytes != seen.RxBytes {
			return false, wg.ErrLiveSession
		}
		f.sets++
		f.recreates++
		*p = wg.Peer{PublicKey: k, Endpoint: ep, Keepalive: p.Keepalive}
		return true, nil
	}
	return false, errors.New("no such peer")
}

func (f *fakeWG) peer(iface string, k wgtypes.Key) wg.Peer {
	d, _ := f.Device(iface)
	p, _ := d.Peer(k)
	return p
}

func (f *fakeWG) handshake(iface string, k wgtypes.Key, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.devs[iface].Peers {
		if p.PublicKey == k {
			f.devs[iface].Peers[i].LastHandshake = at
		}
	}
}

type memStore struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *memStore) Get(_ context.Context, k string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if !ok {
		return "", store.ErrNotFound
	}
	return v, nil
}

func (s *memStore) Set(_ context.Context, k, v string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = v
	return nil
}

// stunConn answers Binding requests to any server with mapping, and
// records every other datagram (the hole punches).
type stunConn struct {
	in      chan []byte
	from    chan netip.AddrPort
	mu      sync.Mutex
	mapping netip.AddrPort // guarded by mu: a test moves the NAT while classification runs
	punches []netip.AddrPort
	sent    [][]byte // what went to punches' addresses, in order
	closed  chan struct{}
	kick    chan struct{}
	once    sync.Once
}

func newStunConn(mapping string) *stunConn {
	return &stunConn{
		mapping: netip.MustParseAddrPort(mapping),
		in:      make(chan []byte, 16),
		from:    make(chan netip.AddrPort, 16),
		closed:  make(chan struct{}),
		kick:    make(chan struct{}, 1),
	}
}

func (c *stunConn) WriteTo(b []byte, dst netip.AddrPort) error {
	tx, ok := stuntest.RequestTxID(b)
	c.mu.Lock()
	mapping := c.mapping
	if !ok {
		c.punches = append(c.punches, dst)
		c.sent = append(c.sent, append([]byte(nil), b...))
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	c.in <- stuntest.BindingSuccess(tx, mapping)
	c.from <- dst
	return nil
}

// setMapping changes the mapping later answers carry (a NAT that moved).
func (c *stunConn) setMapping(m string) {
	c.mu.Lock()
	c.mapping = netip.MustParseAddrPort(m)
	c.mu.Unlock()
}

func (c *stunConn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	select {
	case p := <-c.in:
		return copy(b, p), <-c.from, nil
	case <-c.kick:
		return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
	case <-c.closed:
		return 0, netip.AddrPort{}, os.ErrClosed
	}
}

// SetReadDeadline honours only what stun.Client.Close uses: a deadline in
// the past interrupts a pending read.
func (c *stunConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() && t.Before(time.Now()) {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return nil
}
func (c *stunConn) Close() error { c.once.Do(func() { close(c.closed) }); return nil }

// side is one host of the pair under test.
type side struct {
	r    *runner
	wg   *fakeWG
	conn *stunConn
	priv wgtypes.Key
	name string
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newPair(t *testing.T) (a, b *side, st *memStore, clk *clock) {
	t.Helper()
	st = &memStore{m: map[string]string{}}
	clk = &clock{t: time.Unix(1_800_000_000, 0)}
	pa, _ := wgtypes.GeneratePrivateKey()
	pb, _ := wgtypes.GeneratePrivateKey()
	if pk, pl := pa.PublicKey(), pb.PublicKey(); bytes.Compare(pk[:], pl[:]) < 0 {
		pa, pb = pb, pa // b has the lower public key: b re-creates at once, a defers (act)
	}
	mk := func(name string, priv, peer wgtypes.Key, mapping string) *side {
		fw := &fakeWG{devs: map[string]*wg.Device{name: {
			Name: name, Index: 1, PrivateKey: priv, PublicKey: priv.PublicKey(), ListenPort: 51820,
			Peers: []wg.Peer{{PublicKey: peer.PublicKey()}},
		}}}
		conn := newStunConn(mapping)
		cfg := &config.Config{STUN: []string{"198.51.100.1:3478"}, Socket: "/nonexistent"}
		d := New(cfg, "test", logfmt.New(io.Discard, nil), Deps{
			WG:       fw,
			OpenConn: func(uint16, bool, uint32, config.Interface) (stun.Conn, error) { return conn, nil },
			Now:      clk.now,
			Rand:     rand.Reader,
		})
		ic := config.Interface{Name: name, Store: "s", Family: config.IPv4, Refresh: 5 * time.Minute, PingInterval: time.Second}
		r := newRunner(d, settings{ic: ic, store: st, stun: cfg.STUN})
		t.Cleanup(r.closePaths)
		return &side{r: r, wg: fw, conn: conn, priv: priv, name: name}
	}
	a = mk("wga", pa, pb, "203.0.113.10:40001")
	b = mk("wgb", pb, pa, "203.0.113.20:40002")
	return a, b, st, clk
}

func (s *side) peerKey(o *side) wgtypes.Key { return o.priv.PublicKey() }

// settle steps the runner and applies the results of the jobs it starts,
// until a step starts none: one deterministic turn of the loop.
func settle(ctx context.Context, r *runner) time.Duration {
	for {
		wait := r.step(ctx)
		if r.jobs.inflight == 0 && !r.disc.running {
			return wait
		}
		for r.jobs.inflight > 0 || r.disc.running {
			r.apply(<-r.results)
		}
	}
}

func TestPairFindsEachOther(t *testing.T) {
	a, b, _, clk := newPair(t)
	ctx := context.Background()
	settle(ctx, a.r) // publishes, finds no record of b yet
	if p := a.wg.peer("wga", a.peerKey(b)); p.Endpoint.IsValid() {
		t.Fatalf("a set an endpoint before b published: %v", p.Endpoint)
	}
	settle(ctx, b.r) // publishes, finds a's record, sets it
	if got := b.wg.peer("wgb", b.peerKey(a)).Endpoint; got != netip.MustParseAddrPort("203.0.113.10:40001") {
		t.Fatalf("b's endpoint for a = %v", got)
	}
	if len(b.conn.punches) != 1 || b.conn.punches[0].String() != "203.0.113.10:40001" {
		t.Fatalf("b should punch towards a once on setting: %v", b.conn.punches)
	}
	wait := settle(ctx, a.r) // a's poll is not due yet
	if wait <= 0 || wait > pollFirst {
		t.Fatalf("a's next wake in %v, want within the first poll interval", wait)
	}
	clk.advance(wait)
	settle(ctx, a.r)
	if got := a.wg.peer("wga", a.peerKey(b)).Endpoint; got != netip.MustParseAddrPort("203.0.113.20:40002") {
		t.Fatalf("a's endpoint for b = %v", got)
	}
	st := a.r.d.board.snapshot()
	if len(st.Interfaces) != 1 || st.Interfaces[0].IPv4.String() != "203.0.113.10:40001" ||
		st.Interfaces[0].Peers[0].State != StateConnecting {
		t.Fatalf("status: %+v", st)
	}

	// A handshake makes the peer connected and slows polling to the refresh.
	a.wg.handshake("wga", a.peerKey(b), clk.t)
	clk.advance(5 * time.Second)
	wait = settle(ctx, a.r)
	if s := a.r.peers[a.peerKey(b)].state; s != StateConnected {
		t.Fatalf("state %s", s)
	}
	if wait != watchEvery {
		t.Fatalf("next wake in %v, want the device watch (%v)", wait, watchEvery)
	}
	if next := a.r.peers[a.peerKey(b)].nextPoll.Sub(clk.t); next < time.Minute {
		t.Fatalf("connected peer polled again in %v", next)
	}
}

func TestGarbledRecordKeepsEndpoint(t *testing.T) {
	a, b, st, clk := newPair(t)
	ctx := context.Background()
	settle(ctx, a.r)
	settle(ctx, b.r)
	good := b.wg.peer("wgb", b.peerKey(a)).Endpoint
	if !good.IsValid() {
		t.Fatal("no endpoint set")
	}
	key := record.Key(a.priv.PublicKey(), b.priv.PublicKey())
	for _, bad := range []string{"zz-not-hex", "00", strings.Repeat("ab", 80)} {
		st.Set(ctx, key, bad)
		clk.advance(10 * time.Second)
		settle(ctx, b.r)
		p := b.r.peers[b.peerKey(a)]
		if got := b.wg.peer("wgb", b.peerKey(a)).Endpoint; got != good {
			t.Fatalf("%q replaced the endpoint: %v", bad, got)
		}
		if !strings.Contains(p.lastErr, "record does not open") {
			t.Fatalf("%q: lastErr %q", bad, p.lastErr)
		}
	}
}

func TestOlderRecordRefused(t *testing.T) {
	a, b, st, clk := newPair(t)
	ctx := context.Background()
	settle(ctx, a.r)
	key := record.Key(a.priv.PublicKey(), b.priv.PublicKey())
	old, _ := st.Get(ctx, key)      // sealed at clk.t
	clk.advance(a.r.set.ic.Refresh) // the refresh republishes a newer record
	settle(ctx, a.r)
	settle(ctx, b.r)
	if !b.wg.peer("wgb", b.peerKey(a)).Endpoint.IsValid() {
		t.Fatal("no endpoint from the newer record")
	}
	// Replay the older record with another address would be needed to move
	// the endpoint; a replay of the old one must be refused outright.
	st.Set(ctx, key, old)
	clk.advance(10 * time.Second)
	settle(ctx, b.r)
	if p := b.r.peers[b.peerKey(a)]; !strings.Contains(p.lastErr, "record refused") {
		t.Fatalf("replayed record: lastErr %q", p.lastErr)
	}
}

func TestRecentHandshakeNotOverridden(t *testing.T) {
	a, b, _, clk := newPair(t)
	ctx := context.Background()
	roamed := netip.MustParseAddrPort("203.0.113.10:61000") // where the peer's packets really come from
	b.wg.mu.Lock()
	b.wg.devs["wgb"].Peers[0].Endpoint = roamed
	b.wg.devs["wgb"].Peers[0].LastHandshake = clk.t.Add(-30 * time.Second)
	b.wg.mu.Unlock()
	settle(ctx, a.r)
	settle(ctx, b.r)
	if got := b.wg.peer("wgb", b.peerKey(a)).Endpoint; got != roamed {
		t.Fatalf("endpoint of a live tunnel replaced: %v", got)
	}
	if b.r.peers[b.peerKey(a)].state != StateConnected {
		t.Fatalf("state %s", b.r.peers[b.peerKey(a)].state)
	}
	// Once the handshake is stale, the record's address is used.
	clk.advance(rejectAfter)
	b.r.peers[b.peerKey(a)].nextPoll = clk.t
	settle(ctx, b.r)
	if got := b.wg.peer("wgb", b.peerKey(a)).Endpoint; got.String() != "203.0.113.10:40001" {
		t.Fatalf("stale tunnel not repaired: %v", got)
	}
}

func TestMissingDeviceWaits(t *testing.T) {
	a, _, _, _ := newPair(t)
	a.r.set.ic.Name = "wgnone"
	if wait := settle(context.Background(), a.r); wait != deviceRetry {
		t.Fatalf("wait %v", wait)
	}
	st := a.r.d.board.snapshot()
	if st.Interfaces[0].State != "waiting" || !strings.Contains(st.Interfaces[0].Reason, "does not exist") {
		t.Fatalf("status %+v", st.Interfaces[0])
	}
}

func TestImpossibleSaysWhy(t *testing.T) {
	tests := []struct {
		name, ours, theirs, want string
	}{
		{"both symmetric", "symmetric", "symmetric", "both NATs are symmetric"},
		{"ours symmetric", "symmetric", "cone", "this side's NAT is symmetric"},
		{"theirs symmetric", "cone", "symmetric", "the peer's NAT is symmetric"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &runner{disc: discoverState{class: natcheck.ParseHint(tt.ours)}}
			now := time.Unix(1_800_000_000, 0)
			p := &peer{cand: netip.MustParseAddrPort("203.0.113.9:1"), setAt: now.Add(-impossibleWait), rec: record.Endpoints{NAT: tt.theirs}}
			state, reason := r.connecting(p, now)
			if state != StateImpossible || !strings.Contains(reason, tt.want) {
				t.Fatalf("%s: %s", state, reason)
			}
			state, _ = r.connecting(p, now.Add(-time.Second))
			if state != StateConnecting {
				t.Fatalf("judged before the grace time: %s", state)
			}
		})
	}
}

// TestDiscoveryErrorText pins the sentence status shows when every STUN
// server fails: each failure, in order, on one line.
func TestDiscoveryErrorText(t *testing.T) {
	a, _, _, _ := newPair(t)
	errNoHost := errors.New("no such host")
	a.r.d.deps.Resolve = func(_ context.Context, hostport string, _ bool) ([]netip.AddrPort, error) {
		return nil, errNoHost
	}
	a.r.set.stun = []string{"stun1.example:3478", "stun2.example:3478"}
	settle(context.Background(), a.r)
	want := "STUN failed: resolve stun1.example:3478: no such host; resolve stun2.example:3478: no such host; no ipv4 STUN server address"
	if got := a.r.d.board.snapshot().Interfaces[0].LastError; got != want {
		t.Fatalf("last_error %q, want %q", got, want)
	}
}

// TestDiscoveryErrorIs checks that a family's failure keeps the errors it
// is made of.
func TestDiscoveryErrorIs(t *testing.T) {
	a, _, _, _ := newPair(t)
	errNoHost := errors.New("no such host")
	a.r.d.deps.Resolve = func(context.Context, string, bool) ([]netip.AddrPort, error) { return nil, errNoHost }
	_, _, err := a.r.discoverFamily(context.Background(), nil, false, []string{"stun1.example:3478"}, netip.AddrPort{})
	if !errors.Is(err, errNoHost) {
		t.Fatalf("%v does not match %v", err, errNoHost)
	}
	if got, want := oneLine(errors.Join(err, errors.New("ipv6 down"))), "resolve stun1.example:3478: no such host; no ipv4 STUN server address; ipv6 down"; got != want {
		t.Fatalf("oneLine %q, want %q", got, want)
	}
}
