package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/config"
	"github.com/wgstun/wgstun/src/record"
	"github.com/wgstun/wgstun/src/store"
	"github.com/wgstun/wgstun/src/stun"
	"github.com/wgstun/wgstun/src/wg"
)

// Timing of the loop. Polls start fast so that two daemons started together
// find each other's records within a second, and slow down to the refresh
// interval once the tunnel is up.
const (
	pollFirst      = 250 * time.Millisecond
	pollCap        = 5 * time.Second  // while a peer is new or connecting
	pollSlowCap    = 60 * time.Second // once connecting has lasted slowAfter
	slowAfter      = time.Minute
	deviceRetry    = 2 * time.Second
	discoverFirst  = time.Second
	impossibleWait = 20 * time.Second // no handshake this long with a symmetric NAT in the pair
	storeTimeout   = 30 * time.Second
	watchUnsettled = 2 * time.Second // device re-read while a peer is not connected
)

// path is one address family's packet path on WireGuard's port.
type path struct {
	conn   stun.Conn
	client *stun.Client
}

func (p *path) close() {
	p.client.Close()
	p.conn.Close()
}

// runner drives one WireGuard interface.
type runner struct {
	d     *Daemon
	cfg   config.Interface
	store store.Store
	log   *slog.Logger

	dev   wg.Device
	paths [2]*path // IPv4, IPv6
	port  uint16
	mark  uint32
	state string // last interface state logged

	mapped          [2]netip.AddrPort
	server          [2]netip.AddrPort
	nat             string // cone, symmetric, "" unknown
	discoveredAt    time.Time
	nextDiscover    time.Time
	discoverBackoff time.Duration
	discoverErr     string

	peers      map[wgtypes.Key]*peer
	notOnDev   map[wgtypes.Key]bool // configured peers missing on the device, logged once
	lastReason string
}

// peer is what the runner knows about one managed peer.
type peer struct {
	key wgtypes.Key

	nextPoll    time.Time
	pollBackoff time.Duration
	published   time.Time
	pubFailed   bool

	rec       record.Endpoints
	haveRec   bool
	cand      netip.AddrPort // endpoint chosen from the record
	setAt     time.Time
	since     time.Time // start of the current not-connected stretch
	wg        wg.Peer
	state     string
	reason    string
	lastErr   string
	loggedErr string
}

func newRunner(d *Daemon, ic config.Interface, s store.Store) *runner {
	return &runner{
		d:        d,
		cfg:      ic,
		store:    s,
		log:      d.log.With("iface", ic.Name),
		peers:    map[wgtypes.Key]*peer{},
		notOnDev: map[wgtypes.Key]bool{},
	}
}

func (r *runner) now() time.Time { return r.d.deps.Now() }

func (r *runner) run(ctx context.Context) {
	defer r.closePaths()
	defer r.d.board.remove(r.cfg.Name)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(r.step(ctx))
	}
}

// step does whatever is due and returns how long to sleep.
func (r *runner) step(ctx context.Context) time.Duration {
	now := r.now()
	dev, err := r.d.deps.WG.Device(r.cfg.Name)
	switch {
	case errors.Is(err, wg.ErrNoDevice):
		return r.wait("the WireGuard interface does not exist (yet)")
	case err != nil:
		return r.wait(err.Error())
	case dev.ListenPort == 0:
		return r.wait("the WireGuard interface has no listen port")
	case dev.PrivateKey == (wgtypes.Key{}):
		return r.wait("the WireGuard interface has no private key")
	}
	r.dev = dev
	if r.paths[0] == nil && r.paths[1] == nil || dev.ListenPort != r.port || dev.Mark != r.mark {
		if err := r.openPaths(dev.ListenPort, dev.Mark); err != nil {
			return r.wait(err.Error())
		}
		r.nextDiscover = now
	}
	r.setState("up", "")
	r.syncPeers(now)

	if !now.Before(r.nextDiscover) {
		r.discover(ctx)
	}
	r.publishDue(ctx)
	r.pollDue(ctx)
	settled := true
	for _, p := range r.peers {
		r.judge(p, r.now()) // handshakes move between polls
		settled = settled && p.state == StateConnected
	}
	r.report()

	next := r.nextDiscover
	for _, p := range r.peers {
		if p.nextPoll.Before(next) {
			next = p.nextPoll
		}
	}
	wait := next.Sub(r.now())
	if (r.anyPublishFailed() || !settled) && wait > watchUnsettled {
		wait = watchUnsettled
	}
	return max(wait, 10*time.Millisecond)
}

