package daemon

import (
	"context"
	"net/netip"
	"slices"

	"github.com/wgstun/wgstun/src/internal/config"
)

// pingState is the interface's ping watch, when its configuration names
// tunnel addresses to ping.
type pingState struct {
	pinger Pinger             // nil unless the watch is running
	stop   context.CancelFunc // ends pinger's Run
}

func (r *runner) startPinger(ctx context.Context) {
	if len(r.set.ic.Ping) == 0 || r.d.deps.NewPinger == nil {
		return
	}
	pg, err := r.d.deps.NewPinger(r.set.ic.Name, r.set.ic.PingInterval)
	if err != nil {
		r.log.Warn("ping watch unavailable; watching handshakes only", "err", err)
		return
	}
	r.ping.pinger = pg
	r.ping.pinger.SetTargets(pingTargets(r.set.ic))
	pctx, cancel := context.WithCancel(ctx)
	r.ping.stop = cancel
	go r.ping.pinger.Run(pctx)
}

func (r *runner) stopPinger() {
	if r.ping.stop != nil {
		r.ping.stop()
	}
	r.ping.pinger, r.ping.stop = nil, nil
}

func pingTargets(ic config.Interface) []netip.Addr {
	out := make([]netip.Addr, 0, len(ic.Ping))
	for _, a := range ic.Ping {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}
