package daemon

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/ping"
	"github.com/wgstun/wgstun/src/internal/store"
	"github.com/wgstun/wgstun/src/internal/wg"
	"github.com/wgstun/wgstun/src/record"
	"github.com/wgstun/wgstun/src/stun"
)

// fakePinger answers with whatever the test put in results.
type fakePinger struct {
	mu      sync.Mutex
	results map[netip.Addr]ping.Result
	targets []netip.Addr
	reopens int
	changed chan struct{}
}

func newFakePinger() *fakePinger {
	return &fakePinger{results: map[netip.Addr]ping.Result{}, changed: make(chan struct{}, 1)}
}

func (f *fakePinger) SetTargets(ts []netip.Addr) {
	f.mu.Lock()
	f.targets = ts
	f.mu.Unlock()
}
func (f *fakePinger) Run(ctx context.Context) { <-ctx.Done() }
func (f *fakePinger) Reopen() {
	f.mu.Lock()
	f.reopens++
	f.mu.Unlock()
}
func (f *fakePinger) Result(t netip.Addr) ping.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.results[t]
}
func (f *fakePinger) Changed() <-chan struct{} { return f.changed }
func (f *fakePinger) set(t netip.Addr, r ping.Result) {
	f.mu.Lock()
	f.results[t] = r
	f.mu.Unlock()
}