// wait records why the interface cannot be served now and when to look again.
func (r *runner) wait(reason string) time.Duration {
	r.closePaths()
	r.setState("waiting", reason)
	r.d.board.update(r.cfg.Name, func(s *InterfaceStatus) {
		s.State, s.Reason, s.Store = "waiting", reason, r.cfg.Store
		s.Peers = nil
	})
	return deviceRetry
}

func (r *runner) setState(state, reason string) {
	if state == r.state && reason == r.lastReason {
		return
	}
	r.state, r.lastReason = state, reason
	if state == "up" {
		r.log.Info("interface ready", "port", r.dev.ListenPort, "peers", len(r.dev.Peers))
		return
	}
	r.log.Warn("interface waiting", "reason", reason)
}

func (r *runner) openPaths(port uint16, mark uint32) error {
	r.closePaths()
	for i, v6 := range []bool{false, true} {
		if v6 && !r.cfg.Family.V6() || !v6 && !r.cfg.Family.V4() {
			continue
		}
		c, err := r.d.deps.OpenConn(port, v6, mark)
		if err != nil {
			r.closePaths()
			return fmt.Errorf("open packet path on port %d: %w", port, err)
		}
		r.paths[i] = &path{conn: c, client: stun.NewClient(c)}
	}
	r.port, r.mark = port, mark
	return nil
}

func (r *runner) closePaths() {
	for i, p := range r.paths {
		if p != nil {
			p.close()
			r.paths[i] = nil
		}
	}
	r.port, r.mark = 0, 0
}

// syncPeers follows the device's peer list.
func (r *runner) syncPeers(now time.Time) {
	want := map[wgtypes.Key]wg.Peer{}
	if len(r.cfg.Peers) == 0 {
		for _, p := range r.dev.Peers {
			want[p.PublicKey] = p
		}
	} else {
		for _, k := range r.cfg.Peers {
			p, ok := r.dev.Peer(k)
			if !ok {
				if !r.notOnDev[k] {
					r.notOnDev[k] = true
					r.log.Warn("configured peer is not on the device; skipping it until it appears", "peer", k.String())
				}
				continue
			}
			delete(r.notOnDev, k)
			want[k] = p
		}
	}
	for k, p := range r.peers {
		if _, ok := want[k]; !ok {
			r.log.Info("peer left the device", "peer", k.String())
			delete(r.peers, k)
			_ = p
		}
	}
	for k, wp := range want {
		p, ok := r.peers[k]
		if !ok {
			p = &peer{key: k, nextPoll: now, pollBackoff: pollFirst, since: now, state: StateWaiting}
			r.peers[k] = p
		}
		p.wg = wp
	}
}

// discover asks the STUN servers for WireGuard's mapping, per family.
func (r *runner) discover(ctx context.Context) {
	now := r.now()
	var errs []string
	ok := false
	for i, p := range r.paths {
		if p == nil {
			continue
		}
		mapped, server, nat, err := r.discoverFamily(ctx, p, i == 1)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		ok = true
		if mapped != r.mapped[i] {
			r.log.Info("discovered mapping", "family", familyName(i), "endpoint", mapped, "server", server, "nat", nat)
		}
		r.mapped[i], r.server[i] = mapped, server
		if nat != "" {
			r.nat = nat
		}
	}
	if !ok {
		msg := "STUN failed: " + joinErrs(errs)
		if msg != r.discoverErr {
			r.log.Warn("discovery failed; retrying with backoff", "err", msg)
		}
		r.discoverErr = msg
		r.discoverBackoff = min(max(2*r.discoverBackoff, discoverFirst), r.cfg.Refresh)
		r.nextDiscover = now.Add(r.discoverBackoff)
		return
	}
	if r.discoverErr != "" {
		r.log.Info("discovery works again")
	}
	r.discoverErr = ""
	r.discoverBackoff = 0
	r.discoveredAt = now
	r.nextDiscover = now.Add(r.cfg.Refresh)
	// Republish on every refresh, which is also at once when the mapping moved.
	for _, p := range r.peers {
		p.published = time.Time{}
	}
}

