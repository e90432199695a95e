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

	"github.com/wgstun/wgstun/src/internal/e2e/netns"
)

// impls are the WireGuard implementations on Linux that the tests below
// run against, each as a subtest of its name: the same Client code talks
// generic netlink to the first and the UAPI socket to the second.
var impls = []struct {
	name  string
	start func(t *testing.T, tag string) *testDevice
}{
	{name: "kernel", start: startKernelWireGuard},
	{name: "wireguard-go", start: startWireguardGo},
}

// forEachImpl runs test as one subtest per implementation, each on a fresh
// device named after tag.
func forEachImpl(t *testing.T, tag string, test func(t *testing.T, l *testDevice)) {
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) { test(t, impl.start(t, tag)) })
	}
}

// testDevice is a WireGuard device in a network namespace of its own, with
// a Client whose netlink socket was opened inside that namespace (the UAPI
// socket is a file, so it reaches wireguard-go from any namespace).
type testDevice struct {
	ns, ifname string
	kernel     bool // a kernel link, whose peers list in the order they were added
	c          *Client
	run        func(args ...string) string
}

// newTestDevice checks that the test can run (root, and the tools: a
// missing one fails when CI is set, and skips the test otherwise) and makes
// the namespace ns, deleted when the test ends. what says what needs root.
func newTestDevice(t *testing.T, ns, ifname, what string, tools ...string) *testDevice {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and " + what)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing in CI: %v", tool, err)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return &testDevice{ns: ns, ifname: ifname, run: run}
}

// open opens the device's Client inside its namespace.
func (l *testDevice) open(t *testing.T) {
	t.Helper()
	if err := netns.Do(l.ns, func() (err error) {
		l.c, err = Open()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.c.Close() })
}

// startKernelWireGuard makes a kernel WireGuard link (ip link add type
// wireguard) in a fresh namespace. Without kernel WireGuard the test is
// skipped, unless WGSTUN_KERNEL_WG=1 says the machine has it (the guests
// set it), when that is a failure.
func startKernelWireGuard(t *testing.T, tag string) *testDevice {
	t.Helper()
	l := newTestDevice(t, fmt.Sprintf("wgk%s%d", tag, os.Getpid()%100000), "wgk"+tag,
		"a WireGuard link", "ip", "wg")
	if out, err := exec.Command("ip", "-n", l.ns, "link", "add", l.ifname, "type", "wireguard").CombinedOutput(); err != nil {
		if os.Getenv("WGSTUN_KERNEL_WG") == "1" {
			t.Fatalf("WGSTUN_KERNEL_WG=1 but no kernel WireGuard link: %v\n%s", err, out)
		}
		t.Skipf("no kernel WireGuard here: %v: %s", err, strings.TrimSpace(string(out)))
	}
	l.kernel = true
	l.open(t)
	return l
}

// startWireguardGo starts a real wireguard-go in a fresh namespace and
// waits (bounded) until its UAPI socket answers. The interface is named
// like the namespace, as the socket's path (/var/run/wireguard) is shared
// by every namespace.
func startWireguardGo(t *testing.T, tag string) *testDevice {
	t.Helper()
	ns := fmt.Sprintf("wg%s%d", tag, os.Getpid()%100000)
	l := newTestDevice(t, ns, ns, "a tun device", "ip", "wireguard-go", "wg")
	t.Cleanup(func() { os.Remove("/var/run/wireguard/" + l.ifname + ".sock") })
	wgo := exec.Command("ip", "netns", "exec", l.ns, "wireguard-go", "-f", l.ifname)
	if err := wgo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wgo.Process.Kill(); wgo.Wait() })
	l.open(t)
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for {
		_, err = l.c.Device(l.ifname)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("wireguard-go did not come up: %v", err)
	}
	return l
}

// read reads the named device from inside the namespace, where
// the index lookup (ifIndex) finds the link and Device.Index is set.
func (l *testDevice) read(t *testing.T, name string) (Device, error) {
	t.Helper()
	var d Device
	var err error
	if nerr := netns.Do(l.ns, func() error {
		d, err = l.c.Device(name)
		return nil
	}); nerr != nil {
		t.Fatal(nerr)
	}
	return d, err
}

