package daemon

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wgstun/wgstun/src/internal/wg"
	"github.com/wgstun/wgstun/src/record"
	"github.com/wgstun/wgstun/src/stun"
)

// accept opens a record (unless the poll did: opened) and, when it is good
// and not older than the last one, makes its address the candidate
// endpoint.
func (r *runner) accept(p *peer, val string, opened *record.Endpoints, now time.Time) {
	if opened == nil {
		e, err := record.Open(val, r.dev.PrivateKey, p.key)
		if err != nil {
			p.lastErr = "record does not open: " + err.Error()
			return
		}
		opened = &e
	}
	e := *opened
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
	if in := p.path.inUse; in.IsValid() && slices.ContainsFunc(r.targets(p), func(c record.Candidate) bool { return c.Addr == in }) {
		cand = in // what path checks chose, while the peer still offers it
	}
	if !cand.IsValid() {
		p.lastErr = "the peer's record has no address of a family this interface uses (" + string(r.set.ic.Family) + ")"
		return
	}
	if cand != p.cand && p.cand.IsValid() {
		r.log.Info("peer published a new address", "peer", p.key.String(), "endpoint", cand, "was", p.cand)
	}
	p.cand = cand
}

// act sets the peer's endpoint when that is right (see shouldSet). A peer
// with no live session is re-created with the endpoint instead (see
// recreateWhy), so that WireGuard handshakes at once.
func (r *runner) act(p *peer, now time.Time) {
	if !shouldSet(p, now) || p.path.round && !p.path.holdOver && p.state != StateConnected {
		return // (a path-check round acts when it ends, or at roundHold)
	}
	why := recreateWhy(r.set.ic.FastHandshake, p, now)
	if why != "" && bytes.Compare(r.dev.PublicKey[:], p.key[:]) > 0 {
		// Both sides of a pair decide at about the same moment (they
		// read each other's records together, or see the path die
		// together). Were both to re-create, one could remove its peer
		// just after answering the other's initiation, leaving the other
		// with a session this side forgot and nothing to send for 25 s.
		// So the side with the higher public key sets in place now and
		// re-creates after recreateDefer only if nothing came of it.
		p.recreateAt, p.deferredWhy = now.Add(recreateDefer), why
		why = ""
	}
	r.setEndpoint(p, why, now)
}

// recreateDue does a re-creation act deferred, when it is due and still
// wanted: no handshake yet and the endpoint still the one set (Recreate
// itself leaves the peer if any packet came since the last device read).
func (r *runner) recreateDue(p *peer, now time.Time) {
	if p.recreateAt.IsZero() || now.Before(p.recreateAt) {
		return
	}
	why := p.deferredWhy
	p.recreateAt, p.deferredWhy = time.Time{}, ""
	if recreateWhy(r.set.ic.FastHandshake, p, now) == "" || p.wg.Endpoint != p.cand {
		return
	}
	r.setEndpoint(p, why+" (deferred)", now)
}

// setEndpoint points the peer at its candidate: re-created when why says
// why, else in place.
func (r *runner) setEndpoint(p *peer, why string, now time.Time) {
	recreated := false
	var err error
	if why != "" {
		recreated, err = r.d.deps.WG.Recreate(r.set.ic.Name, p.key, p.cand, p.wg)
	} else {
		err = r.d.deps.WG.SetEndpoint(r.set.ic.Name, p.key, p.cand)
	}
	if errors.Is(err, wg.ErrLiveSession) {
		// Packets beat us to it: the next device read sees the session
		// and the endpoint WireGuard roamed to (see shouldSet).
		r.log.Debug("packets came in from the peer while it was being set; left as it is", "peer", p.key.String())
		return
	}
	if err != nil {
		p.lastErr = err.Error()
		r.logPeerErr(p)
		return
	}
	if recreated {
		r.log.Info("endpoint set, peer re-created", "peer", p.key.String(), "endpoint", p.cand, "was", p.wg.Endpoint, "why", why)
		p.recreated, p.recreatedWhy = now, why
		// What the device shows now: a fresh peer. The next read must
		// not take the reset counters for someone else's doing.
		p.wg.RxBytes, p.wg.TxBytes, p.wg.LastHandshake = 0, 0, time.Time{}
	} else {
		r.log.Info("endpoint set", "peer", p.key.String(), "endpoint", p.cand, "was", p.wg.Endpoint)
	}
	p.wg.Endpoint, p.external = p.cand, false
	p.setAt = now
	r.punch(p.cand)
}

