package wg

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func cidrs(t *testing.T, ss ...string) []net.IPNet {
	t.Helper()
	var out []net.IPNet
	for _, s := range ss {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *n)
	}
	return out
}

func dur(d time.Duration) *time.Duration { return &d }
func key(k wgtypes.Key) *wgtypes.Key     { return &k }

func TestEndpointConfig(t *testing.T) {
	pub := wgtypes.Key{1, 2, 3}
	psk := wgtypes.Key{9, 8, 7, 6}
	ep := netip.MustParseAddrPort("203.0.113.7:51820")
	full := wgtypes.Peer{
		PublicKey:                   pub,
		PresharedKey:                psk,
		Endpoint:                    &net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 1},
		PersistentKeepaliveInterval: 25 * time.Second,
		LastHandshakeTime:           time.Unix(1700000000, 0),
		ReceiveBytes:                1000,
		TransmitBytes:               2000,
		AllowedIPs:                  cidrs(t, "10.9.0.2/32", "192.168.40.0/24", "fd00::2/128", "fd00:1::/64"),
	}
	updateOnly := wgtypes.PeerConfig{PublicKey: pub, UpdateOnly: true, Endpoint: net.UDPAddrFromAddrPort(ep)}
	tests := []struct {
		name string
		goos string
		cur  wgtypes.Peer
		ep   netip.AddrPort
		want wgtypes.PeerConfig
	}{
		{name: "linux sends the endpoint only", goos: "linux", cur: full, ep: ep, want: updateOnly},
		{name: "darwin sends the endpoint only", goos: "darwin", cur: full, ep: ep, want: updateOnly},
		{name: "windows sends the endpoint only", goos: "windows", cur: full, ep: ep, want: updateOnly},
		{name: "openbsd sends the endpoint only", goos: "openbsd", cur: full, ep: ep, want: updateOnly},
		{
			name: "freebsd restates the peer with a preshared key",
			goos: "freebsd", cur: full, ep: ep,
			want: wgtypes.PeerConfig{
				PublicKey:                   pub,
				PresharedKey:                key(psk),
				Endpoint:                    net.UDPAddrFromAddrPort(ep),
				PersistentKeepaliveInterval: dur(25 * time.Second),
				ReplaceAllowedIPs:           true,
				AllowedIPs:                  cidrs(t, "10.9.0.2/32", "192.168.40.0/24", "fd00::2/128", "fd00:1::/64"),
			},
		},
		{
			name: "freebsd leaves a zero preshared key alone and keeps keepalive off",
			goos: "freebsd",
			cur:  wgtypes.Peer{PublicKey: pub, AllowedIPs: cidrs(t, "10.9.0.3/32", "fd00::3/128")},
			ep:   netip.MustParseAddrPort("[2001:db8::7]:4500"),
			want: wgtypes.PeerConfig{
				PublicKey:                   pub,
				Endpoint:                    net.UDPAddrFromAddrPort(netip.MustParseAddrPort("[2001:db8::7]:4500")),
				PersistentKeepaliveInterval: dur(0),
				ReplaceAllowedIPs:           true,
				AllowedIPs:                  cidrs(t, "10.9.0.3/32", "fd00::3/128"),
			},
		},
		{
			name: "freebsd keeps an empty allowed-ips list empty",
			goos: "freebsd",
			cur:  wgtypes.Peer{PublicKey: pub, PersistentKeepaliveInterval: time.Second},
			ep:   netip.MustParseAddrPort("[::ffff:203.0.113.8]:9"),
			want: wgtypes.PeerConfig{
				PublicKey:                   pub,
				Endpoint:                    &net.UDPAddr{IP: net.IP{203, 0, 113, 8}, Port: 9},
				PersistentKeepaliveInterval: dur(time.Second),
				ReplaceAllowedIPs:           true,
				AllowedIPs:                  []net.IPNet{},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := endpointConfig(tt.goos, tt.cur, tt.ep)
			if cfg.PrivateKey != nil || cfg.ListenPort != nil || cfg.FirewallMark != nil || cfg.ReplacePeers {
				t.Fatalf("device fields set: %+v", cfg)
			}
			if len(cfg.Peers) != 1 {
				t.Fatalf("want one peer, got %+v", cfg.Peers)
			}
			got := cfg.Peers[0]
			if got.Remove {
				t.Fatal("peer marked for removal")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("peer config\n got %s\nwant %s", showPeerConfig(got), showPeerConfig(tt.want))
			}
		})
	}
}

