package daemon

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/wgstun/wgstun/src/wg"
)

// handshakeFresh is how long after a handshake a tunnel counts as working:
// WireGuard rekeys every 2 minutes while traffic flows and rejects a session
// after 3, so a handshake younger than that means packets get through.
const handshakeFresh = 180 * time.Second

func fresh(now, hs time.Time) bool {
	return !hs.IsZero() && now.Sub(hs) < handshakeFresh
}

// shouldSet reports whether to point the peer at cand. Never over a working
// tunnel: a recent handshake means WireGuard found a path already (roaming
// may have chosen a different address than the published one, for example
// behind a symmetric NAT), and changing it could only break it.
func shouldSet(now time.Time, p wg.Peer, cand netip.AddrPort) bool {
	return cand.IsValid() && p.Endpoint != cand && !fresh(now, p.LastHandshake)
}

// judge sets the peer's state and its reason in words.
func (r *runner) judge(p *peer, now time.Time) {
	prev := p.state
	switch {
	case fresh(now, p.wg.LastHandshake):
		p.state = StateConnected
		p.reason = "WireGuard has a working session via " + p.wg.Endpoint.String()
	case !p.haveRec || !p.cand.IsValid():
		p.state = StateWaiting
		if p.haveRec {
			p.reason = "the peer's record has no usable address"
		}
	default:
		if prev == StateConnected {
			p.since = now
		}
		p.state, p.reason = r.connecting(p, now)
	}
	if p.state != prev {
		r.log.Info("peer state", "peer", p.key.String(), "state", p.state, "reason", p.reason)
	}
}

// connecting explains a peer whose endpoint is known but that has not
// answered, using what both sides learned about their NATs.
func (r *runner) connecting(p *peer, now time.Time) (state, reason string) {
	waited := now.Sub(p.setAt)
	if p.setAt.IsZero() {
		waited = now.Sub(p.since)
	}
	ours, theirs := r.nat, p.rec.NAT
	if !p.wg.LastHandshake.IsZero() {
		return StateDown, fmt.Sprintf("last handshake %s ago; trying %s", ago(now, p.wg.LastHandshake), p.cand)
	}
	if waited < impossibleWait {
		return StateConnecting, fmt.Sprintf("endpoint %s set %s ago, waiting for a handshake", p.cand, waited.Round(time.Second))
	}
	switch {
	case ours == "symmetric" && theirs == "symmetric":
		return StateImpossible, "both NATs are symmetric (each maps every destination to a new port), so neither side can learn the port the other will use: no direct path without port mapping on a gateway or a relay"
	case ours == "symmetric":
		return StateImpossible, fmt.Sprintf("this side's NAT is symmetric (STUN servers saw different ports) and no handshake came in %s: the peer's NAT must filter by port, so a direct path is not possible", waited.Round(time.Second))
	case theirs == "symmetric":
		return StateImpossible, fmt.Sprintf("the peer's NAT is symmetric (its published port is not the one it will use for us) and no handshake came in %s: this side's NAT filters by port, so a direct path is not possible", waited.Round(time.Second))
	}
	return StateConnecting, fmt.Sprintf("endpoint %s set %s ago and no handshake yet: the peer may be down, or a firewall drops WireGuard's packets", p.cand, waited.Round(time.Second))
}

func ago(now, t time.Time) time.Duration {
	return now.Sub(t).Round(time.Second)
}
