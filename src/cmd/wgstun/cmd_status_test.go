package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/daemon"
)

func TestPrintStatusPortMapping(t *testing.T) {
	now := time.Now()
	base := daemon.InterfaceStatus{Name: "wg0", State: "up", ListenPort: 51820, Store: "s",
		IPv4: netip.MustParseAddrPort("203.0.113.10:40001"), NAT: "apdm+apdf", STUNServer: "198.51.100.1:3478",
		Discovered: now, PortMapping: "auto"}
	mapped := base
	mapped.PortMapProtocol, mapped.PortMapGateway = "NAT-PMP", "192.168.10.1"
	mapped.PortMapExternal = netip.MustParseAddrPort("203.0.113.10:51820")
	mapped.PortMapExpires = now.Add(time.Hour + 30*time.Second)
	refused := base
	refused.PortMapProtocol, refused.PortMapGateway = "PCP", "192.168.10.1"
	refused.PortMapError = "gateway 192.168.10.1 reports ADDRESS_MISMATCH: we are behind another NAT (CGNAT?); port mapping cannot help"
	tests := []struct {
		name string
		ifc  daemon.InterfaceStatus
		want []string
	}{
		{name: "mapped", ifc: mapped, want: []string{
			"  published 203.0.113.10:51820 (gateway port mapping)\n",
			"  STUN sees 203.0.113.10:40001 (from 198.51.100.1:3478, 0s ago, NAT symmetric: address-and-port-dependent mapping, address-and-port-dependent filtering)\n",
			"  port mapping (auto): NAT-PMP via gateway 192.168.10.1, external 203.0.113.10:51820, 1h0m",
		}},
		{name: "refused", ifc: refused, want: []string{
			"  published 203.0.113.10:40001 (from 198.51.100.1:3478",
			"  port mapping (auto): none: gateway 192.168.10.1 reports ADDRESS_MISMATCH: we are behind another NAT (CGNAT?); port mapping cannot help\n",
		}},
		{name: "starting", ifc: base, want: []string{"  port mapping (auto): none yet\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printStatus(&b, &daemon.Status{Version: "t", Started: now, Interfaces: []daemon.InterfaceStatus{tt.ifc}})
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("missing %q in\n%s", w, b.String())
				}
			}
		})
	}
	var b strings.Builder
	printStatus(&b, &daemon.Status{Version: "t", Started: now, Interfaces: []daemon.InterfaceStatus{{Name: "wg0", State: "up", Peers: []daemon.PeerStatus{}}}})
	if strings.Contains(b.String(), "port mapping") {
		t.Errorf("port mapping shown while off:\n%s", b.String())
	}
}

// TestStatusNATWords: `wgstun status` names this side's NAT as nat-check
// does and prints the peer's reason, which says why no direct path exists.
func TestStatusNATWords(t *testing.T) {
	for _, tt := range []struct{ hint, want string }{
		{"eim+apdf", "NAT port-restricted cone: endpoint-independent mapping, address-and-port-dependent filtering)"},
		{"symmetric", "NAT symmetric)"},
		{"cone", "NAT cone)"},
		{"something-new", "NAT something-new)"},
	} {
		t.Run(tt.hint, func(t *testing.T) {
			why := "no direct path: the peer is symmetric (address-and-port-dependent mapping) and this side filters by address and port; enable port_mapping on either gateway or use a relay"
			st := daemon.Status{Interfaces: []daemon.InterfaceStatus{{
				Name: "wg0", State: "up", IPv4: netip.MustParseAddrPort("203.0.113.10:51820"), NAT: tt.hint,
				Peers: []daemon.PeerStatus{{PublicKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", State: daemon.StateImpossible, Reason: why}},
			}}}
			var b strings.Builder
			printStatus(&b, &st)
			if !strings.Contains(b.String(), tt.want) || !strings.Contains(b.String(), "AAAAAAAA… impossible: "+why) {
				t.Errorf("status lacks %q or the reason:\n%s", tt.want, b.String())
			}
		})
	}
}

// TestStatusRecreated: a peer wgstun re-created says when and why, in words;
// one it did not re-create says nothing of it.
func TestStatusRecreated(t *testing.T) {
	now := time.Now()
	st := daemon.Status{Interfaces: []daemon.InterfaceStatus{{Name: "wg0", State: "up", Peers: []daemon.PeerStatus{
		{PublicKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", State: daemon.StateConnected,
			Recreated: now.Add(-3 * time.Second), RecreatedWhy: "no handshake yet"},
		{PublicKey: "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=", State: daemon.StateConnected},
	}}}}
	var b strings.Builder
	printStatus(&b, &st)
	want := "  AAAAAAAA… re-created 3s ago with its endpoint (no handshake yet), so WireGuard handshook at once instead of after its 5 s retry\n"
	if !strings.Contains(b.String(), want) || strings.Contains(b.String(), "BBBBBBBB… re-created") {
		t.Errorf("want %q once in\n%s", want, b.String())
	}
}