// wg runs the wg tool inside the namespace.
func (l *testDevice) wg(args ...string) string {
	return l.run(append([]string{"ip", "netns", "exec", l.ns, "wg"}, args...)...)
}

// index is the link's interface index as ip link reports it.
func (l *testDevice) index() string {
	return strings.TrimSuffix(strings.Fields(l.run("ip", "-n", l.ns, "-o", "link", "show", l.ifname))[0], ":")
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

// TestSetEndpointOnLinuxWireGuard checks, through netlink on a kernel
// WireGuard link and through wireguard-go's UAPI socket, that SetEndpoint
// changes the endpoint and nothing else (IPv4, IPv6 and a v4-mapped
// address, which is set unmapped), that the device reads back whole (with
// the interface index ip link reports), that an update-only change adds no
// peer, and that a missing device is ErrNoDevice.
func TestSetEndpointOnLinuxWireGuard(t *testing.T) {
	forEachImpl(t, "t", func(t *testing.T, l *testDevice) {
		priv, _ := wgtypes.GeneratePrivateKey()
		peer, _ := wgtypes.GeneratePrivateKey()
		psk, _ := wgtypes.GenerateKey()
		l.wg("set", l.ifname, "private-key", writeSecret(t, priv), "listen-port", "51999", "fwmark", "0x77",
			"peer", peer.PublicKey().String(), "allowed-ips", "10.9.0.2/32,fd00::2/128",
			"persistent-keepalive", "25", "preshared-key", writeSecret(t, psk))
		before := l.wg("showconf", l.ifname)
		if !strings.Contains(before, "PresharedKey") {
			t.Fatalf("setup did not take:\n%s", before)
		}
		index := l.index()

		for _, ep := range []netip.AddrPort{
			netip.MustParseAddrPort("203.0.113.9:40000"),
			netip.MustParseAddrPort("[2001:db8::9]:4500"),
			netip.MustParseAddrPort("[::ffff:198.51.100.4]:1"),
		} {
			if err := l.c.SetEndpoint(l.ifname, peer.PublicKey(), ep); err != nil {
				t.Fatal(err)
			}
			want := netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
			after := l.wg("showconf", l.ifname)
			if !strings.Contains(after, "Endpoint = "+want.String()+"\n") || withoutEndpoint(after) != withoutEndpoint(before) {
				t.Fatalf("config changed beyond the endpoint %v:\nbefore:\n%s\nafter:\n%s", ep, before, after)
			}
			d, err := l.read(t, l.ifname)
			if err != nil {
				t.Fatal(err)
			}
			p, ok := d.Peer(peer.PublicKey())
			if !ok || p.Endpoint != want || p.Keepalive != 25*time.Second {
				t.Fatalf("peer after setting %v: %+v", ep, p)
			}
			if d.ListenPort != 51999 || d.Mark != 0x77 || d.PublicKey != priv.PublicKey() || fmt.Sprint(d.Index) != index {
				t.Fatalf("device (ip link says index %s): %+v", index, d)
			}
		}

		// Setting the endpoint of a peer that is not on the device must not add it.
		stranger, _ := wgtypes.GeneratePrivateKey()
		_ = l.c.SetEndpoint(l.ifname, stranger.PublicKey(), netip.MustParseAddrPort("192.0.2.1:1"))
		if d, _ := l.read(t, l.ifname); len(d.Peers) != 1 {
			t.Fatalf("update-only set added a peer: %+v", d.Peers)
		}
		if _, err := l.read(t, "wgnosuch0"); !errors.Is(err, ErrNoDevice) {
			t.Fatalf("missing device: %v", err)
		}
	})
}

// TestFreeBSDPeerConfigOnLinuxWireGuard sends the FreeBSD form of the
// change (the whole peer restated, no UpdateOnly) through wgctrl to the
// Linux kernel and to a real wireguard-go, and checks that allowed IPs,
// keepalive and preshared key of every peer come out exactly as they went
// in, with only the endpoint changed. if_wg cannot run here; these two
// WireGuards take the same PeerConfig and can.
func TestFreeBSDPeerConfigOnLinuxWireGuard(t *testing.T) {
	forEachImpl(t, "f", func(t *testing.T, l *testDevice) {
		priv, _ := wgtypes.GeneratePrivateKey()
		withPSK, _ := wgtypes.GeneratePrivateKey()
		bare, _ := wgtypes.GeneratePrivateKey()
		other, _ := wgtypes.GeneratePrivateKey()
		psk, _ := wgtypes.GenerateKey()
		l.wg("set", l.ifname, "private-key", writeSecret(t, priv), "listen-port", "51998",
			"peer", withPSK.PublicKey().String(), "preshared-key", writeSecret(t, psk), "persistent-keepalive", "25",
			"allowed-ips", "10.9.0.2/32,192.168.40.0/24,fd00::2/128,fd00:1::/64", "endpoint", "198.51.100.1:1",
			"peer", bare.PublicKey().String(), "allowed-ips", "10.9.0.3/32,fd00::3/128",
			"peer", other.PublicKey().String(), "allowed-ips", "10.9.0.4/32", "persistent-keepalive", "7")
		before := l.wg("showconf", l.ifname)
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
				prev := l.wg("showconf", l.ifname)
				if err := setEndpoint("freebsd", l.c.c, l.ifname, s.peer, s.ep); err != nil {
					t.Fatal(err)
				}
				after := l.wg("showconf", l.ifname)
				if withoutEndpoint(after) != withoutEndpoint(prev) {
					t.Fatalf("config changed beyond the endpoint:\nbefore:\n%s\nafter:\n%s", prev, after)
				}
				d, err := l.read(t, l.ifname)
				if err != nil {
					t.Fatal(err)
				}
				if p, _ := d.Peer(s.peer); p.Endpoint != s.ep {
					t.Fatalf("endpoint %v, want %v", p.Endpoint, s.ep)
				}
			})
		}
		after := l.wg("showconf", l.ifname)
		if withoutEndpoint(after) != withoutEndpoint(before) || !strings.Contains(after, "Endpoint = 203.0.113.9:40000\n") ||
			!strings.Contains(after, "Endpoint = [2001:db8::9]:4500\n") {
			t.Fatalf("before:\n%s\nafter:\n%s", before, after)
		}
		// The wgctrl view agrees: the preshared key read back is the one set.
		d, err := l.c.c.Device(l.ifname)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Peers) != 3 {
			t.Fatalf("%d peers, want 3", len(d.Peers))
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
			case other.PublicKey():
				if p.PresharedKey != (wgtypes.Key{}) || len(p.AllowedIPs) != 1 || p.PersistentKeepaliveInterval != 7*time.Second {
					t.Fatalf("untouched peer changed: %d allowed IPs, keepalive %v, psk set %v", len(p.AllowedIPs), p.PersistentKeepaliveInterval, p.PresharedKey != wgtypes.Key{})
				}
			}
		}
	})
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

