//go:build linux

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
)

// TestSetEndpointOnWireguardGo runs a real wireguard-go in a network
// namespace of its own and checks, through its UAPI socket, that SetEndpoint
// changes the endpoint and nothing else.
func TestSetEndpointOnWireguardGo(t *testing.T) {
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
	ns := fmt.Sprintf("wgt%d", os.Getpid()%100000)
	ifname := "wgt" + ns[3:]
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
	defer c.Close()
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

	priv, _ := wgtypes.GeneratePrivateKey()
	peer, _ := wgtypes.GeneratePrivateKey()
	psk, _ := wgtypes.GenerateKey()
	keyFile := t.TempDir() + "/k"
	os.WriteFile(keyFile, []byte(priv.String()), 0o600)
	pskFile := t.TempDir() + "/p"
	os.WriteFile(pskFile, []byte(psk.String()), 0o600)
	run("wg", "set", ifname, "private-key", keyFile, "listen-port", "51999", "fwmark", "0x77",
		"peer", peer.PublicKey().String(), "allowed-ips", "10.9.0.2/32,fd00::2/128",
		"persistent-keepalive", "25", "preshared-key", pskFile)
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

// withoutEndpoint drops the Endpoint line of a wg showconf.
func withoutEndpoint(s string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if !strings.HasPrefix(l, "Endpoint = ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
