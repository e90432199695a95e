package daemon

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/natcheck"
	"github.com/wgstun/wgstun/src/internal/pathcheck"
	"github.com/wgstun/wgstun/src/record"
	"github.com/wgstun/wgstun/src/stun"
)

// Path checks (see package pathcheck): a round checks every candidate of a
// peer that is not connected and picks the one that answers, preferring
// the LAN; the liveness watch checks an idle connected peer's endpoint
// every few seconds and judges the path dead when it stops answering.
const (
	// A round's checks: sent at 0, 0.1, 0.3 and 0.7 s, given up at 1.2 s.
	roundRTO       = 100 * time.Millisecond
	roundTransmits = 4
	// chooseWindow is how long a round waits, after the first answer,
	// for a better kind of candidate (a LAN one) to answer too.
	chooseWindow = 50 * time.Millisecond
	// roundHold is how long act waits for a round of a peer that is not
	// connected before it sets the record's endpoint anyway: a LAN
	// candidate answers in a few ms, a mapped one may need the peer's
	// own round to open its NAT first, which WireGuard's handshakes do
	// as well. A round that ends later still sets what it found.
	roundHold = 250 * time.Millisecond
	// The liveness watch: a check every checkEvery while the last device
	// read saw no packet from the peer, sent at 0, 0.15 and 0.45 s and
	// given up at 1.2 s; after a miss the next goes at once, and
	// deadAfter misses in a row judge the path dead. A dead path is
	// found 2.4 s after the first read that sees nothing come in: 3-5 s
	// after it died.
	checkEvery     = 2 * time.Second
	liveRTO        = 150 * time.Millisecond
	liveTransmits  = 3
	deadAfter      = 2
	silentRounds   = 3 // unanswered rounds that make a peer that never answered silent
	maxLANCands    = 4
	checkQueueSize = 64
)

// Kinds of candidate, best first (record.Cand* plus what the record's
// own endpoint fields are).
var kindRank = map[string]int{record.CandLAN: 0, record.CandMapped: 1, record.CandPortMapped: 2}

// checkState is the runner's part in path checks.
type checkState struct {
	reqs    chan checkReq // requests the packet paths read, for answer
	seq     pathcheck.Seq
	limiter *pathcheck.Limiter
	// epoch is when this runner started, in unix ms: every record it
	// publishes is sealed later, so a check naming an older record of
	// ours was recorded before and is not answered.
	epoch int64
	lan   []netip.Addr      // this host's LAN addresses, as last looked up
	due   time.Time         // the earliest liveness check (nextCheck)
	seen  [2]netip.AddrPort // per family, the last address a peer saw us at that started a discovery

	answered, dropped, limited uint64
}

type checkReq struct {
	b   []byte
	src netip.AddrPort
}

// peerPath is what the runner knows of one peer's paths.
type peerPath struct {
	key    []byte      // the pair's check key; nil until derived
	keyPub wgtypes.Key // our public key it was derived with
	tag    string      // pathcheck.Tag of the peer's key
	replay pathcheck.Replay

	round       bool      // a round runs
	roundAt     time.Time // since
	holdOver    bool      // act no longer waits for it (roundHold passed)
	liveRunning bool      // a liveness check runs
	liveNext    time.Time
	misses      int // liveness checks unanswered in a row
	dead        bool
	deadAt      time.Time
	// answered: the peer answered a check at least once. silent: it
	// publishes candidates but answered none of a round; checks stay off
	// until it publishes a new record (silentRec).
	answered     bool
	silent       bool
	silentRec    time.Time
	failedRounds int  // rounds unanswered before any answer
	silentLogged bool // "answers no path check" was logged

	inUse   netip.AddrPort // the candidate that answered last
	kind    string         // its kind
	rtt     time.Duration
	checked time.Time // when it last answered
}

// checkOutcome is what a round or a liveness check found.
type checkOutcome struct {
	live   bool // a liveness check (else a round)
	addr   netip.AddrPort
	kind   string
	rtt    time.Duration
	mapped netip.AddrPort // this side as the peer saw it
	ok     bool
}

// onRequest is the packet paths' OnRequest: it hands a copy to the
// runner's goroutine, or drops it when the queue is full.
func (r *runner) onRequest(b []byte, src netip.AddrPort) {
	select {
	case r.checks.reqs <- checkReq{b: slices.Clone(b), src: src}:
	default:
	}
}

