package daemon

import (
	"context"
	"net/netip"
	"slices"

	"github.com/wgstun/wgstun/src/internal/config"
)

func (r *runner) startPinger(ctx context.Context) {
	if len(r.set.ic.Ping) == 0 || r.d.deps.NewPinger == nil {
		return
	}
	pg, err := r.d.deps.NewPinger(r.set.ic.Name, r.set.ic.PingInterval)
	if err != nil {
		r.log.Warn("ping watch unavailable; watching handshakes only", "err", err)
		return
	}
	r.pinger = pg
	r.pinger.SetTargets(pingTargets(r.set.ic))
	pctx, cancel := context.WithCancel(ctx)
	r.pingStop = cancel
	go r.pinger.Run(pctx)
}

func (r *runner) stopPinger() {
	if r.pingStop != nil {
		r.pingStop()
	}
	r.pinger, r.pingStop = nil, nil
}

func pingTargets(ic config.Interface) []netip.Addr {
	out := make([]netip.Addr, 0, len(ic.Ping))
	for _, a := range ic.Ping {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}