func TestEndpointConfigDoesNotAlias(t *testing.T) {
	cur := wgtypes.Peer{PublicKey: wgtypes.Key{1}, PresharedKey: wgtypes.Key{2}, AllowedIPs: cidrs(t, "10.0.0.0/8")}
	cfg := endpointConfig("freebsd", cur, netip.MustParseAddrPort("192.0.2.1:1"))
	cur.AllowedIPs[0].IP[0] = 11
	cur.PresharedKey[0] = 3
	p := cfg.Peers[0]
	if p.AllowedIPs[0].String() != "10.0.0.0/8" || *p.PresharedKey != (wgtypes.Key{2}) {
		t.Fatalf("config shares memory with the peer read: %s", showPeerConfig(p))
	}
}

func showPeerConfig(p wgtypes.PeerConfig) string {
	s := "{pub " + p.PublicKey.String()
	if p.PresharedKey != nil {
		s += " psk " + p.PresharedKey.String()
	}
	if p.Endpoint != nil {
		s += " ep " + p.Endpoint.String()
	}
	if p.PersistentKeepaliveInterval != nil {
		s += " ka " + p.PersistentKeepaliveInterval.String()
	}
	for _, n := range p.AllowedIPs {
		s += " aip " + n.String()
	}
	if p.AllowedIPs == nil {
		s += " aip-nil"
	}
	if p.ReplaceAllowedIPs {
		s += " replace"
	}
	if p.UpdateOnly {
		s += " update-only"
	}
	return s + "}"
}

// memBackend is an in-memory device for the read-then-configure flow.
type memBackend struct {
	dev   *wgtypes.Device // nil: no device
	reads int
	sent  []wgtypes.Config
}

func (m *memBackend) Device(name string) (*wgtypes.Device, error) {
	m.reads++
	if m.dev == nil || m.dev.Name != name {
		return nil, os.ErrNotExist
	}
	return m.dev, nil
}

func (m *memBackend) ConfigureDevice(name string, cfg wgtypes.Config) error {
	if m.dev == nil || m.dev.Name != name {
		return os.ErrNotExist
	}
	m.sent = append(m.sent, cfg)
	return nil
}

func TestSetEndpointFlow(t *testing.T) {
	a, b := wgtypes.Key{0xa}, wgtypes.Key{0xb}
	ep := netip.MustParseAddrPort("203.0.113.9:40000")
	dev := func() *wgtypes.Device {
		return &wgtypes.Device{Name: "wg0", Peers: []wgtypes.Peer{
			{PublicKey: a, AllowedIPs: cidrs(t, "10.0.0.1/32")},
			{PublicKey: b, PresharedKey: wgtypes.Key{5}, PersistentKeepaliveInterval: 15 * time.Second, AllowedIPs: cidrs(t, "10.0.0.2/32", "fd00::2/128")},
		}}
	}
	tests := []struct {
		name      string
		goos      string
		dev       *wgtypes.Device
		iface     string
		peer      wgtypes.Key
		wantReads int
		wantSent  []wgtypes.Config
		wantErr   error
	}{
		{name: "linux configures without reading", goos: "linux", dev: dev(), iface: "wg0", peer: b,
			wantSent: []wgtypes.Config{endpointConfig("linux", wgtypes.Peer{PublicKey: b}, ep)}},
		{name: "freebsd reads the peer and restates it", goos: "freebsd", dev: dev(), iface: "wg0", peer: b, wantReads: 1,
			wantSent: []wgtypes.Config{endpointConfig("freebsd", dev().Peers[1], ep)}},
		{name: "freebsd leaves an absent peer absent", goos: "freebsd", dev: dev(), iface: "wg0", peer: wgtypes.Key{0xc}, wantReads: 1},
		{name: "freebsd missing device", goos: "freebsd", iface: "wg0", peer: b, wantReads: 1, wantErr: ErrNoDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &memBackend{dev: tt.dev}
			err := setEndpoint(tt.goos, m, tt.iface, tt.peer, ep)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if m.reads != tt.wantReads {
				t.Fatalf("%d device reads, want %d", m.reads, tt.wantReads)
			}
			if !reflect.DeepEqual(m.sent, tt.wantSent) {
				t.Fatalf("sent %+v\nwant %+v", m.sent, tt.wantSent)
			}
		})
	}
	// Independently of endpointConfig: what FreeBSD gets for peer b.
	m := &memBackend{dev: dev()}
	if err := setEndpoint("freebsd", m, "wg0", b, ep); err != nil || len(m.sent) != 1 {
		t.Fatalf("err %v, sent %+v", err, m.sent)
	}
	p := m.sent[0].Peers[0]
	if p.UpdateOnly || p.PresharedKey == nil || *p.PresharedKey != (wgtypes.Key{5}) ||
		p.PersistentKeepaliveInterval == nil || *p.PersistentKeepaliveInterval != 15*time.Second ||
		!p.ReplaceAllowedIPs || len(p.AllowedIPs) != 2 || p.AllowedIPs[0].String() != "10.0.0.2/32" ||
		p.AllowedIPs[1].String() != "fd00::2/128" || p.Endpoint.AddrPort() != ep {
		t.Fatalf("freebsd config does not restate peer b: %s", showPeerConfig(p))
	}
}

