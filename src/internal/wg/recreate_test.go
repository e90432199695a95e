package wg

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestRecreateFlow(t *testing.T) {
	a, b := wgtypes.Key{0xa}, wgtypes.Key{0xb}
	ep := netip.MustParseAddrPort("203.0.113.9:40000")
	hs := time.Unix(1700000000, 0)
	dev := func() *wgtypes.Device {
		return &wgtypes.Device{Name: "wg0", Peers: []wgtypes.Peer{
			{PublicKey: a, AllowedIPs: cidrs(t, "10.0.0.1/32")},
			{PublicKey: b, PresharedKey: wgtypes.Key{5}, PersistentKeepaliveInterval: 15 * time.Second,
				AllowedIPs: cidrs(t, "10.0.0.2/32", "fd00::2/128"), LastHandshakeTime: hs, ReceiveBytes: 92},
		}}
	}
	tests := []struct {
		name     string
		goos     string
		dev      *wgtypes.Device
		peer     wgtypes.Key
		seen     Peer
		want     bool
		wantSent []wgtypes.Config
		wantErr  error
	}{
		{name: "never a handshake: re-created", goos: "linux", dev: dev(), peer: a, want: true,
			wantSent: []wgtypes.Config{recreateConfig(dev().Peers[0], ep)}},
		{name: "handshake and counter unchanged since seen: re-created", goos: "linux", dev: dev(), peer: b, seen: Peer{LastHandshake: hs, RxBytes: 92}, want: true,
			wantSent: []wgtypes.Config{recreateConfig(dev().Peers[1], ep)}},
		{name: "a handshake came in meanwhile: left alone", goos: "linux", dev: dev(), peer: b, seen: Peer{RxBytes: 92}, wantErr: ErrLiveSession},
		{name: "an initiation came in meanwhile (no handshake time yet): left alone", goos: "linux", dev: answered(a), peer: a, wantErr: ErrLiveSession},
		{name: "freebsd with a preshared key: re-created", goos: "freebsd", dev: dev(), peer: b, seen: Peer{LastHandshake: hs, RxBytes: 92}, want: true,
			wantSent: []wgtypes.Config{recreateConfig(dev().Peers[1], ep)}},
		{name: "freebsd zero preshared key may be hidden: set in place", goos: "freebsd", dev: dev(), peer: a,
			wantSent: []wgtypes.Config{endpointConfig("freebsd", dev().Peers[0], ep)}},
		{name: "absent peer stays absent", goos: "linux", dev: dev(), peer: wgtypes.Key{0xc}},
		{name: "257 allowed IPs would take two netlink messages: set in place", goos: "linux", dev: manyIPs(a, 257), peer: a,
			wantSent: []wgtypes.Config{endpointConfig("linux", manyIPs(a, 257).Peers[0], ep)}},
		{name: "256 allowed IPs fit one message: re-created", goos: "linux", dev: manyIPs(a, 256), peer: a, want: true,
			wantSent: []wgtypes.Config{recreateConfig(manyIPs(a, 256).Peers[0], ep)}},
		{name: "missing device", goos: "linux", peer: a, wantErr: ErrNoDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &memBackend{dev: tt.dev}
			got, err := recreate(tt.goos, m, "wg0", tt.peer, ep, tt.seen)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("re-created %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(m.sent, tt.wantSent) {
				t.Fatalf("sent %+v\nwant %+v", m.sent, tt.wantSent)
			}
		})
	}
}

// answered is a device whose one peer k answered a handshake initiation
// (148 bytes in, roamed to where it came from) and waits for the
// initiator's first data packet, so it has no handshake time yet.
func answered(k wgtypes.Key) *wgtypes.Device {
	from := &net.UDPAddr{IP: net.IPv4(203, 0, 113, 20).To4(), Port: 22526}
	return &wgtypes.Device{Name: "wg0", Peers: []wgtypes.Peer{{PublicKey: k, Endpoint: from, ReceiveBytes: 148, TransmitBytes: 92}}}
}

// manyIPs is a device whose one peer k has n allowed IPs, 10.0.x.y/32.
func manyIPs(k wgtypes.Key, n int) *wgtypes.Device {
	p := wgtypes.Peer{PublicKey: k}
	for i := range n {
		p.AllowedIPs = append(p.AllowedIPs, net.IPNet{IP: net.IPv4(10, 0, byte(i>>8), byte(i)).To4(), Mask: net.CIDRMask(32, 32)})
	}
	return &wgtypes.Device{Name: "wg0", Peers: []wgtypes.Peer{p}}
}

// TestRecreateConfig checks, independently of recreateConfig's own code,
// that the change removes the peer first and adds it back with everything
// a user configured.
func TestRecreateConfig(t *testing.T) {
	k := wgtypes.Key{0xb}
	ep := netip.MustParseAddrPort("[::ffff:198.51.100.4]:51820")
	tests := []struct {
		name string
		cur  wgtypes.Peer
		psk  *wgtypes.Key
		ka   time.Duration
		ips  []string
	}{
		{name: "keepalive, preshared key, two families in order",
			cur: wgtypes.Peer{PublicKey: k, PresharedKey: wgtypes.Key{5}, PersistentKeepaliveInterval: 25 * time.Second,
				AllowedIPs: cidrs(t, "fd00::2/128", "10.0.0.2/32", "10.1.0.0/16")},
			psk: &wgtypes.Key{5}, ka: 25 * time.Second, ips: []string{"fd00::2/128", "10.0.0.2/32", "10.1.0.0/16"}},
		{name: "no keepalive, no preshared key, no allowed IPs", cur: wgtypes.Peer{PublicKey: k}, ips: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := recreateConfig(tt.cur, ep)
			if cfg.PrivateKey != nil || cfg.ListenPort != nil || cfg.FirewallMark != nil || cfg.ReplacePeers || len(cfg.Peers) != 2 {
				t.Fatalf("config touches more than the peer: %+v", cfg)
			}
			rm, add := cfg.Peers[0], cfg.Peers[1]
			if rm.PublicKey != k || !rm.Remove || rm.UpdateOnly || rm.Endpoint != nil || len(rm.AllowedIPs) != 0 {
				t.Fatalf("first change is not a bare removal: %s", showPeerConfig(rm))
			}
			if add.PublicKey != k || add.Remove || add.UpdateOnly || !add.ReplaceAllowedIPs ||
				add.Endpoint == nil || add.Endpoint.AddrPort() != netip.MustParseAddrPort("198.51.100.4:51820") {
				t.Fatalf("second change is not a full add with the endpoint: %s", showPeerConfig(add))
			}
			if !reflect.DeepEqual(add.PresharedKey, tt.psk) {
				t.Fatalf("preshared key %v, want %v", add.PresharedKey, tt.psk)
			}
			if add.PersistentKeepaliveInterval == nil || *add.PersistentKeepaliveInterval != tt.ka {
				t.Fatalf("keepalive %v, want %v", add.PersistentKeepaliveInterval, tt.ka)
			}
			got := []string{}
			for _, n := range add.AllowedIPs {
				got = append(got, n.String())
			}
			if !reflect.DeepEqual(got, tt.ips) {
				t.Fatalf("allowed IPs %v, want %v in that order", got, tt.ips)
			}
			// The copy must not alias what was read.
			if len(tt.cur.AllowedIPs) > 0 {
				add.AllowedIPs[0].IP[0] ^= 0xff
				if tt.cur.AllowedIPs[0].String() != tt.ips[0] {
					t.Fatal("allowed IPs alias the peer that was read")
				}
			}
		})
	}
}
