package daemon

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/store"
)

// settings is what a reload may change under a running runner.
type settings struct {
	ic    config.Interface
	store store.Store
	stun  []string
}

// reconfigure applies a reloaded configuration without dropping what the
// runner knows: only what changed is redone.
func (r *runner) reconfigure(ctx context.Context, s settings) {
	old := r.set
	r.set = s
	now := r.now()
	r.nextRead = now
	if old.ic.Family != s.ic.Family || !slices.Equal(old.ic.Capture, s.ic.Capture) ||
		old.ic.FIB != s.ic.FIB || old.ic.BindInterface != s.ic.BindInterface {
		r.closePaths()
		r.disc.mapped = [2]netip.AddrPort{}
	}
	if !slices.Equal(old.stun, s.stun) {
		r.disc.next = now
	}
	if old.store != s.store {
		r.jobs.storeErr = ""
		for _, p := range r.peers {
			p.published, p.nextPub, p.pubBackoff = time.Time{}, now, 0
			p.nextPoll, p.pollBackoff = now, pollFirst
		}
	}
	if old.ic.PathChecks != s.ic.PathChecks || old.ic.LANCandidates != s.ic.LANCandidates {
		// What the records say changed: the candidates, or whether
		// this side answers checks at all. Republished at once.
		r.checks.lan = r.lanCandidates()
		r.beginCycle(now, true)
	}
	if old.ic.Refresh != s.ic.Refresh && !r.disc.at.IsZero() {
		r.disc.next = r.disc.at.Add(s.ic.Refresh)
	}
	if old.ic.PortMapping != s.ic.PortMapping || old.ic.Gateway != s.ic.Gateway ||
		old.ic.MappingLifetime != s.ic.MappingLifetime || old.ic.Refresh != s.ic.Refresh {
		r.stopMapper()
		r.startMapper()
	}
	if old.ic.PingInterval != s.ic.PingInterval || (len(old.ic.Ping) == 0) != (len(s.ic.Ping) == 0) {
		r.stopPinger()
		r.startPinger(ctx)
	} else if r.ping.pinger != nil {
		r.ping.pinger.SetTargets(pingTargets(s.ic))
	}
	r.log.Info("configuration reloaded")
}