func TestUtunName(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	sock := func(mt time.Time) *fstest.MapFile { return &fstest.MapFile{Mode: fs.ModeSocket | 0o755, ModTime: mt} }
	name := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o400, ModTime: t0} }
	tests := []struct {
		name    string
		fs      fstest.MapFS
		in      string
		want    string
		wantErr error // nil: no error; errAny: some error other than ErrNoDevice
	}{
		{name: "explicit utun without name file", fs: fstest.MapFS{"utun3.sock": sock(t0)}, in: "utun3", want: "utun3"},
		{name: "no name file keeps the name", fs: fstest.MapFS{}, in: "wg0", want: "wg0"},
		{name: "wg-quick name file with newline", fs: fstest.MapFS{"wg0.name": name("utun3\n"), "utun3.sock": sock(t0)}, in: "wg0", want: "utun3"},
		{name: "name file without newline", fs: fstest.MapFS{"wg0.name": name("utun7"), "utun7.sock": sock(t0.Add(time.Second))}, in: "wg0", want: "utun7"},
		{name: "socket 1s older still counts", fs: fstest.MapFS{"wg0.name": name("utun3\n"), "utun3.sock": sock(t0.Add(-time.Second))}, in: "wg0", want: "utun3"},
		{name: "socket 2s newer is stale", fs: fstest.MapFS{"wg0.name": name("utun3\n"), "utun3.sock": sock(t0.Add(2 * time.Second))}, in: "wg0", wantErr: ErrNoDevice},
		{name: "socket 5s older is stale", fs: fstest.MapFS{"wg0.name": name("utun3\n"), "utun3.sock": sock(t0.Add(-5 * time.Second))}, in: "wg0", wantErr: ErrNoDevice},
		{name: "named utun has no socket", fs: fstest.MapFS{"wg0.name": name("utun3\n"), "utun4.sock": sock(t0)}, in: "wg0", wantErr: ErrNoDevice},
		{name: "named utun socket is a plain file", fs: fstest.MapFS{"wg0.name": name("utun3\n"), "utun3.sock": {ModTime: t0}}, in: "wg0", wantErr: ErrNoDevice},
		{name: "empty name file", fs: fstest.MapFS{"wg0.name": name("\n")}, in: "wg0", wantErr: errAny},
		{name: "name file with a path", fs: fstest.MapFS{"wg0.name": name("../../etc/passwd\n")}, in: "wg0", wantErr: errAny},
		{name: "name file too long", fs: fstest.MapFS{"wg0.name": name("utun1234567890123\n")}, in: "wg0", wantErr: errAny},
		{name: "configured name with a slash", fs: fstest.MapFS{}, in: "a/b", wantErr: errAny},
		{name: "configured name empty", fs: fstest.MapFS{}, in: "", wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := utunName(tt.fs, tt.in)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr == errAny && (err == nil || errors.Is(err, ErrNoDevice)):
				t.Fatalf("want a bad-name error, got %q, %v", got, err)
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("want %v, got %q, %v", tt.wantErr, got, err)
			case tt.wantErr == nil && got != tt.want:
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error but ErrNoDevice")

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
