package daemon

import (
	"context"
	"net/netip"
	"sync/atomic"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/natcheck"
	"github.com/wgstun/wgstun/src/internal/portmap"
)

// mappingState is the gateway port mapping of WireGuard's port.
type mappingState struct {
	pm     PortMapper                 // nil unless port_mapping is on and the port is known
	stop   context.CancelFunc         // ends pm's Run
	done   chan struct{}              // closed when pm's Run has returned
	status portmap.Status             // what pm said last
	hint   atomic.Pointer[netip.Addr] // STUN server that answered last (IPv4), for pm
}

// startMapper starts the gateway port mapping of WireGuard's port when
// the configuration asks for it (IPv4 only: NAT-PMP is IPv4, and an IPv6
// address needs no mapping).
func (r *runner) startMapper() {
	if r.mapping.pm != nil || r.paths.port == 0 || r.set.ic.PortMapping == config.PortMapOff || r.set.ic.PortMapping == "" ||
		!r.set.ic.Family.V4() || r.d.deps.NewPortMapper == nil || r.ctx == nil {
		return
	}
	pm, err := r.d.deps.NewPortMapper(r.set.ic, r.paths.port, r.gatewayHint, r.log.With("port_mapping", r.set.ic.PortMapping))
	if err != nil {
		r.log.Warn("port mapping unavailable; publishing what STUN sees", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	r.mapping.pm, r.mapping.stop, r.mapping.done = pm, cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		pm.Run(ctx)
	}(r.mapping.done)
}

// stopMapper stops the port mapper, which deletes the mapping (one
// bounded try) before it returns, and falls back to STUN's mapping.
func (r *runner) stopMapper() {
	if r.mapping.pm == nil {
		return
	}
	r.mapping.stop()
	<-r.mapping.done
	r.mapping.pm, r.mapping.stop, r.mapping.done = nil, nil, nil
	if r.mapping.status.Mapped() {
		r.mapping.status = portmap.Status{}
		r.beginCycle(r.now(), true)
	}
	r.mapping.status = portmap.Status{}
}

func (r *runner) gatewayHint() netip.Addr {
	if a := r.mapping.hint.Load(); a != nil {
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
	if r.mapping.pm == nil {
		return
	}
	st := r.mapping.pm.Status()
	old := r.mapping.status
	r.mapping.status = st
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
	if r.mapping.status.Mapped() && r.mapping.status.External.Addr().Is4() {
		return r.mapping.status.External
	}
	return r.disc.mapped[0]
}

// effectiveClass is this side's NAT as peers meet it: with a gateway
// mapping, open to every sender like an endpoint-independent mapping with
// endpoint-independent filtering; otherwise what discovery found.
func (r *runner) effectiveClass() natcheck.Class {
	if r.mapping.status.Mapped() {
		return natcheck.Class{Mapping: natcheck.EndpointIndependent, Filtering: natcheck.FilterNone}
	}
	return r.disc.class
}
