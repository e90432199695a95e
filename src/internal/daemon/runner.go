package daemon

import (
	"context"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/egress"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/pathcheck"
	"github.com/wgstun/wgstun/src/internal/wg"
	"github.com/wgstun/wgstun/src/record"
)

// Timing of the loop. Polls start fast so that two daemons started together
// find each other's records within a second, and slow down to the refresh
// interval once the tunnel is up. A tunnel that goes down is repaired at
// once: the mapping is looked up again (then after 1 s, 2 s, 4 s ... up to
// the refresh interval while the tunnel stays down) and the peer's record
// is read at once, then after 0.25 s, 0.5 s, 1 s ... up to the refresh
// interval, so that a record the peer republishes a moment later is seen
// within a fraction of a second.
const (
	pollFirst      = 250 * time.Millisecond
	pollCap        = 5 * time.Second  // while a peer is new or connecting
	pollSlowCap    = 60 * time.Second // once connecting has lasted slowAfter
	slowAfter      = time.Minute
	repairFirst    = time.Second
	deviceRetry    = 2 * time.Second
	watchEvery     = 2 * time.Second // the device is re-read this often
	discoverFirst  = time.Second
	storeFirst     = time.Second // first retry after a store error
	impossibleWait = 20 * time.Second
	classifyWait   = time.Second            // per RFC 5780 test whose answer a NAT may filter
	storeTimeout   = 30 * time.Second       // the plugins' own timeouts are shorter
	reportEvery    = 250 * time.Millisecond // status board updates while jobs run
)

// runner drives one WireGuard interface. One goroutine owns all of its
// state; store operations and STUN discovery run in their own goroutines
// and hand their results back, so a hung store or a dead STUN server never
// stops the watch over the tunnels.
//
// This file holds the loop (run, step, nextWake); the methods are in files
// by concern: device.go reads the device and follows its peers,
// discover.go opens the packet paths and runs STUN discovery and NAT
// classification, mapping.go keeps the gateway's port mapping, jobs.go
// publishes and polls records in the store, decide.go judges each tunnel,
// endpoint.go chooses, sets and repairs endpoints, paths.go runs path
// checks with the peers, ping.go runs the ping watch, reconfigure.go
// takes in a reload and report.go writes the status board.
type runner struct {
	d   *Daemon
	set settings // what a reload may change (reconfigure.go)
	log *logfmt.Logger
	ctx context.Context // run's

	results chan result   // what jobs hand back (jobs.go)
	reconf  chan settings // reloads

	// The device as last read (device.go).
	dev      wg.Device
	haveDev  bool
	index    int         // interface index, to notice a recreated interface
	pub      wgtypes.Key // the public key records are published and read under
	nextRead time.Time
	peers    map[wgtypes.Key]*peer
	notOnDev map[wgtypes.Key]bool // configured peers missing on the device, logged once
	weak     map[wgtypes.Key]bool // device peers with a weak key (record.WeakKey), logged once
	// egress is the routing this interface last asked of the daemon
	// (egressFrom), egressSent whether it has asked yet.
	egress     egress.Policy
	egressSent bool

	paths   packetPaths   // on WireGuard's port (discover.go)
	disc    discoverState // STUN discovery (discover.go)
	mapping mappingState  // the gateway's port mapping (mapping.go)
	jobs    jobState      // publishing and polling records in the store (jobs.go)
	ping    pingState     // the ping watch over the tunnels (ping.go)
	checks  checkState    // path checks: answering them, and when ours are due (paths.go)

	state    string    // last interface state logged
	reason   string    // and why, when waiting
	full     bool      // the next step looks at every peer
	reported time.Time // last status board update
	// report's scratch: the peers in key order (reused: report runs
	// after every wake-up).
	sorted []*peer
}

// peer is what the runner knows about one managed peer.
type peer struct {
	key     wgtypes.Key
	keyText string // key in base64, made once: report runs after every wake-up

	nextPoll    time.Time
	pollBackoff time.Duration
	polling     bool
	polledAt    time.Time
	nextPub     time.Time
	pubBackoff  time.Duration
	publishing  bool
	published   time.Time
	pubFailed   bool

	rec     record.Endpoints
	haveRec bool
	cand    netip.AddrPort // endpoint chosen from the record
	setAt   time.Time
	// recreated is when act last re-created the peer on the device to
	// skip WireGuard's handshake throttle, recreatedWhy why (words).
	recreated    time.Time
	recreatedWhy string
	// recreateAt is when a re-creation act deferred is due (zero: none),
	// deferredWhy why it was wanted (recreateDue).
	recreateAt  time.Time
	deferredWhy string
	since       time.Time // start of the current not-connected stretch
	wasUp       bool      // connected at some point
	wg          wg.Peer
	lastRx      time.Time // the device read that saw the receive counter grow
	rxFrom      time.Time // the read before it: the bytes came after this
	lastRead    time.Time
	external    bool      // someone else changed the endpoint
	roamed      time.Time // the read that saw WireGuard roam it (shouldSet)
	ping        netip.Addr
	state       string
	reason      string
	lastErr     string
	logged      string
	path        peerPath // path checks with this peer (paths.go)
}

