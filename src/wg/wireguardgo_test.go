//go:build linux

package wg

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// wgoLab is a real wireguard-go in a network namespace of its own.
type wgoLab struct {
	ifname string
	c      *Client
	run    func(args ...string) string
}

// startWireguardGo starts wireguard-go as tag in a fresh namespace and
// waits (bounded) until its UAPI socket answers.
func startWireguardGo(t *testing.T, tag string) *wgoLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a tun device")
	}
	for _, tool := range []string{"ip", "wireguard-go", "wg"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing in CI: %v", tool, err)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	ns := fmt.Sprintf("wg%s%d", tag, os.Getpid()%100000)
	ifname := ns
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", ns).Run()
		os.Remove("/var/run/wireguard/" + ifname + ".sock")
	})
	wgo := exec.Command("ip", "netns", "exec", ns, "wireguard-go", "-f", ifname)
	if err := wgo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wgo.Process.Kill(); wgo.Wait() })

	c, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = c.Device(ifname)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("wireguard-go did not come up: %v", err)
	}
	return &wgoLab{ifname: ifname, c: c, run: run}
}

func writeSecret(t *testing.T, k wgtypes.Key) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "key")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(k.String()); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// TestSetEndpointOnWireguardGo checks, through wireguard-go's UAPI socket,
// that SetEndpoint changes the endpoint and nothing else.
func TestSetEndpointOnWireguardGo(t *testing.T) {
	l := startWireguardGo(t, "t")
	c, ifname, run := l.c, l.ifname, l.run

	priv, _ := wgtypes.GeneratePrivateKey()
	peer, _ := wgtypes.GeneratePrivateKey()
	psk, _ := wgtypes.GenerateKey()
	run("wg", "set", ifname, "private-key", writeSecret(t, priv), "listen-port", "51999", "fwmark", "0x77",
		"peer", peer.PublicKey().String(), "allowed-ips", "10.9.0.2/32,fd00::2/128",
		"persistent-keepalive", "25", "preshared-key", writeSecret(t, psk))
	before := run("wg", "showconf", ifname)

	ep := netip.MustParseAddrPort("203.0.113.9:40000")
	if err := c.SetEndpoint(ifname, peer.PublicKey(), ep); err != nil {
		t.Fatal(err)
	}
	after := run("wg", "showconf", ifname)
	if !strings.Contains(after, "Endpoint = 203.0.113.9:40000\n") ||
		!strings.Contains(before, "PresharedKey") || withoutEndpoint(after) != withoutEndpoint(before) {
		t.Fatalf("config changed beyond the endpoint:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	d, err := c.Device(ifname)
	if err != nil {
		t.Fatal(err)
	}
	if d.ListenPort != 51999 || d.Mark != 0x77 || d.PublicKey != priv.PublicKey() {
		t.Fatalf("device: %+v", d)
	}
	p, ok := d.Peer(peer.PublicKey())
	if !ok || p.Endpoint != ep || p.Keepalive != 25*time.Second {
		t.Fatalf("peer: %+v", p)
	}

	// Setting the endpoint of a peer that is not on the device must not add it.
	stranger, _ := wgtypes.GeneratePrivateKey()
	_ = c.SetEndpoint(ifname, stranger.PublicKey(), ep)
	if d, _ := c.Device(ifname); len(d.Peers) != 1 {
		t.Fatalf("update-only set added a peer: %+v", d.Peers)
	}

	if _, err := c.Device("wgnosuch0"); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("missing device: %v", err)
	}
}

// TestFreeBSDPeerConfigOnWireguardGo sends the FreeBSD form of the change
// (the whole peer restated, no UpdateOnly) through wgctrl to a real
// wireguard-go and checks that allowed IPs, keepalive and preshared key of
// every peer come out exactly as they went in, with only the endpoint
// changed. if_wg cannot run here; wireguard-go is the one WireGuard that
// takes the same PeerConfig and can.
func TestFreeBSDPeerConfigOnWireguardGo(t *testing.T) {
	l := startWireguardGo(t, "f")
	priv, _ := wgtypes.GeneratePrivateKey()
	withPSK, _ := wgtypes.GeneratePrivateKey()
	bare, _ := wgtypes.GeneratePrivateKey()
	other, _ := wgtypes.GeneratePrivateKey()
	psk, _ := wgtypes.GenerateKey()
	l.run("wg", "set", l.ifname, "private-key", writeSecret(t, priv), "listen-port", "51998",
		"peer", withPSK.PublicKey().String(), "preshared-key", writeSecret(t, psk), "persistent-keepalive", "25",
		"allowed-ips", "10.9.0.2/32,192.168.40.0/24,fd00::2/128,fd00:1::/64", "endpoint", "198.51.100.1:1",
		"peer", bare.PublicKey().String(), "allowed-ips", "10.9.0.3/32,fd00::3/128",
		"peer", other.PublicKey().String(), "allowed-ips", "10.9.0.4/32", "persistent-keepalive", "7")
	before := l.run("wg", "showconf", l.ifname)
	if strings.Count(before, "PresharedKey") != 1 || strings.Count(before, "PersistentKeepalive") != 2 {
		t.Fatalf("setup did not take:\n%s", before)
	}

	steps := []struct {
		name string
		peer wgtypes.Key
		ep   netip.AddrPort
	}{
		{name: "peer with preshared key, keepalive, four allowed IPs", peer: withPSK.PublicKey(), ep: netip.MustParseAddrPort("203.0.113.9:40000")},
		{name: "peer without preshared key or keepalive", peer: bare.PublicKey(), ep: netip.MustParseAddrPort("[2001:db8::9]:4500")},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			prev := l.run("wg", "showconf", l.ifname)
			if err := setEndpoint("freebsd", l.c.c, l.ifname, s.peer, s.ep); err != nil {
				t.Fatal(err)
			}
			after := l.run("wg", "showconf", l.ifname)
			if withoutEndpoint(after) != withoutEndpoint(prev) {
				t.Fatalf("config changed beyond the endpoint:\nbefore:\n%s\nafter:\n%s", prev, after)
			}
			d, err := l.c.Device(l.ifname)
			if err != nil {
				t.Fatal(err)
			}
			if p, _ := d.Peer(s.peer); p.Endpoint != s.ep {
				t.Fatalf("endpoint %v, want %v", p.Endpoint, s.ep)
			}
		})
	}
	after := l.run("wg", "showconf", l.ifname)
	if withoutEndpoint(after) != withoutEndpoint(before) || !strings.Contains(after, "Endpoint = 203.0.113.9:40000\n") ||
		!strings.Contains(after, "Endpoint = [2001:db8::9]:4500\n") {
		t.Fatalf("before:\n%s\nafter:\n%s", before, after)
	}
	// The wgctrl view agrees: the preshared key read back is the one set.
	d, err := l.c.c.Device(l.ifname)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Peers {
		switch p.PublicKey {
		case withPSK.PublicKey():
			if p.PresharedKey != psk || len(p.AllowedIPs) != 4 || p.PersistentKeepaliveInterval != 25*time.Second {
				t.Fatalf("peer with PSK changed: %d allowed IPs, keepalive %v, psk kept %v", len(p.AllowedIPs), p.PersistentKeepaliveInterval, p.PresharedKey == psk)
			}
		case bare.PublicKey():
			if p.PresharedKey != (wgtypes.Key{}) || len(p.AllowedIPs) != 2 || p.PersistentKeepaliveInterval != 0 {
				t.Fatalf("bare peer changed: %d allowed IPs, keepalive %v, psk set %v", len(p.AllowedIPs), p.PersistentKeepaliveInterval, p.PresharedKey != wgtypes.Key{})
			}
		}
	}
}

// withoutEndpoint drops the Endpoint lines of a wg showconf and sorts its
// sections, since wireguard-go lists peers in no fixed order.
func withoutEndpoint(s string) string {
	var sections []string
	for _, sec := range strings.Split(strings.TrimSpace(s), "\n\n") {
		var keep []string
		for _, l := range strings.Split(strings.TrimSpace(sec), "\n") {
			if !strings.HasPrefix(l, "Endpoint = ") {
				keep = append(keep, l)
			}
		}
		sections = append(sections, strings.Join(keep, "\n"))
	}
	slices.Sort(sections)
	return strings.Join(sections, "\n\n")
}
