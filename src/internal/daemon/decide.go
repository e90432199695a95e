package daemon

import (
	"fmt"
	"time"

	"github.com/wgstun/wgstun/src/internal/natcheck"
)

// WireGuard's own timers (the protocol paper, section 6.1) bound how old a
// working session's handshake can be.
const (
	// rejectAfter is REJECT_AFTER_TIME: a session older than this carries
	// nothing, so a handshake this old means the tunnel is down.
	rejectAfter = 180 * time.Second
	// rekeyLimit applies with persistent keepalive: packets flow at least
	// every keepalive interval, so the initiator starts a new handshake at
	// REKEY_AFTER_TIME (120 s) and retries every REKEY_TIMEOUT (5 s); a
	// working tunnel never shows a handshake older than that plus a few
	// retries.
	rekeyLimit = 120*time.Second + 3*5*time.Second
	// rxRecent: received bytes this recent prove the peer reaches us.
	rxRecent = 30 * time.Second
	// roamHold is how long an endpoint WireGuard roamed to stays before a
	// handshake over it shows: REKEY_TIMEOUT, far more than the round trip
	// the session being confirmed there needs, and WireGuard's own retry.
	roamHold = 5 * time.Second
	// recreateDefer is how long the side with the higher public key waits
	// before re-creating a peer (see act): longer than the gap between two
	// daemons acting on the same event (a few ms in the lab), short
	// enough not to be noticed. Its initiation, if the other side's was
	// dropped by this side's NAT before the hole punch, comes this much
	// later.
	recreateDefer = 100 * time.Millisecond
)

// alive decides whether the peer's tunnel works, and says why in words.
// The ping watch, where configured and answering or failing, decides;
// otherwise WireGuard's handshake time and receive counter do, which costs
// no traffic and needs no address.
func (r *runner) alive(p *peer, now time.Time) (bool, string) {
	hs := p.wg.LastHandshake
	if p.ping.IsValid() && r.ping.pinger != nil {
		pr := r.ping.pinger.Result(p.ping)
		switch {
		case pr.Failing() && p.rxFrom.After(pr.LastReply.Add(2*r.set.ic.PingInterval)) && now.Sub(p.lastRx) < rxRecent &&
			!hs.IsZero() && now.Sub(hs) < rejectAfter:
			// Bytes arrived well after the last ping reply (the counter
			// grew between two reads both later than it, and later than
			// packets in flight when a path broke): the peer reaches us,
			// its address just does not answer ICMP.
			return true, fmt.Sprintf("%s does not answer ping, but packets from the peer arrive (handshake %s ago)", p.ping, ago(now, hs))
		case pr.Failing():
			return false, fmt.Sprintf("no ping reply from %s for %d tries", p.ping, pr.Misses)
		case !pr.LastReply.IsZero():
			return true, fmt.Sprintf("ping %s answers in %s", p.ping, pr.RTT.Round(100*time.Microsecond))
		}
	}
	if p.path.dead && !p.lastRx.After(p.path.deadAt) {
		return false, fmt.Sprintf("path checks to %s unanswered %d times in a row", p.wg.Endpoint, p.path.misses)
	}
	if hs.IsZero() {
		return false, "no handshake yet"
	}
	age := now.Sub(hs)
	limit := rejectAfter
	if p.wg.Keepalive > 0 {
		limit = rekeyLimit
	}
	switch {
	case age < limit:
		return true, fmt.Sprintf("handshake %s ago via %s", ago(now, hs), p.wg.Endpoint)
	case age < rejectAfter && now.Sub(p.lastRx) < rxRecent:
		return true, fmt.Sprintf("handshake %s ago, packets still arriving via %s", ago(now, hs), p.wg.Endpoint)
	}
	return false, fmt.Sprintf("last handshake %s ago", ago(now, hs))
}

// shouldSet reports whether to point the peer at its candidate. Never over
// a working tunnel: WireGuard roams to wherever the peer's packets come
// from (behind a symmetric NAT that is not the published address), and
// changing that could only break it. The exceptions are an endpoint that
// someone else removed or replaced, which is put back at once. And while a
// path is not judged down, an endpoint WireGuard roamed to within roamHold
// stays even before a handshake shows: a responder shows none until the
// initiator's first data packet confirms the session, and the path the
// initiation came by is the one that works. (A write by someone else
// while packets still arrive looks like a roam too; the watch judges that
// path down within a second when the peer has a ping address, and then
// it is set at once.)
func shouldSet(p *peer, now time.Time) bool {
	switch {
	case !p.cand.IsValid() || p.wg.Endpoint == p.cand:
		return false
	case !p.wg.Endpoint.IsValid() || p.external:
		return true
	case p.state == StateConnected:
		return false
	}
	return p.state == StateDown || now.Sub(p.roamed) >= roamHold
}