// mutate changes the peer of iface under the fake's lock.
func (f *fakeWG) mutate(iface string, fn func(d *wg.Device, p *wg.Peer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.devs[iface]
	fn(d, &d.Peers[0])
}

// connectedPair brings both sides to a set endpoint and a fresh handshake.
func connectedPair(t *testing.T) (a, b *side, st *memStore, clk *clock) {
	t.Helper()
	a, b, st, clk = newPair(t)
	ctx := context.Background()
	settle(ctx, a.r)
	settle(ctx, b.r)
	clk.advance(pollFirst)
	settle(ctx, a.r)
	for _, s := range []*side{a, b} {
		s.wg.mutate(s.name, func(_ *wg.Device, p *wg.Peer) {
			p.LastHandshake, p.RxBytes, p.Keepalive = clk.t, 1000, 25*time.Second
		})
	}
	clk.advance(watchEvery)
	settle(ctx, a.r)
	settle(ctx, b.r)
	for _, s := range []*side{a, b} {
		if p := s.r.peers[s.wg.devs[s.name].Peers[0].PublicKey]; p.state != StateConnected {
			t.Fatalf("%s: state %s (%s)", s.name, p.state, p.reason)
		}
	}
	return a, b, st, clk
}

func TestEndpointWipedIsSetAgain(t *testing.T) {
	tests := []struct {
		name  string
		wipe  func(p *wg.Peer)
		reset bool
	}{
		{"wrong endpoint, no packets", func(p *wg.Peer) { p.Endpoint = netip.MustParseAddrPort("192.0.2.1:9") }, false},
		{"endpoint removed", func(p *wg.Peer) { p.Endpoint = netip.AddrPort{} }, false},
		{"peer re-created (wg setconf)", func(p *wg.Peer) {
			p.Endpoint, p.LastHandshake, p.RxBytes, p.TxBytes = netip.AddrPort{}, time.Time{}, 0, 0
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b, _, clk := connectedPair(t)
			good := b.wg.peer("wgb", b.peerKey(a)).Endpoint
			b.wg.mutate("wgb", func(_ *wg.Device, p *wg.Peer) { tt.wipe(p) })
			clk.advance(watchEvery)
			settle(context.Background(), b.r)
			if got := b.wg.peer("wgb", b.peerKey(a)).Endpoint; got != good {
				t.Fatalf("endpoint %v after the wipe, want %v back", got, good)
			}
		})
	}
}

func TestRoamingIsLeftAlone(t *testing.T) {
	a, b, _, clk := connectedPair(t)
	roamed := netip.MustParseAddrPort("203.0.113.10:61000")
	b.wg.mutate("wgb", func(_ *wg.Device, p *wg.Peer) {
		p.Endpoint = roamed
		p.RxBytes += 148 // the packet WireGuard roamed on
	})
	clk.advance(watchEvery)
	settle(context.Background(), b.r)
	if got := b.wg.peer("wgb", b.peerKey(a)).Endpoint; got != roamed {
		t.Fatalf("roamed endpoint of a live tunnel replaced by %v", got)
	}
	st := b.r.d.board.snapshot()
	if from := st.Interfaces[0].Peers[0].EndpointFrom; !strings.Contains(from, "roaming") {
		t.Fatalf("endpoint_from %q", from)
	}
}

// withPing gives side s a ping watch of target.
func withPing(s *side, target string) (*fakePinger, netip.Addr) {
	fp := newFakePinger()
	addr := netip.MustParseAddr(target)
	s.r.ping.pinger = fp
	s.r.set.ic.Ping = map[wgtypes.Key]netip.Addr{s.wg.devs[s.name].Peers[0].PublicKey: addr}
	for _, p := range s.r.peers {
		p.ping = addr
	}
	return fp, addr
}

func TestPingLossRepairs(t *testing.T) {
	a, b, st, clk := connectedPair(t)
	ctx := context.Background()
	fp, target := withPing(b, "10.77.0.1")
	fp.set(target, ping.Result{Sent: 10, Received: 10, LastReply: clk.t, RTT: time.Millisecond})
	clk.advance(time.Second)
	b.r.full = true // what the pinger's Changed does in the loop
	settle(ctx, b.r)
	pb := b.r.peers[b.peerKey(a)]
	if pb.state != StateConnected || !strings.Contains(pb.reason, "ping 10.77.0.1 answers") {
		t.Fatalf("state %s (%s)", pb.state, pb.reason)
	}

	// a's NAT moves; a rediscovers and republishes (its own repair).
	a.conn.setMapping("203.0.113.11:40001")
	a.r.disc.next = clk.t
	clk.advance(time.Second)
	settle(ctx, a.r)
	if len(st.m) == 0 {
		t.Fatal("nothing published")
	}

	// b's pings stop coming back while the handshake is still young.
	fp.set(target, ping.Result{Sent: 10, Received: 7, Misses: 3, LastReply: clk.t.Add(-3 * time.Second)})
	clk.advance(watchEvery)
	b.conn.mu.Lock()
	sentBefore := len(b.conn.punches)
	b.conn.mu.Unlock()
	settle(ctx, b.r)
	if pb.state != StateDown || !strings.Contains(pb.reason, "no ping reply from 10.77.0.1") {
		t.Fatalf("state %s (%s)", pb.state, pb.reason)
	}
	if got := b.wg.peer("wgb", b.peerKey(a)).Endpoint; got.String() != "203.0.113.11:40001" {
		t.Fatalf("endpoint %v, want a's new mapping", got)
	}
	if b.r.disc.repairBackoff != repairFirst || b.r.disc.next.After(clk.t) && b.r.disc.at.Before(clk.t) {
		t.Fatalf("repair did not rediscover: backoff %v", b.r.disc.repairBackoff)
	}
	b.conn.mu.Lock()
	punched := len(b.conn.punches) > sentBefore
	b.conn.mu.Unlock()
	if !punched {
		t.Fatal("no hole punch towards the new endpoint")
	}
	// While down, the record is read again soon, then less often.
	var gaps []time.Duration
	for range 4 {
		gaps = append(gaps, pb.nextPoll.Sub(clk.t))
		clk.advance(pb.nextPoll.Sub(clk.t))
		settle(ctx, b.r)
	}
	if want := []time.Duration{pollFirst, 2 * pollFirst, 4 * pollFirst, 8 * pollFirst}; !slices.Equal(gaps, want) {
		t.Fatalf("repair polls after %v, want %v", gaps, want)
	}
}

func TestPingSilentButPacketsArrive(t *testing.T) {
	a, b, _, clk := connectedPair(t)
	fp, target := withPing(b, "10.77.0.1")
	lastReply := clk.t
	fp.set(target, ping.Result{Sent: 10, Misses: 10, LastReply: lastReply})
	// Bytes that came just after the last reply may be the replies
	// themselves or packets in flight when the path broke.
	b.wg.mutate("wgb", func(_ *wg.Device, p *wg.Peer) { p.RxBytes += 32 })
	b.r.peers[b.peerKey(a)].lastRead = lastReply.Add(time.Second)
	clk.advance(watchEvery)
	settle(context.Background(), b.r)
	pb := b.r.peers[b.peerKey(a)]
	if pb.state != StateDown {
		t.Fatalf("replies counted as other traffic: state %s (%s)", pb.state, pb.reason)
	}
	// Bytes between two reads well after the last reply are other traffic.
	clk.advance(watchEvery)
	settle(context.Background(), b.r)
	b.wg.mutate("wgb", func(_ *wg.Device, p *wg.Peer) { p.RxBytes += 32 })
	clk.advance(watchEvery)
	settle(context.Background(), b.r)
	if pb.state != StateConnected || !strings.Contains(pb.reason, "does not answer ping, but packets from the peer arrive") {
		t.Fatalf("state %s (%s)", pb.state, pb.reason)
	}
}

func TestHandshakeWatch(t *testing.T) {
	tests := []struct {
		name      string
		keepalive time.Duration
		age       time.Duration
		rxAgo     time.Duration
		alive     bool
	}{
		{"keepalive, young", 25 * time.Second, 100 * time.Second, time.Hour, true},
		{"keepalive, past rekey", 25 * time.Second, rekeyLimit, time.Hour, false},
		{"keepalive, past rekey but packets arrive", 25 * time.Second, rekeyLimit, time.Second, true},
		{"no keepalive, idle under reject", 0, 170 * time.Second, time.Hour, true},
		{"no keepalive, past reject", 0, rejectAfter, time.Second, false},
		{"never", 25 * time.Second, -1, time.Second, false},
	}
	now := time.Unix(1_800_000_000, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &runner{}
			p := &peer{lastRx: now.Add(-tt.rxAgo)}
			p.wg.Keepalive = tt.keepalive
			if tt.age >= 0 {
				p.wg.LastHandshake = now.Add(-tt.age)
			}
			if ok, why := r.alive(p, now); ok != tt.alive {
				t.Fatalf("alive = %v (%s)", ok, why)
			}
		})
	}
}