// choose picks the address to use from a peer's record: IPv6 when both
// sides have it (no NAT to cross, usually), else IPv4.
func (r *runner) choose(e record.Endpoints) netip.AddrPort {
	if r.set.ic.Family.V6() && e.IPv6.IsValid() && (r.paths.byFamily[1] != nil || !r.set.ic.Family.V4()) &&
		(r.disc.mapped[1].IsValid() || !e.IPv4.IsValid() || !r.set.ic.Family.V4()) {
		return e.IPv6
	}
	if r.set.ic.Family.V4() && e.IPv4.IsValid() {
		return e.IPv4
	}
	return netip.AddrPort{}
}

// punch sends one STUN indication from WireGuard's port to ep, so that this
// side's NAT lets the peer's handshake in even if its first packets race ours.
func (r *runner) punch(ep netip.AddrPort) {
	p := r.paths.byFamily[btoi(ep.Addr().Is6())]
	if p == nil {
		return
	}
	if err := p.conn.WriteTo(stun.AppendBindingIndication(nil, stun.NewTxID()), ep); err != nil {
		r.log.Debug("punch failed", "endpoint", ep, "err", err)
	}
}

// schedule sets the next poll: fast while the peer is new or connecting,
// doubling up to the refresh interval while it is down, once per refresh
// when it is connected.
func (r *runner) schedule(p *peer, now time.Time) {
	switch {
	case p.state == StateConnected:
		p.pollBackoff = pollFirst
		p.nextPoll = now.Add(r.set.ic.Refresh)
		return
	case p.state == StateDown:
		p.nextPoll = now.Add(p.pollBackoff)
		p.pollBackoff = min(2*p.pollBackoff, r.set.ic.Refresh)
		return
	case p.state == StateImpossible:
		// Nothing to hurry for: the peer's record is read once per
		// refresh to see its NAT class change (ours changing starts a
		// refresh cycle, which reads every record at once), and fast
		// polling resumes from the start if the pair becomes possible.
		p.pollBackoff = pollFirst
		p.nextPoll = now.Add(r.set.ic.Refresh)
		return
	}
	limit := pollCap
	if now.Sub(p.since) > slowAfter {
		limit = min(pollSlowCap, r.set.ic.Refresh)
	}
	p.nextPoll = now.Add(p.pollBackoff)
	p.pollBackoff = min(2*p.pollBackoff, limit)
}

// repair starts over for a peer whose tunnel just went down: read its
// record at once and then quickly, and look at our own mapping again in
// case it moved (a new WAN address, a NAT reboot), which republishes.
func (r *runner) repair(p *peer, now time.Time) {
	p.nextPoll, p.pollBackoff = now, pollFirst
	if r.disc.running || now.Before(r.disc.repairAt.Add(r.disc.repairBackoff)) {
		return
	}
	r.disc.repairAt = now
	r.disc.repairBackoff = min(max(2*r.disc.repairBackoff, repairFirst), r.set.ic.Refresh)
	r.disc.next = now
	if r.mapping.pm != nil {
		r.mapping.pm.Check() // the gateway may have restarted and lost the mapping
	}
}

func (r *runner) logPeerErr(p *peer) {
	if p.lastErr == p.logged {
		return
	}
	old := p.logged
	p.logged = p.lastErr
	switch {
	case p.lastErr == "":
		r.log.Info("peer problem cleared", "peer", p.key.String())
	case r.jobs.storeErr != "" && (strings.Contains(p.lastErr, r.jobs.storeErr) || strings.Contains(old, r.jobs.storeErr)):
		// said once for the whole store
	default:
		r.log.Warn("peer problem", "peer", p.key.String(), "err", p.lastErr)
	}
}
