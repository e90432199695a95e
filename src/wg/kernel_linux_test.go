package wg

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/e2e/netns"
)

// kernelLab is a kernel WireGuard link (ip link add type wireguard) in a
// network namespace of its own, with a Client whose netlink socket was
// opened inside that namespace.
type kernelLab struct {
	ns, ifname string
	c          *Client
	run        func(args ...string) string
}

// startKernelWireGuard makes the namespace and the link. Without kernel
// WireGuard the test is skipped, unless WGSTUN_KERNEL_WG=1 says the machine
// has it (the malta VM sets it), when that is a failure.
func startKernelWireGuard(t *testing.T, tag string) *kernelLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a WireGuard link")
	}
	for _, tool := range []string{"ip", "wg"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing in CI: %v", tool, err)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	ns := fmt.Sprintf("wgk%s%d", tag, os.Getpid()%100000)
	ifname := "wgk" + tag
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
	if out, err := exec.Command("ip", "-n", ns, "link", "add", ifname, "type", "wireguard").CombinedOutput(); err != nil {
		if os.Getenv("WGSTUN_KERNEL_WG") == "1" {
			t.Fatalf("WGSTUN_KERNEL_WG=1 but no kernel WireGuard link: %v\n%s", err, out)
		}
		t.Skipf("no kernel WireGuard here: %v: %s", err, strings.TrimSpace(string(out)))
	}
	var c *Client
	if err := netns.Do(ns, func() (err error) {
		c, err = Open()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &kernelLab{ns: ns, ifname: ifname, c: c, run: run}
}

// device reads the link from inside the lab's namespace, where
// net.InterfaceByName finds it and Device.Index is set.
func (l *kernelLab) device(t *testing.T, name string) (Device, error) {
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

// wg runs the wg tool inside the lab's namespace.
func (l *kernelLab) wg(args ...string) string {
	return l.run(append([]string{"ip", "netns", "exec", l.ns, "wg"}, args...)...)
}

// TestSetEndpointOnKernel checks, through netlink on a kernel WireGuard
// link, that SetEndpoint changes the endpoint and nothing else, that the
// device reads back whole (with its interface index), that an update-only
// change adds no peer, and that a missing link is ErrNoDevice.
func TestSetEndpointOnKernel(t *testing.T) {
	l := startKernelWireGuard(t, "t")
	priv, _ := wgtypes.GeneratePrivateKey()
	peer, _ := wgtypes.GeneratePrivateKey()
	psk, _ := wgtypes.GenerateKey()
	l.wg("set", l.ifname, "private-key", writeSecret(t, priv), "listen-port", "51999", "fwmark", "0x77",
		"peer", peer.PublicKey().String(), "allowed-ips", "10.9.0.2/32,fd00::2/128",
		"persistent-keepalive", "25", "preshared-key", writeSecret(t, psk))
	before := l.wg("showconf", l.ifname)
	index := strings.TrimSuffix(strings.Fields(l.run("ip", "-n", l.ns, "-o", "link", "show", l.ifname))[0], ":")

	for _, ep := range []netip.AddrPort{
		netip.MustParseAddrPort("203.0.113.9:40000"),
		netip.MustParseAddrPort("[2001:db8::9]:4500"),
		netip.MustParseAddrPort("[::ffff:198.51.100.4]:1"),
	} {
		if err := l.c.SetEndpoint(l.ifname, peer.PublicKey(), ep); err != nil {
			t.Fatal(err)
		}
		after := l.wg("showconf", l.ifname)
		if withoutEndpoint(after) != withoutEndpoint(before) {
			t.Fatalf("config changed beyond the endpoint:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		d, err := l.device(t, l.ifname)
		if err != nil {
			t.Fatal(err)
		}
		want := netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
		p, ok := d.Peer(peer.PublicKey())
		if !ok || p.Endpoint != want || p.Keepalive != 25*time.Second {
			t.Fatalf("peer after setting %v: %+v", ep, p)
		}
		if d.ListenPort != 51999 || d.Mark != 0x77 || d.PublicKey != priv.PublicKey() || fmt.Sprint(d.Index) != index {
			t.Fatalf("device (ip link says index %s): %+v", index, d)
		}
	}

	stranger, _ := wgtypes.GeneratePrivateKey()
	_ = l.c.SetEndpoint(l.ifname, stranger.PublicKey(), netip.MustParseAddrPort("192.0.2.1:1"))
	if d, _ := l.device(t, l.ifname); len(d.Peers) != 1 {
		t.Fatalf("update-only set added a peer: %+v", d.Peers)
	}
	if _, err := l.device(t, "wgnosuch0"); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("missing device: %v", err)
	}
}

// TestFreeBSDPeerConfigOnKernel sends the FreeBSD form of the change (the
// whole peer restated) to the Linux kernel, which takes the same
// PeerConfig: nothing but the endpoint may change.
func TestFreeBSDPeerConfigOnKernel(t *testing.T) {
	l := startKernelWireGuard(t, "f")
	priv, _ := wgtypes.GeneratePrivateKey()
	withPSK, _ := wgtypes.GeneratePrivateKey()
	bare, _ := wgtypes.GeneratePrivateKey()
	psk, _ := wgtypes.GenerateKey()
	l.wg("set", l.ifname, "private-key", writeSecret(t, priv), "listen-port", "51998",
		"peer", withPSK.PublicKey().String(), "preshared-key", writeSecret(t, psk), "persistent-keepalive", "25",
		"allowed-ips", "10.9.0.2/32,192.168.40.0/24,fd00::2/128,fd00:1::/64", "endpoint", "198.51.100.1:1",
		"peer", bare.PublicKey().String(), "allowed-ips", "10.9.0.3/32,fd00::3/128")
	before := l.wg("showconf", l.ifname)
	eps := map[wgtypes.Key]netip.AddrPort{
		withPSK.PublicKey(): netip.MustParseAddrPort("203.0.113.9:40000"),
		bare.PublicKey():    netip.MustParseAddrPort("[2001:db8::9]:4500"),
	}
	for k, ep := range eps {
		if err := setEndpoint("freebsd", l.c.c, l.ifname, k, ep); err != nil {
			t.Fatal(err)
		}
	}
	after := l.wg("showconf", l.ifname)
	if withoutEndpoint(after) != withoutEndpoint(before) {
		t.Fatalf("config changed beyond the endpoint:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	d, err := l.c.Device(l.ifname)
	if err != nil {
		t.Fatal(err)
	}
	for k, ep := range eps {
		if p, _ := d.Peer(k); p.Endpoint != ep {
			t.Fatalf("peer %s: endpoint %v, want %v", k, p.Endpoint, ep)
		}
	}
}