// checkKey returns the check key of the pair (us, p), derived once per
// key of ours.
func (r *runner) checkKey(p *peer) []byte {
	if p.path.key == nil || p.path.keyPub != r.pub {
		k, err := pathcheck.Key(r.dev.PrivateKey, p.key)
		if err != nil {
			return nil
		}
		p.path.key, p.path.keyPub = k, r.pub
	}
	return p.path.key
}

// answer answers one path check from a peer, from WireGuard's port, when
// it is authentic, names a record of this runner and is not a replay;
// everything else is dropped silently and counted. Answers to one source
// are rate limited (pathcheck.Limiter).
func (r *runner) answer(q checkReq) {
	if !r.haveDev || !r.set.ic.PathChecks {
		r.checks.dropped++
		return
	}
	req, err := stun.ParseRequest(q.b)
	u, ok := pathcheck.ParseUsername(req.Username)
	if err != nil || !req.Integrity || !req.Fingerprint || !ok || u.Epoch < r.checks.epoch {
		r.checks.dropped++
		return
	}
	var from *peer
	var key []byte
	for _, p := range r.peers {
		if p.path.tag != u.Tag {
			continue
		}
		if k := r.checkKey(p); k != nil && stun.VerifyIntegrity(q.b, k) {
			from, key = p, k
			break
		}
	}
	if from == nil || !from.path.replay.Accept(u.Seq) {
		r.checks.dropped++
		return
	}
	if !r.checks.limiter.Allow(q.src.Addr(), r.now()) {
		r.checks.limited++
		return
	}
	path := r.paths.byFamily[btoi(!q.src.Addr().Unmap().Is4())]
	if path == nil {
		r.checks.dropped++
		return
	}
	if err := path.conn.WriteTo(stun.AppendCheckResponse(nil, req.TxID, q.src, key), q.src); err != nil {
		r.log.Debug("path check answer failed", "peer", from.key.String(), "to", q.src, "err", err)
		return
	}
	r.checks.answered++
}

// checksWanted reports whether p is to be checked at all: path checks on
// here, the peer says it answers them, and it has not gone silent on its
// current record.
func (r *runner) checksWanted(p *peer) bool {
	return r.set.ic.PathChecks && p.haveRec && p.rec.Checks && !(p.path.silent && p.rec.Time.Equal(p.path.silentRec))
}

// startRound checks every candidate of p at once, in the background.
func (r *runner) startRound(ctx context.Context, p *peer) {
	if !r.checksWanted(p) || p.path.round {
		return
	}
	targets := r.targets(p)
	key := r.checkKey(p)
	if len(targets) == 0 || key == nil {
		return
	}
	p.path.round, p.path.roundAt, p.path.holdOver = true, r.now(), false
	paths, gen, pub := r.paths.byFamily, r.paths.gen, r.pub
	user := r.username(p)
	go func() {
		out := runRound(ctx, paths, targets, key, user)
		r.deliver(ctx, result{kind: jobCheck, peer: p, pub: pub, gen: gen, check: out})
	}()
}

// username returns a builder of p's check USERNAMEs, a new sequence
// number for each.
func (r *runner) username(p *peer) func() string {
	tag, epoch := pathcheck.Tag(r.pub), p.rec.Time.UnixMilli()
	return func() string {
		return pathcheck.Username{Tag: tag, Epoch: epoch, Seq: r.checks.seq.Next()}.String()
	}
}

// targets are the addresses a round checks: the record's candidates of
// the families this interface has a packet path for, then its endpoint
// fields (as mapped ones), without repeats.
func (r *runner) targets(p *peer) []record.Candidate {
	var out []record.Candidate
	add := func(c record.Candidate) {
		if !c.Addr.IsValid() || r.paths.byFamily[btoi(!c.Addr.Addr().Is4())] == nil {
			return
		}
		for _, o := range out {
			if o.Addr == c.Addr {
				return
			}
		}
		out = append(out, c)
	}
	for _, c := range p.rec.Candidates {
		add(c)
	}
	add(record.Candidate{Kind: record.CandMapped, Addr: p.rec.IPv4})
	add(record.Candidate{Kind: record.CandMapped, Addr: p.rec.IPv6})
	return out
}