// discoverFamily tries the servers in order; with a second server at
// another address it also tells whether the mapping depends on the
// destination (a symmetric NAT).
func (r *runner) discoverFamily(ctx context.Context, p *path, v6 bool) (mapped, server netip.AddrPort, nat string, err error) {
	var addrs []netip.AddrPort
	var errs []string
	for _, s := range r.d.cfg.STUN {
		a, err := r.d.deps.Resolve(ctx, s, v6)
		if err != nil {
			errs = append(errs, fmt.Sprintf("resolve %s: %v", s, err))
		}
		addrs = append(addrs, a...)
	}
	if len(addrs) == 0 {
		errs = append(errs, "no "+familyName(btoi(v6))+" STUN server address")
		return mapped, server, "", errors.New(joinErrs(errs))
	}
	first := -1
	for i, a := range addrs {
		m, err := p.client.Binding(ctx, a)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", a, err))
			continue
		}
		mapped, server, first = m, a, i
		break
	}
	if first < 0 {
		return mapped, server, "", errors.New(joinErrs(errs))
	}
	for _, a := range addrs[first+1:] {
		if a.Addr() == server.Addr() {
			continue
		}
		m, err := p.client.Binding(ctx, a)
		if err != nil {
			continue
		}
		nat = "cone"
		if m != mapped {
			nat = "symmetric"
		}
		break
	}
	return mapped, server, nat, nil
}

// publishDue seals the current mapping for every peer whose record is due.
func (r *runner) publishDue(ctx context.Context) {
	if !r.mapped[0].IsValid() && !r.mapped[1].IsValid() {
		return
	}
	e := record.Endpoints{IPv4: r.mapped[0], IPv6: r.mapped[1], Time: r.now(), NAT: r.nat}
	var due []*peer
	for _, p := range r.peers {
		if p.published.IsZero() {
			due = append(due, p)
		}
	}
	r.parallel(due, func(p *peer) {
		key := record.Key(r.dev.PublicKey, p.key)
		val, err := record.Seal(e, r.dev.PrivateKey, p.key, r.d.deps.Rand)
		if err == nil {
			sctx, cancel := context.WithTimeout(ctx, storeTimeout)
			err = r.store.Set(sctx, key, val)
			cancel()
		}
		if err != nil {
			p.pubFailed = true
			p.lastErr = "publish: " + err.Error()
			return
		}
		p.pubFailed = false
		p.published = r.now()
	})
	for _, p := range due {
		if p.pubFailed {
			r.logPeerErr(p)
		} else {
			r.log.Debug("published", "peer", p.key.String(), "ipv4", e.IPv4, "ipv6", e.IPv6)
		}
	}
}

func (r *runner) anyPublishFailed() bool {
	for _, p := range r.peers {
		if p.pubFailed {
			return true
		}
	}
	return false
}

// pollDue reads the records of the peers whose poll is due.
func (r *runner) pollDue(ctx context.Context) {
	now := r.now()
	var due []*peer
	for _, p := range r.peers {
		if !now.Before(p.nextPoll) {
			due = append(due, p)
		}
	}
	r.parallel(due, func(p *peer) { r.poll(ctx, p) })
	for _, p := range due {
		r.logPeerErr(p)
	}
}

// parallel runs fn for each peer with at most d.workers at once.
func (r *runner) parallel(ps []*peer, fn func(*peer)) {
	sem := make(chan struct{}, r.d.workers)
	var wg sync.WaitGroup
	for _, p := range ps {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(p)
		}()
	}
	wg.Wait()
}

// poll reads one peer's record and acts on it. It runs concurrently with
// polls of other peers and touches only p and goroutine-safe state.
func (r *runner) poll(ctx context.Context, p *peer) {
	key := record.Key(p.key, r.dev.PublicKey)
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	val, err := r.store.Get(sctx, key)
	cancel()
	now := r.now()
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !p.haveRec {
			p.reason = "no record from the peer yet (store key " + key + ")"
		}
		p.lastErr = ""
	case err != nil:
		p.lastErr = "read record: " + err.Error()
	default:
		r.accept(p, val, now)
	}
	r.judge(p, now)
	if p.state != StateConnected && p.cand.IsValid() {
		r.punch(p.cand)
	}
	r.schedule(p, now)
}

// accept opens a record and, when it is good and not older than the last
// one, makes its address the candidate endpoint and sets it if that is right.
func (r *runner) accept(p *peer, val string, now time.Time) {
	e, err := record.Open(val, r.dev.PrivateKey, p.key)
	if err != nil {
		p.lastErr = "record does not open: " + err.Error()
		return
	}
	firstUntimed, err := r.d.guard.Accept(p.key, e)
	if err != nil {
		p.lastErr = "record refused: " + err.Error()
		return
	}
	if firstUntimed {
		r.log.Info("peer's record carries no timestamp (stunmesh-go?); accepted without replay protection", "peer", p.key.String())
	}
	p.lastErr = ""
	p.rec, p.haveRec = e, true
	cand := r.choose(e)
	if !cand.IsValid() {
		p.lastErr = "the peer's record has no address of a family this interface uses (" + string(r.cfg.Family) + ")"
		return
	}
	p.cand = cand
	if !shouldSet(now, p.wg, cand) {
		return
	}
	if err := r.d.deps.WG.SetEndpoint(r.cfg.Name, p.key, cand); err != nil {
		p.lastErr = err.Error()
		return
	}
	r.log.Info("endpoint set", "peer", p.key.String(), "endpoint", cand, "was", p.wg.Endpoint)
	p.wg.Endpoint = cand
	p.setAt = now
}