func newRunner(d *Daemon, set settings) *runner {
	r := &runner{
		d:        d,
		set:      set,
		results:  make(chan result, 64),
		reconf:   make(chan settings, 1),
		peers:    map[wgtypes.Key]*peer{},
		notOnDev: map[wgtypes.Key]bool{},
		weak:     map[wgtypes.Key]bool{},
		log:      d.log.With("iface", set.ic.Name),
	}
	r.checks = checkState{
		reqs:    make(chan checkReq, checkQueueSize),
		limiter: pathcheck.NewLimiter(),
		epoch:   d.deps.Now().UnixMilli(),
	}
	return r
}

func (r *runner) now() time.Time { return r.d.deps.Now() }

func (r *runner) run(ctx context.Context) {
	r.ctx = ctx
	defer r.closePaths()
	defer r.d.board.remove(r.set.ic.Name)
	defer r.stopPinger()
	r.startPinger(ctx)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		var pingC, pmC <-chan struct{}
		if r.ping.pinger != nil {
			pingC = r.ping.pinger.Changed()
		}
		if r.mapping.pm != nil {
			pmC = r.mapping.pm.Changed()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case res := <-r.results:
			r.apply(res)
			r.drain()
		case <-pingC:
			r.nextRead = time.Time{} // see the handshake and counters that go with it
			r.full = true
		case <-pmC:
			r.mappingChanged()
			r.full = true
		case s := <-r.reconf:
			r.reconfigure(ctx, s)
		case q := <-r.checks.reqs:
			// Answered at once, without a step: the timer stays set.
			r.answer(q)
			continue
		}
		t.Stop()
		t.Reset(r.step(ctx))
	}
}

// drain applies every result already waiting, so that a burst of store
// answers costs one step, not one each.
func (r *runner) drain() {
	for {
		select {
		case res := <-r.results:
			r.apply(res)
		default:
			return
		}
	}
}

// step does whatever is due and returns how long to sleep.
func (r *runner) step(ctx context.Context) time.Duration {
	now := r.now()
	// A full step looks at every peer: after a device read or a ping
	// change. Steps for job results only start more jobs; the peer a result
	// was for has been judged when it was applied. This keeps a refresh of
	// many peers linear.
	full := r.full
	r.full = false
	for _, p := range r.peers {
		if p.path.round && !p.path.holdOver && !now.Before(p.path.roundAt.Add(roundHold)) {
			// act waited long enough for this peer's round: it goes
			// ahead, on a fresh reading of the device (WireGuard may have
			// roamed the peer meanwhile, and that endpoint stays).
			p.path.holdOver = true
			r.nextRead = now
		}
	}
	if !now.Before(r.nextRead) || !r.haveDev {
		if !r.readDevice(now) {
			r.nextRead = now.Add(deviceRetry)
			return deviceRetry
		}
		r.nextRead = now.Add(watchEvery)
		full = true
	}
	r.setState("up", "")

	if full {
		anyDown := false
		for _, p := range r.peers {
			r.judge(p, now) // may start a repair, which is due at once
			anyDown = anyDown || p.state == StateDown
		}
		if !anyDown {
			r.disc.repairBackoff = 0
		}
	}
	if full || !now.Before(r.checks.due) {
		r.watchPaths(ctx, now)
	}
	if !r.disc.running && !now.Before(r.disc.next) {
		r.startDiscover(ctx, now)
	}
	r.startJobs(ctx, now)
	for _, p := range r.peers {
		if full {
			r.act(p, now)
		}
		r.recreateDue(p, now)
	}
	r.endCycle(now)
	if full || now.Sub(r.reported) >= reportEvery || r.jobs.inflight == 0 {
		r.report()
		r.reported = now
	}
	return max(r.nextWake().Sub(r.now()), 10*time.Millisecond)
}

// nextWake is the earliest time something is due. Running jobs wake the
// runner themselves when they finish.
func (r *runner) nextWake() time.Time {
	next := r.nextRead
	if !r.disc.running && r.disc.next.Before(next) {
		next = r.disc.next
	}
	for _, p := range r.peers {
		if !p.recreateAt.IsZero() && p.recreateAt.Before(next) {
			next = p.recreateAt
		}
	}
	for _, p := range r.peers {
		if p.path.round && !p.path.holdOver && p.path.roundAt.Add(roundHold).Before(next) {
			next = p.path.roundAt.Add(roundHold)
		}
	}
	r.checks.due = r.nextCheck(r.nextRead.Add(time.Hour))
	if r.checks.due.Before(next) {
		next = r.checks.due
	}
	if r.jobs.inflight < r.d.workers {
		for _, p := range r.peers {
			if t, ok := r.pollWanted(p); ok && t.Before(next) {
				next = t
			}
			if t, ok := r.publishWanted(p); ok && t.Before(next) {
				next = t
			}
		}
	}
	return next
}

// wait records why the interface cannot be served now.
func (r *runner) wait(reason string) bool {
	r.closePaths()
	r.haveDev = false
	r.setState("waiting", reason)
	r.d.board.update(r.set.ic.Name, func(s *InterfaceStatus) {
		s.State, s.Reason, s.Store = "waiting", reason, r.set.ic.Store
		s.Peers = nil
	})
	return false
}

func (r *runner) setState(state, reason string) {
	if state == r.state && reason == r.reason {
		return
	}
	r.state, r.reason = state, reason
	if state == "up" {
		r.log.Info("interface ready", "port", r.dev.ListenPort, "peers", len(r.dev.Peers))
		return
	}
	r.log.Warn("interface waiting", "reason", reason)
}