// runRound sends a check to every target at once and returns the best
// that answered: the first answer, or a better kind that answers within
// chooseWindow of it.
func runRound(ctx context.Context, paths [2]*path, targets []record.Candidate, key []byte, user func() string) checkOutcome {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	outs := make(chan checkOutcome, len(targets))
	for _, t := range targets {
		go func() {
			o := checkOnce(ctx, paths[btoi(!t.Addr.Addr().Is4())], t.Addr, key, user, roundRTO, roundTransmits)
			o.kind = t.Kind
			outs <- o
		}()
	}
	var best checkOutcome
	var window <-chan time.Time
	for pending := len(targets); pending > 0; {
		select {
		case o := <-outs:
			pending--
			if o.ok && (!best.ok || kindRank[o.kind] < kindRank[best.kind]) {
				best = o
			}
			if best.ok && kindRank[best.kind] == 0 {
				return best
			}
			if best.ok && window == nil {
				window = time.After(chooseWindow)
			}
		case <-window:
			return best
		}
	}
	return best
}

// checkOnce runs one check transaction with dst and verifies the answer.
func checkOnce(ctx context.Context, p *path, dst netip.AddrPort, key []byte, user func() string, rto time.Duration, transmits int) checkOutcome {
	o := checkOutcome{addr: dst}
	if p == nil {
		return o
	}
	start := time.Now()
	raw, mapped, err := p.client.Check(ctx, dst, rto, transmits, func(tx stun.TxID) []byte {
		return stun.AppendCheckRequest(nil, tx, user(), key)
	})
	if err != nil || !stun.VerifyIntegrity(raw, key) {
		return o
	}
	o.ok, o.rtt, o.mapped = true, time.Since(start), mapped
	return o
}

// checked takes in a round's or a liveness check's outcome.
func (r *runner) checked(res result) {
	p, o, now := res.peer, res.check, r.now()
	if o.live {
		p.path.liveRunning = false
		p.path.liveNext = now.Add(checkEvery)
	} else {
		p.path.round = false
	}
	if r.peers[p.key] != p || res.pub != r.pub || res.gen != r.paths.gen {
		return
	}
	if o.ok {
		p.path.answered, p.path.silent, p.path.misses, p.path.failedRounds = true, false, 0, 0
		p.path.inUse, p.path.rtt, p.path.checked = o.addr, o.rtt, now
		if !o.live || p.path.kind == "" {
			p.path.kind = o.kind
		}
		if p.path.dead {
			p.path.dead = false
			r.log.Info("path answers checks again", "peer", p.key.String(), "endpoint", o.addr)
		}
		r.peerSawUs(o)
	}
	switch {
	case !o.ok && !p.path.answered:
		// A peer that publishes candidates but has answered nothing yet.
		// A round may fail only because the peer's NAT has not opened
		// yet (its own round punches it), so the published endpoint is
		// used as before and rounds go on with the polls; a liveness
		// check over a tunnel that carries WireGuard, or silentRounds
		// rounds, that get nothing mean a peer that never answers (a
		// filter in between): checks then wait for its next record.
		p.path.failedRounds++
		if o.live || p.path.failedRounds >= silentRounds {
			p.path.silent, p.path.silentRec = true, p.rec.Time
			if !p.path.silentLogged {
				p.path.silentLogged = true // once, not per record
				r.log.Info("peer answers no path check; using its published endpoint", "peer", p.key.String())
			}
		}
		if o.live {
			return
		}
	case o.live && !o.ok:
		p.path.misses++
		if p.path.misses >= deadAfter && !p.path.dead {
			p.path.dead, p.path.deadAt = true, now
			r.log.Info("path checks unanswered; repairing", "peer", p.key.String(), "endpoint", p.wg.Endpoint, "misses", p.path.misses)
			r.full = true
		}
		if !p.path.dead {
			p.path.liveNext = now // one miss: check again at once
		}
		return
	case o.live:
		return
	case o.ok:
		if p.cand != o.addr {
			r.log.Info("path check chose", "peer", p.key.String(), "endpoint", o.addr, "kind", o.kind, "rtt", o.rtt.Round(10*time.Microsecond))
		}
		p.cand = o.addr
	}
	// The next step acts, on a fresh reading of the device: the round took
	// up to a second, in which WireGuard may have roamed the peer to where
	// its handshake came from, and that endpoint must stay.
	r.nextRead, r.full = now, true
}

