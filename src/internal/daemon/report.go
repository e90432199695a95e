package daemon

import (
	"net/netip"
	"sort"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
)

// report publishes the runner's state to the status board.
func (r *runner) report() {
	r.sorted = r.sorted[:0]
	for _, p := range r.peers {
		r.sorted = append(r.sorted, p)
	}
	sort.Slice(r.sorted, func(i, j int) bool { return r.sorted[i].keyText < r.sorted[j].keyText })
	defer clear(r.sorted) // hold no removed peer until the next report
	peers := make([]PeerStatus, 0, len(r.sorted))
	for _, p := range r.sorted {
		ps := PeerStatus{
			PublicKey:     p.keyText,
			State:         p.state,
			Reason:        p.reason,
			Published:     p.published,
			Endpoint:      p.wg.Endpoint,
			SetAt:         p.setAt,
			Recreated:     p.recreated,
			RecreatedWhy:  p.recreatedWhy,
			LastHandshake: p.wg.LastHandshake,
			LastError:     p.lastErr,
		}
		if p.haveRec {
			ps.Record, ps.RecordTime, ps.PeerNAT = p.cand, p.rec.Time, p.rec.NAT
		}
		if !p.path.checked.IsZero() {
			ps.Path, ps.PathKind, ps.PathChecked = p.path.inUse, p.path.kind, p.path.checked
			ps.PathRTT = float64(p.path.rtt.Microseconds()) / 1000
		}
		if p.ping.IsValid() && r.ping.pinger != nil {
			pr := r.ping.pinger.Result(p.ping)
			ps.Ping = p.ping.String()
			ps.PingSent = pr.Sent
			if pr.Sent > 0 {
				ps.PingLoss = pr.Loss()
			}
			if !pr.LastReply.IsZero() {
				ps.PingRTT = float64(pr.RTT.Microseconds()) / 1000
			}
			ps.PingError = pr.Err
		}
		switch {
		case !p.wg.Endpoint.IsValid():
		case p.setAt.IsZero():
			ps.EndpointFrom = "device (not set by wgstun)"
		case p.wg.Endpoint == p.cand:
			ps.EndpointFrom = "peer's record"
		case p.external:
			ps.EndpointFrom = "set by someone else"
		default:
			ps.EndpointFrom = "WireGuard roaming (the peer's packets came from here)"
		}
		peers = append(peers, ps)
	}
	r.d.board.update(r.set.ic.Name, func(s *InterfaceStatus) {
		s.State, s.Reason = "up", ""
		s.PublicKey = r.dev.PublicKey.String()
		s.ListenPort = r.dev.ListenPort
		s.Store = r.set.ic.Store
		s.StoreError = r.jobs.storeErr
		s.IPv4, s.IPv6, s.NAT = r.disc.mapped[0], r.disc.mapped[1], r.disc.class.Hint()
		s.STUNServer = ""
		for _, sv := range r.disc.server {
			if sv.IsValid() {
				s.STUNServer = sv.String()
				break
			}
		}
		s.Discovered = r.disc.at
		s.LastError = r.disc.err
		s.PortMapping, s.PortMapProtocol, s.PortMapGateway = "", "", ""
		s.PortMapExternal, s.PortMapExpires, s.PortMapError = netip.AddrPort{}, time.Time{}, ""
		if r.set.ic.PortMapping != config.PortMapOff && r.set.ic.PortMapping != "" {
			s.PortMapping = r.set.ic.PortMapping
			m := r.mapping.status
			if m.Protocol != 0 {
				s.PortMapProtocol = m.Protocol.String()
			}
			if m.Gateway.IsValid() {
				s.PortMapGateway = m.Gateway.String()
			}
			s.PortMapExternal, s.PortMapExpires, s.PortMapError = m.External, m.Expires, m.Err
			if r.mapping.pm == nil && m.Err == "" {
				s.PortMapError = "not running (needs IPv4 and WireGuard's port)"
			}
		}
		s.ChecksAnswered, s.ChecksDropped, s.ChecksLimited = r.checks.answered, r.checks.dropped, r.checks.limited
		s.Missing = nil // snapshots share the old slice
		for k := range r.notOnDev {
			s.Missing = append(s.Missing, k.String())
		}
		sort.Strings(s.Missing)
		s.Peers = peers
	})
}
