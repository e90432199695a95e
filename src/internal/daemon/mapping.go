package daemon

import (
	"context"
	"net/netip"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/natcheck"
	"github.com/wgstun/wgstun/src/internal/portmap"
)

// startMapper starts the gateway port mapping of WireGuard's port when
// the configuration asks for it (IPv4 only: NAT-PMP is IPv4, and an IPv6
// address needs no mapping).
func (r *runner) startMapper() {
	if r.pm != nil || r.paths.port == 0 || r.set.ic.PortMapping == config.PortMapOff || r.set.ic.PortMapping == "" ||
		!r.set.ic.Family.V4() || r.d.deps.NewPortMapper == nil || r.ctx == nil {
		return
	}
	pm, err := r.d.deps.NewPortMapper(r.set.ic, r.paths.port, r.gatewayHint, r.log.With("port_mapping", r.set.ic.PortMapping))
	if err != nil {
		r.log.Warn("port mapping unavailable; publishing what STUN sees", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	r.pm, r.pmStop, r.pmDone = pm, cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		pm.Run(ctx)
	}(r.pmDone)
}

// stopMapper stops the port mapper, which deletes the mapping (one
// bounded try) before it returns, and falls back to STUN's mapping.
func (r *runner) stopMapper() {
	if r.pm == nil {
		return
	}
	r.pmStop()
	<-r.pmDone
	r.pm, r.pmStop, r.pmDone = nil, nil, nil
	if r.mapping.Mapped() {
		r.mapping = portmap.Status{}
		r.beginCycle(r.now(), true)
	}
	r.mapping = portmap.Status{}
}

func (r *runner) gatewayHint() netip.Addr {
	if a := r.hint.Load(); a != nil {
		return *a
	}
	return netip.Addr{}
}

// mappingChanged takes in the port mapper's news. A mapping, while the
// gateway grants it, is what this side publishes for IPv4: it lets in
// packets from any address and port, so even a peer behind a symmetric
// NAT reaches it, whatever this side's NAT does otherwise. Losing it falls
// back to STUN's mapping; either way every record is written again.
func (r *runner) mappingChanged() {
	if r.pm == nil {
		return
	}
	st := r.pm.Status()
	old := r.mapping
	r.mapping = st
	if st.External == old.External {
		return
	}
	switch {
	case st.Mapped():
		r.log.Info("publishing the gateway's port mapping", "endpoint", st.External, "protocol", st.Protocol.String(),
			"gateway", st.Gateway, "stun_saw", r.disc.mapped[0])
	default:
		r.log.Warn("port mapping gone; publishing what STUN sees", "endpoint", r.disc.mapped[0], "was", old.External, "err", st.Err)
	}
	r.beginCycle(r.now(), true)
}

// published4 is the IPv4 endpoint this side publishes: the gateway's
// mapping when there is one, else STUN's.
func (r *runner) published4() netip.AddrPort {
	if r.mapping.Mapped() && r.mapping.External.Addr().Is4() {
		return r.mapping.External
	}
	return r.disc.mapped[0]
}

// effectiveClass is this side's NAT as peers meet it: with a gateway
// mapping, open to every sender like an endpoint-independent mapping with
// endpoint-independent filtering; otherwise what discovery found.
func (r *runner) effectiveClass() natcheck.Class {
	if r.mapping.Mapped() {
		return natcheck.Class{Mapping: natcheck.EndpointIndependent, Filtering: natcheck.FilterNone}
	}
	return r.disc.class
}