// peerSawUs looks at this side's address as the peer saw it: a mapped
// path that shows a new address or port (our NAT moved, and an
// endpoint-independent one maps every destination alike) starts a
// discovery at once, which republishes.
func (r *runner) peerSawUs(o checkOutcome) {
	if o.kind == record.CandLAN || !o.mapped.IsValid() || r.mapping.status.Mapped() ||
		r.disc.class.Mapping != natcheck.EndpointIndependent || r.disc.running {
		return
	}
	i := btoi(!o.mapped.Addr().Is4())
	known := r.disc.mapped[i]
	if !known.IsValid() || known == o.mapped || r.checks.seen[i] == o.mapped {
		return
	}
	// Once per address seen: a NAT in front of the peer may rewrite our
	// port itself (a clash in its connection tracking), and then a
	// discovery that finds our mapping unchanged would repeat forever.
	r.checks.seen[i] = o.mapped
	r.log.Info("a peer sees this side at a new address; discovering again", "seen", o.mapped, "published", known)
	r.disc.next = r.now()
}

// watchPaths starts the liveness checks that are due: for each connected
// peer that answers checks, has no ping address (the ping watch decides
// there) and sent nothing since the last device read.
func (r *runner) watchPaths(ctx context.Context, now time.Time) {
	for _, p := range r.peers {
		if !r.checksWanted(p) || p.ping.IsValid() || p.path.liveRunning || p.path.round ||
			!p.wg.Endpoint.IsValid() || now.Before(p.path.liveNext) ||
			p.state != StateConnected && !p.path.dead {
			continue
		}
		if !p.lastRx.Before(p.lastRead) {
			// The last device read saw packets from the peer: the path
			// works.
			p.path.misses = 0
			continue
		}
		key := r.checkKey(p)
		if key == nil {
			continue
		}
		p.path.liveRunning = true
		ep, kind := p.wg.Endpoint, p.path.kind
		if ep != p.path.inUse {
			kind = record.CandMapped // WireGuard roamed, or the record's endpoint
		}
		paths, gen, pub, user := r.paths.byFamily, r.paths.gen, r.pub, r.username(p)
		go func() {
			o := checkOnce(ctx, paths[btoi(!ep.Addr().Is4())], ep, key, user, liveRTO, liveTransmits)
			o.live, o.kind = true, kind
			r.deliver(ctx, result{kind: jobCheck, peer: p, pub: pub, gen: gen, check: o})
		}()
	}
}

// nextCheck is when the liveness watch next has something to do.
func (r *runner) nextCheck(next time.Time) time.Time {
	for _, p := range r.peers {
		if r.checksWanted(p) && !p.path.liveRunning && p.path.liveNext.Before(next) {
			next = p.path.liveNext
		}
	}
	return next
}

// candidates are what this side publishes to peers that check: its LAN
// addresses with WireGuard's port (unless lan_candidates is off), its
// STUN mappings, its gateway's mapping.
func (r *runner) candidates() []record.Candidate {
	var out []record.Candidate
	add := func(kind string, a netip.AddrPort) {
		if !a.IsValid() || len(out) >= record.MaxCandidates {
			return
		}
		for _, o := range out {
			if o.Addr == a {
				return
			}
		}
		out = append(out, record.Candidate{Kind: kind, Addr: a})
	}
	if r.set.ic.LANCandidates {
		for _, a := range r.checks.lan {
			add(record.CandLAN, netip.AddrPortFrom(a, r.dev.ListenPort))
		}
	}
	add(record.CandMapped, r.disc.mapped[0])
	add(record.CandMapped, r.disc.mapped[1])
	if r.mapping.status.Mapped() {
		add(record.CandPortMapped, r.mapping.status.External)
	}
	return out
}

// lanCandidates looks up the LAN addresses this interface publishes: none
// unless path_checks and lan_candidates are both on.
func (r *runner) lanCandidates() []netip.Addr {
	ic := r.set.ic
	if !ic.PathChecks || !ic.LANCandidates {
		return nil
	}
	return r.d.deps.LANAddrs(ic.Name, ic.Family.V4(), ic.Family.V6())
}

// lanAddrs returns up to maxLANCands addresses of this host's interfaces
// that are up, not loopback, not point-to-point (WireGuard, PPP and other
// tunnels) and not WireGuard's own, of the families the interface uses:
// IPv4 ones first, no link-local or multicast addresses.
func lanAddrs(wgIface string, v4, v6 bool) []netip.Addr {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var four, six []netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&(net.FlagLoopback|net.FlagPointToPoint) != 0 || ifc.Name == wgIface {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if !ip.IsGlobalUnicast() && !ip.IsPrivate() {
				continue
			}
			if ip.Is4() && v4 {
				four = append(four, ip)
			} else if ip.Is6() && v6 {
				six = append(six, ip)
			}
		}
	}
	out := append(four, six...)
	return out[:min(len(out), maxLANCands)]
}