// recreateWhy says why a peer about to get a new endpoint should be removed
// and added back rather than updated in place, or "" for in place. WireGuard
// starts a handshake at most once per REKEY_TIMEOUT (5 s), counting
// attempts that could not leave (no endpoint yet, or dropped by the other
// side's NAT), so an updated peer may wait up to 5 s for its first packet; a
// re-created one handshakes at once. Re-creating drops the session, its
// counters and queued packets, so only a peer with no live session is
// re-created: never a handshake, the last one older than REJECT_AFTER_TIME
// (a session that old carries nothing), or a path the health watch has
// judged dead. Never when the interface's fast_handshake is off.
func recreateWhy(fast bool, p *peer, now time.Time) string {
	hs := p.wg.LastHandshake
	switch {
	case !fast:
		return ""
	case hs.IsZero():
		return "no handshake yet"
	case now.Sub(hs) >= rejectAfter:
		return fmt.Sprintf("last handshake %s ago, its session expired", ago(now, hs))
	case p.state == StateDown:
		return "the tunnel was judged down"
	}
	return ""
}

// judge sets the peer's state and its reason in words, and starts a repair
// when a tunnel goes down.
func (r *runner) judge(p *peer, now time.Time) {
	prev := p.state
	ok, why := r.alive(p, now)
	switch {
	case ok:
		p.state, p.reason = StateConnected, why
		p.wasUp = true
	case !p.haveRec || !p.cand.IsValid():
		p.state = StateWaiting
		if p.haveRec {
			p.reason = "the peer's record has no usable address"
		} else if p.reason == "" || prev == StateConnected {
			p.reason = "no record from the peer yet"
		}
	case p.wasUp || !p.wg.LastHandshake.IsZero():
		p.state = StateDown
		p.reason = fmt.Sprintf("%s; trying %s", why, p.cand)
	default:
		p.state, p.reason = r.connecting(p, now)
	}
	if p.state != StateConnected && prev == StateConnected {
		p.since = now
		r.repair(p, now)
	}
	if p.state != prev {
		r.log.Info("peer state", "peer", p.key.String(), "state", p.state, "reason", p.reason)
	}
}

// connecting explains a peer whose endpoint is known but that has never
// answered, using what both sides learned about their NATs: this side's
// class from discovery, the peer's from its record's nat hint. When the two
// classes rule a direct path out (natcheck.Direct says No) it says so at
// once, in words; schedule then slows the peer down to one look per
// refresh. When the classes leave it open but one side's mapping depends
// on the destination and no handshake came in impossibleWait, the old
// guess stands: the other side most likely filters by port.
func (r *runner) connecting(p *peer, now time.Time) (state, reason string) {
	waited := now.Sub(p.setAt)
	if p.setAt.IsZero() {
		waited = now.Sub(p.since)
	}
	ours, theirs := r.effectiveClass(), natcheck.ParseHint(p.rec.NAT)
	if why := natcheck.Explain(ours, theirs); why != "" {
		return StateImpossible, why
	}
	if waited < impossibleWait {
		return StateConnecting, fmt.Sprintf("endpoint %s set %s ago, waiting for a handshake", p.cand, waited.Round(time.Second))
	}
	oursSym, theirsSym := symmetricMapping(ours), symmetricMapping(theirs)
	switch {
	case natcheck.Direct(ours, theirs) == natcheck.Yes:
	case oursSym && theirsSym:
		return StateImpossible, "both NATs are symmetric (each maps every destination to a new port), so neither side can learn the port the other will use: no direct path without port mapping on a gateway or a relay"
	case oursSym:
		return StateImpossible, fmt.Sprintf("this side's NAT is symmetric (STUN servers saw different ports) and no handshake came in %s: the peer's NAT must filter by port, so a direct path is not possible", waited.Round(time.Second))
	case theirsSym:
		return StateImpossible, fmt.Sprintf("the peer's NAT is symmetric (its published port is not the one it will use for us) and no handshake came in %s: this side's NAT filters by port, so a direct path is not possible", waited.Round(time.Second))
	}
	return StateConnecting, fmt.Sprintf("endpoint %s set %s ago and no handshake yet: the peer may be down, or a firewall drops WireGuard's packets", p.cand, waited.Round(time.Second))
}

func symmetricMapping(c natcheck.Class) bool {
	switch c.Mapping {
	case natcheck.AddressDependent, natcheck.AddressAndPortDependent, natcheck.Dependent:
		return true
	}
	return false
}

func ago(now, t time.Time) time.Duration {
	return now.Sub(t).Round(time.Second)
}
