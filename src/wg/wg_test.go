package wg

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestEndpointOnlyTouchesNothingElse(t *testing.T) {
	k := wgtypes.Key{1}
	ep := netip.MustParseAddrPort("203.0.113.7:51820")
	cfg := endpointOnly(k, ep)
	if cfg.PrivateKey != nil || cfg.ListenPort != nil || cfg.FirewallMark != nil || cfg.ReplacePeers {
		t.Fatalf("device fields set: %+v", cfg)
	}
	if len(cfg.Peers) != 1 {
		t.Fatalf("peers: %+v", cfg.Peers)
	}
	p := cfg.Peers[0]
	if p.PublicKey != k || !p.UpdateOnly || p.Remove || p.PresharedKey != nil ||
		p.PersistentKeepaliveInterval != nil || p.ReplaceAllowedIPs || len(p.AllowedIPs) != 0 {
		t.Fatalf("peer config changes more than the endpoint: %+v", p)
	}
	if p.Endpoint.AddrPort() != ep {
		t.Fatalf("endpoint %v", p.Endpoint)
	}
}

func TestFromWgtypesUnmapsEndpoints(t *testing.T) {
	hs := time.Unix(1700000000, 0)
	d := fromWgtypes(&wgtypes.Device{
		Name: "wg0", ListenPort: 51820, FirewallMark: 0x51820,
		Peers: []wgtypes.Peer{
			{PublicKey: wgtypes.Key{1}, Endpoint: &net.UDPAddr{IP: net.ParseIP("203.0.113.7"), Port: 4500}, LastHandshakeTime: hs},
			{PublicKey: wgtypes.Key{2}},
		},
	})
	if d.ListenPort != 51820 || d.Mark != 0x51820 {
		t.Fatalf("%+v", d)
	}
	p, ok := d.Peer(wgtypes.Key{1})
	if !ok || p.Endpoint != netip.MustParseAddrPort("203.0.113.7:4500") || !p.LastHandshake.Equal(hs) {
		t.Fatalf("peer 1: %+v", p)
	}
	if p, _ := d.Peer(wgtypes.Key{2}); p.Endpoint.IsValid() {
		t.Fatalf("peer 2 endpoint should be unset: %+v", p)
	}
	if _, ok := d.Peer(wgtypes.Key{3}); ok {
		t.Fatal("unknown peer found")
	}
}
