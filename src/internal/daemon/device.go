package daemon

import (
	"errors"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/egress"
	"github.com/wgstun/wgstun/src/internal/pathcheck"
	"github.com/wgstun/wgstun/src/internal/wg"
	"github.com/wgstun/wgstun/src/record"
)

// readDevice reads the WireGuard device and follows what changed on it.
// It reports false when the interface cannot be served now.
func (r *runner) readDevice(now time.Time) bool {
	dev, err := r.d.deps.WG.Device(r.set.ic.Name)
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
	recreated := r.index != 0 && dev.Index != r.index
	if recreated {
		r.log.Info("WireGuard interface was recreated; re-attaching", "index", dev.Index, "was", r.index)
		if r.ping.pinger != nil {
			r.ping.pinger.Reopen()
		}
	}
	r.dev, r.haveDev, r.index = dev, true, dev.Index
	if r.paths.byFamily[0] == nil && r.paths.byFamily[1] == nil || recreated || dev.ListenPort != r.paths.port || dev.Mark != r.paths.mark {
		if r.paths.port != 0 && dev.ListenPort != r.paths.port {
			r.log.Info("listen port changed", "was", r.paths.port, "now", dev.ListenPort)
		}
		if err := r.openPaths(dev.ListenPort, dev.Mark); err != nil {
			r.haveDev = false
			return r.wait(err.Error())
		}
		r.disc.next = now
	}
	if pol := (egress.Policy{Mark: dev.Mark, FIB: r.set.ic.FIB, BindIf: r.set.ic.BindInterface}); pol != r.egress || !r.egressSent {
		r.egress, r.egressSent = pol, true
		r.d.egressFrom(r.set.ic.Name, pol)
	}
	if dev.PublicKey != r.pub {
		if r.pub != (wgtypes.Key{}) {
			r.log.Info("private key changed; publishing and reading records under the new key", "public_key", dev.PublicKey.String())
		}
		r.pub = dev.PublicKey
		for _, p := range r.peers {
			p.published, p.nextPub, p.pubBackoff = time.Time{}, now, 0
			p.nextPoll, p.pollBackoff = now, pollFirst
		}
	}
	r.syncPeers(now)
	return true
}

// syncPeers follows the device's peer list and each peer's counters.
func (r *runner) syncPeers(now time.Time) {
	want := map[wgtypes.Key]wg.Peer{}
	if len(r.set.ic.Peers) == 0 {
		for _, p := range r.dev.Peers {
			want[p.PublicKey] = p
		}
	} else {
		for _, k := range r.set.ic.Peers {
			p, ok := r.dev.Peer(k)
			if !ok {
				if !r.notOnDev[k] {
					r.notOnDev[k] = true
					r.log.Warn("configured peer is not on the device; skipping it until it appears", "peer", k.String())
				}
				continue
			}
			if r.notOnDev[k] {
				r.log.Info("configured peer appeared on the device", "peer", k.String())
			}
			delete(r.notOnDev, k)
			want[k] = p
		}
	}
	for k := range want {
		// Nothing can be sealed to or opened from such a key (it would
		// give an all-zero shared secret): the peer is left alone.
		if record.WeakKey(k) {
			delete(want, k)
			if !r.weak[k] {
				r.weak[k] = true
				r.log.Warn("peer's public key is zero or of small order; skipping it", "peer", k.String())
			}
		}
	}
	for k := range r.peers {
		if _, ok := want[k]; !ok {
			r.log.Info("peer left the device", "peer", k.String())
			delete(r.peers, k)
		}
	}
	for k, wp := range want {
		p, ok := r.peers[k]
		if !ok {
			p = &peer{key: k, keyText: k.String(), nextPoll: now, pollBackoff: pollFirst, nextPub: now, since: now, state: StateWaiting}
			p.path.tag = pathcheck.Tag(k)
			r.peers[k] = p
			r.observe(p, wp, now, true)
		} else {
			r.observe(p, wp, now, false)
		}
		p.ping = r.set.ic.Ping[k]
	}
}

// observe takes in a fresh reading of a peer and works out why its endpoint
// changed: WireGuard roams to where authenticated packets come from, so a
// change without new received bytes was made by someone else (wg set,
// wg setconf, netifd, a VyOS commit).
func (r *runner) observe(p *peer, wp wg.Peer, now time.Time, first bool) {
	old := p.wg
	p.wg = wp
	prevRead := p.lastRead
	p.lastRead = now
	if first {
		p.lastRx, p.rxFrom = now, now
		return
	}
	if wp.RxBytes > old.RxBytes {
		p.lastRx, p.rxFrom = now, prevRead
	}
	reset := wp.RxBytes < old.RxBytes || !old.LastHandshake.IsZero() && wp.LastHandshake.IsZero()
	if reset {
		r.log.Info("peer was re-created on the device (counters and handshake reset)", "peer", p.key.String())
	}
	if wp.Endpoint == old.Endpoint {
		return
	}
	switch {
	case !wp.Endpoint.IsValid():
		p.external = true
		r.log.Info("peer's endpoint was removed by someone else", "peer", p.key.String(), "was", old.Endpoint)
	case wp.RxBytes > old.RxBytes && !reset:
		p.external, p.roamed = false, now
		r.log.Debug("WireGuard roamed the peer", "peer", p.key.String(), "endpoint", wp.Endpoint, "was", old.Endpoint)
	default:
		p.external = true
		r.log.Info("peer's endpoint was changed by someone else", "peer", p.key.String(), "endpoint", wp.Endpoint, "was", old.Endpoint)
	}
}