func TestRecreatedInterfaceReattaches(t *testing.T) {
	a, b, st, clk := connectedPair(t)
	ctx := context.Background()
	opens := 0
	conn := b.conn
	b.r.d.deps.OpenConn = func(port uint16, _ bool, _ uint32, _ config.Interface) (stun.Conn, error) {
		opens++
		return conn, nil
	}
	fp, _ := withPing(b, "10.77.0.1")
	// Recreated with a new index, a new port and a rotated key; the peer
	// comes back without endpoint or handshake.
	newPriv, _ := wgtypes.GeneratePrivateKey()
	b.wg.mutate("wgb", func(d *wg.Device, p *wg.Peer) {
		d.Index, d.ListenPort = 7, 51821
		d.PrivateKey, d.PublicKey = newPriv, newPriv.PublicKey()
		*p = wg.Peer{PublicKey: p.PublicKey}
	})
	clk.advance(watchEvery)
	settle(ctx, b.r)
	if opens != 1 || b.r.paths.port != 51821 {
		t.Fatalf("packet path reopened %d times, port %d", opens, b.r.paths.port)
	}
	if fp.reopens != 1 {
		t.Fatalf("ping watch reopened %d times", fp.reopens)
	}
	if got := b.wg.peer("wgb", b.peerKey(a)).Endpoint; !got.IsValid() {
		t.Fatal("endpoint not set again on the recreated interface")
	}
	// Published again under the new key.
	if _, err := st.Get(ctx, record.Key(newPriv.PublicKey(), a.priv.PublicKey())); err != nil {
		t.Fatalf("no record under the new key: %v", err)
	}
}

// hangStore blocks every call until its context ends.
type hangStore struct{ calls chan struct{} }