// TestRecreateOnLinuxWireGuard re-creates a peer on kernel WireGuard and on
// a real wireguard-go and checks that everything a user configured comes
// back (wg showconf, endpoint aside, is the same), that the re-created peer
// with a keepalive starts a handshake at once (its transmit counter grows
// within a second, while nothing answers), and that a handshake time that
// no longer matches makes it an in-place update (the peer keeps its place).
func TestRecreateOnLinuxWireGuard(t *testing.T) {
	forEachImpl(t, "r", func(t *testing.T, l *testDevice) {
		// A route for the endpoint, so the initiation leaves (into a
		// veth pair, where nothing answers).
		l.run("ip", "-n", l.ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
		l.run("ip", "-n", l.ns, "addr", "add", "192.0.2.1/24", "dev", "v0")
		l.run("ip", "-n", l.ns, "link", "set", "v0", "up")
		l.run("ip", "-n", l.ns, "link", "set", "v1", "up")
		l.run("ip", "-n", l.ns, "link", "set", l.ifname, "up")
		priv, _ := wgtypes.GeneratePrivateKey()
		first, _ := wgtypes.GeneratePrivateKey()
		peer, _ := wgtypes.GeneratePrivateKey()
		quiet, _ := wgtypes.GeneratePrivateKey()
		psk, _ := wgtypes.GenerateKey()
		l.wg("set", l.ifname, "private-key", writeSecret(t, priv), "listen-port", "51998",
			"peer", first.PublicKey().String(), "allowed-ips", "10.9.0.1/32",
			"peer", peer.PublicKey().String(), "allowed-ips", "fd00::2/128,10.9.0.2/32,10.10.0.0/16",
			"persistent-keepalive", "25", "preshared-key", writeSecret(t, psk),
			"peer", quiet.PublicKey().String(), "allowed-ips", "10.9.0.3/32")
		before := l.wg("showconf", l.ifname)

		ep := netip.MustParseAddrPort("192.0.2.9:51820")
		got, err := l.c.Recreate(l.ifname, peer.PublicKey(), ep, Peer{})
		if err != nil || !got {
			t.Fatalf("Recreate = %v, %v; want a re-creation", got, err)
		}
		after := l.wg("showconf", l.ifname)
		if !strings.Contains(after, "Endpoint = "+ep.String()+"\n") || withoutEndpoint(after) != withoutEndpoint(before) {
			t.Fatalf("re-creation changed more than the endpoint:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if !strings.Contains(after, "AllowedIPs = fd00::2/128, 10.9.0.2/32, 10.10.0.0/16\n") {
			t.Fatalf("allowed IPs lost their order:\n%s", after)
		}
		deadline := time.Now().Add(time.Second)
		for {
			d, err := l.read(t, l.ifname)
			if err != nil {
				t.Fatal(err)
			}
			if p, _ := d.Peer(peer.PublicKey()); p.TxBytes >= 148 {
				break // a handshake initiation is 148 bytes
			}
			if time.Now().After(deadline) {
				t.Fatalf("no handshake initiation within 1 s of the re-creation: %+v", d.Peers)
			}
			time.Sleep(20 * time.Millisecond)
		}

		// A peer without keepalive comes back the same way.
		if got, err := l.c.Recreate(l.ifname, quiet.PublicKey(), ep, Peer{}); err != nil || !got {
			t.Fatalf("Recreate(no keepalive) = %v, %v", got, err)
		}
		if withoutEndpoint(l.wg("showconf", l.ifname)) != withoutEndpoint(before) {
			t.Fatalf("re-creating the keepalive-less peer changed the config:\n%s", l.wg("showconf", l.ifname))
		}

		// seen no longer matches the device: the endpoint is set in place.
		// The kernel lists peers in the order they were added, so there
		// the first peer must keep its place ahead of the re-created
		// ones; wireguard-go lists them in map order.
		ep2 := netip.MustParseAddrPort("192.0.2.10:51820")
		if got, err := l.c.Recreate(l.ifname, first.PublicKey(), ep2, Peer{LastHandshake: time.Unix(1, 0)}); !errors.Is(err, ErrLiveSession) || got {
			t.Fatalf("Recreate with a stale seen = %v, %v; want ErrLiveSession", got, err)
		}
		d, err := l.read(t, l.ifname)
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := d.Peer(first.PublicKey()); len(d.Peers) != 3 || !ok || p.Endpoint.IsValid() {
			t.Fatalf("a peer with a newer handshake was changed: %+v", d.Peers)
		}
		if l.kernel && d.Peers[0].PublicKey != first.PublicKey() {
			t.Fatalf("the peer moved (re-created?): %+v", d.Peers)
		}

		// A peer that is not on the device is not added.
		stranger, _ := wgtypes.GeneratePrivateKey()
		if got, err := l.c.Recreate(l.ifname, stranger.PublicKey(), ep, Peer{}); err != nil || got {
			t.Fatalf("Recreate(stranger) = %v, %v", got, err)
		}
		if d, _ := l.read(t, l.ifname); len(d.Peers) != 3 {
			t.Fatalf("re-creating an absent peer added it: %+v", d.Peers)
		}
	})
}