// choose picks the address to use from a peer's record: IPv6 when both
// sides have it (no NAT to cross, usually), else IPv4.
func (r *runner) choose(e record.Endpoints) netip.AddrPort {
	if r.cfg.Family.V6() && e.IPv6.IsValid() && (r.paths[1] != nil || !r.cfg.Family.V4()) &&
		(r.mapped[1].IsValid() || !e.IPv4.IsValid() || !r.cfg.Family.V4()) {
		return e.IPv6
	}
	if r.cfg.Family.V4() && e.IPv4.IsValid() {
		return e.IPv4
	}
	return netip.AddrPort{}
}

// punch sends one STUN indication from WireGuard's port to ep, so that this
// side's NAT lets the peer's handshake in even if its first packets race ours.
func (r *runner) punch(ep netip.AddrPort) {
	p := r.paths[btoi(ep.Addr().Is6())]
	if p == nil {
		return
	}
	if err := p.conn.WriteTo(stun.AppendBindingIndication(nil, stun.NewTxID()), ep); err != nil {
		r.log.Debug("punch failed", "endpoint", ep, "err", err)
	}
}

// schedule sets the next poll: fast while the peer is new or connecting,
// once per refresh when it is connected.
func (r *runner) schedule(p *peer, now time.Time) {
	if p.state == StateConnected {
		p.pollBackoff = pollFirst
		p.nextPoll = now.Add(r.cfg.Refresh)
		return
	}
	limit := pollCap
	if now.Sub(p.since) > slowAfter || p.state == StateImpossible {
		limit = min(pollSlowCap, r.cfg.Refresh)
	}
	p.nextPoll = now.Add(p.pollBackoff)
	p.pollBackoff = min(2*p.pollBackoff, limit)
}

func (r *runner) logPeerErr(p *peer) {
	if p.lastErr == p.loggedErr {
		return
	}
	p.loggedErr = p.lastErr
	if p.lastErr == "" {
		r.log.Info("peer problem cleared", "peer", p.key.String())
		return
	}
	r.log.Warn("peer problem", "peer", p.key.String(), "err", p.lastErr)
}

// report publishes the runner's state to the status board.
func (r *runner) report() {
	keys := make([]wgtypes.Key, 0, len(r.peers))
	for k := range r.peers {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	peers := make([]PeerStatus, 0, len(keys))
	for _, k := range keys {
		p := r.peers[k]
		ps := PeerStatus{
			PublicKey:     k.String(),
			State:         p.state,
			Reason:        p.reason,
			Published:     p.published,
			Endpoint:      p.wg.Endpoint,
			SetAt:         p.setAt,
			LastHandshake: p.wg.LastHandshake,
			LastError:     p.lastErr,
		}
		if p.haveRec {
			ps.Record, ps.RecordTime, ps.PeerNAT = p.cand, p.rec.Time, p.rec.NAT
		}
		switch {
		case !p.wg.Endpoint.IsValid():
		case p.setAt.IsZero():
			ps.EndpointFrom = "device (not set by wgstun)"
		case p.wg.Endpoint == p.cand:
			ps.EndpointFrom = "peer's record"
		default:
			ps.EndpointFrom = "WireGuard roaming (the peer's packets came from here)"
		}
		peers = append(peers, ps)
	}
	r.d.board.update(r.cfg.Name, func(s *InterfaceStatus) {
		s.State, s.Reason = "up", ""
		s.PublicKey = r.dev.PublicKey.String()
		s.ListenPort = r.dev.ListenPort
		s.Store = r.cfg.Store
		s.IPv4, s.IPv6, s.NAT = r.mapped[0], r.mapped[1], r.nat
		s.STUNServer = ""
		for _, sv := range r.server {
			if sv.IsValid() {
				s.STUNServer = sv.String()
				break
			}
		}
		s.Discovered = r.discoveredAt
		s.LastError = r.discoverErr
		s.Peers = peers
	})
}

func familyName(i int) string {
	if i == 1 {
		return "ipv6"
	}
	return "ipv4"
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func joinErrs(errs []string) string {
	if len(errs) == 0 {
		return "no servers"
	}
	out := errs[0]
	for _, e := range errs[1:] {
		out += "; " + e
	}
	return out
}