func (h *hangStore) Get(ctx context.Context, _ string) (string, error) {
	h.calls <- struct{}{}
	<-ctx.Done()
	return "", ctx.Err()
}
func (h *hangStore) Set(ctx context.Context, _, _ string) error {
	h.calls <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// TestHungStoreDoesNotStopTheWatch runs the real loop on the real clock
// with a store that never answers: a wiped endpoint is still put back from
// the record already read.
func TestHungStoreDoesNotStopTheWatch(t *testing.T) {
	a, b, _, _ := connectedPair(t)
	r := b.r
	r.d.deps.Now = time.Now
	hs := &hangStore{calls: make(chan struct{}, 64)}
	r.set.store = hs
	now := time.Now()
	r.nextRead, r.disc.next = now, now.Add(time.Hour)
	for _, p := range r.peers {
		p.nextPoll, p.nextPub, p.published = now, now, time.Time{}
		p.wg.LastHandshake, p.lastRx = now, now
	}
	good := b.wg.peer("wgb", b.peerKey(a)).Endpoint
	b.wg.mutate("wgb", func(_ *wg.Device, p *wg.Peer) {
		p.LastHandshake = now
		p.Endpoint = netip.MustParseAddrPort("192.0.2.1:9")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case <-hs.calls:
	case <-time.After(5 * time.Second):
		t.Fatal("the store was never called")
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.wg.peer("wgb", b.peerKey(a)).Endpoint != good {
		if time.Now().After(deadline) {
			t.Fatalf("wiped endpoint not restored while the store hangs: %v", b.wg.peer("wgb", b.peerKey(a)).Endpoint)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failStore fails every call.
type failStore struct{}

func (failStore) Get(context.Context, string) (string, error) {
	return "", errors.New("connection refused")
}
func (failStore) Set(context.Context, string, string) error { return errors.New("connection refused") }

func TestStoreDownBacksOffAndLogsOnce(t *testing.T) {
	a, b, _, clk := connectedPair(t)
	var logs bytes.Buffer
	b.r.log = logfmt.New(&logs, nil)
	b.r.set.store = failStore{}
	b.r.beginCycle(clk.t, true)
	ctx := context.Background()
	var gaps []time.Duration
	for range 6 {
		settle(ctx, b.r)
		p := b.r.peers[b.peerKey(a)]
		gaps = append(gaps, p.nextPub.Sub(clk.t))
		clk.advance(p.nextPub.Sub(clk.t))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second}
	for i := range want {
		if gaps[i] != want[i] {
			t.Fatalf("publish retries after %v, want %v", gaps, want)
		}
	}
	if n := strings.Count(logs.String(), "store failing"); n != 1 {
		t.Fatalf("store failure logged %d times:\n%s", n, logs.String())
	}
	if got := b.wg.peer("wgb", b.peerKey(a)).Endpoint; !got.IsValid() {
		t.Fatal("the store outage cleared the endpoint")
	}
}

// TestReload runs a daemon and reloads it: a configuration whose store
// cannot start is refused and the running one stays; a good one reaches
// the runner without restarting it.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	priv, _ := wgtypes.GeneratePrivateKey()
	peerKey, _ := wgtypes.GeneratePrivateKey()
	fw := &fakeWG{devs: map[string]*wg.Device{"wgr": {
		Name: "wgr", Index: 3, PrivateKey: priv, PublicKey: priv.PublicKey(), ListenPort: 51820,
		Peers: []wg.Peer{{PublicKey: peerKey.PublicKey()}},
	}}}
	conn := newStunConn("203.0.113.10:40001")
	mk := func(storeType, ping string) []byte {
		s := "[daemon]\nsocket = \"" + filepath.Join(dir, "s.sock") + "\"\nstate_dir = \"" + dir + "/state\"\n[stun]\nservers = [\"198.51.100.1:3478\"]\n" +
			"[store.s]\ntype = \"" + storeType + "\"\npath = \"" + dir + "\"\n" +
			"[[interface]]\nname = \"wgr\"\nstore = \"s\"\n"
		if ping != "" {
			s += "[[interface.peer]]\npublic_key = \"" + peerKey.PublicKey().String() + "\"\nping = \"" + ping + "\"\n"
		}
		return []byte(s)
	}
	cfgPath := filepath.Join(dir, "wgstun.toml")
	os.WriteFile(cfgPath, mk("file", ""), 0o600)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	failNext := false
	pingers := 0
	var limitMu sync.Mutex
	var limits []int64
	d := New(cfg, "test", logfmt.New(&logs, nil), Deps{
		Memory:   func(n int64, gc int) { limitMu.Lock(); limits = append(limits, n, int64(gc)); limitMu.Unlock() },
		WG:       fw,
		OpenConn: func(uint16, bool, uint32, config.Interface) (stun.Conn, error) { return conn, nil },
		NewStore: func(s config.Store, _ *logfmt.Logger) (store.Store, error) {
			if failNext {
				return nil, errors.New("cannot open")
			}
			return store.NewFile(s.Path)
		},
		NewPinger: func(string, time.Duration) (Pinger, error) { pingers++; return newFakePinger(), nil },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	hup := make(chan os.Signal, 1)
	go d.WatchConfig(ctx, cfgPath, hup)
	waitFor(t, "first status", func() bool {
		st := d.board.snapshot()
		return len(st.Interfaces) == 1 && st.Interfaces[0].State == "up"
	})
	r := d.runners["wgr"].r

	// A broken file is rejected with its line; the runner keeps going.
	os.WriteFile(cfgPath, append(mk("file", ""), []byte("[[interface]\n")...), 0o600)
	hup <- os.Interrupt // the value does not matter
	waitFor(t, "rejection logged", func() bool { return strings.Contains(logs.String(), "wgstun.toml:") })
	if !strings.Contains(logs.String(), "keeping the running configuration") {
		t.Fatalf("log: %s", logs.String())
	}

	// A store that cannot start: refused as a whole.
	failNext = true
	cfg2, _ := config.Parse(cfgPath, mk("file", "10.77.0.2"))
	cfg2.Stores["s"] = config.Store{Name: "s", Type: "file", Path: dir + "/other"}
	if err := d.Reload(cfg2); err == nil {
		t.Fatal("a store that cannot start was accepted")
	}
	failNext = false

	// A good edit, noticed without a signal, adds a ping watch to the
	// same runner.
	os.WriteFile(cfgPath, mk("file", "10.77.0.2"), 0o600)
	waitFor(t, "ping watch after reload", func() bool {
		st := d.board.snapshot()
		return len(st.Interfaces) == 1 && len(st.Interfaces[0].Peers) == 1 && st.Interfaces[0].Peers[0].Ping == "10.77.0.2"
	})
	if d.runners["wgr"].r != r || pingers != 1 {
		t.Fatalf("runner replaced (%v) or pingers %d", d.runners["wgr"].r != r, pingers)
	}

	// daemon.memory_limit and gc_percent: applied at start, again when a
	// reload changes one, not when a reload leaves them.
	cfg3, err := config.Parse(cfgPath, append([]byte("[log]\nlevel = \"info\"\n"), mk("file", "10.77.0.2")...))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(cfg3); err != nil {
		t.Fatal(err)
	}
	cfg4, _ := config.Parse(cfgPath, []byte(strings.Replace(string(mk("file", "10.77.0.2")), "[daemon]\n", "[daemon]\nmemory_limit = \"6MiB\"\n", 1)))
	if err := d.Reload(cfg4); err != nil {
		t.Fatal(err)
	}
	cfg5, _ := config.Parse(cfgPath, []byte(strings.Replace(string(mk("file", "10.77.0.2")), "[daemon]\n", "[daemon]\nmemory_limit = \"6MiB\"\ngc_percent = 50\n", 1)))
	if err := d.Reload(cfg5); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(cfg5); err != nil { // the same again: nothing to apply
		t.Fatal(err)
	}
	limitMu.Lock()
	defer limitMu.Unlock()
	if want := []int64{config.DefaultMemoryLimit, config.DefaultGCPercent, 6 << 20, config.DefaultGCPercent, 6 << 20, 50}; !slices.Equal(limits, want) {
		t.Fatalf("memory settings applied (limit, gc_percent pairs) %v, want %v", limits, want)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConfiguredPeerMissing(t *testing.T) {
	a, b, _, clk := newPair(t)
	ctx := context.Background()
	ghost, _ := wgtypes.GeneratePrivateKey()
	a.r.set.ic.Peers = []wgtypes.Key{a.peerKey(b), ghost.PublicKey()}
	settle(ctx, a.r)
	st := a.r.d.board.snapshot()
	if m := st.Interfaces[0].Missing; len(m) != 1 || m[0] != ghost.PublicKey().String() {
		t.Fatalf("missing peers %v", m)
	}
	if len(a.r.peers) != 1 {
		t.Fatalf("managing %d peers", len(a.r.peers))
	}
	a.wg.mutate("wga", func(d *wg.Device, _ *wg.Peer) {
		d.Peers = append(d.Peers, wg.Peer{PublicKey: ghost.PublicKey()})
	})
	clk.advance(watchEvery)
	settle(ctx, a.r)
	st = a.r.d.board.snapshot()
	if m := st.Interfaces[0].Missing; len(m) != 0 || len(a.r.peers) != 2 {
		t.Fatalf("peer that appeared not adopted: missing %v, managing %d", m, len(a.r.peers))
	}
}
