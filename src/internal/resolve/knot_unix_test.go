//go:build linux

package resolve

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/e2e"
	"github.com/wgstun/wgstun/src/internal/egress"
)

// A real Knot DNS (knotd) in a network namespace of the test's own answers
// the resolver's queries for zone wg.test. on 127.0.0.1:53.

const zone = `$TTL 60
@ SOA ns admin 1 3600 600 86400 60
@ NS ns
ns A 127.0.0.1
stun A 192.0.2.10
stun AAAA 2001:db8::10
alias CNAME stun
deep CNAME alias
v4only A 192.0.2.11
`

// startKnot serves wg.test. and returns the namespace. Without root or
// knotd the test is skipped, except under CI, which installs them.
func startKnot(t *testing.T) string {
	t.Helper()
	var why []string
	if os.Geteuid() != 0 {
		why = append(why, "not root (the test makes a network namespace)")
	}
	for _, tool := range []string{"ip", "knotd", "kdig"} {
		if _, err := exec.LookPath(tool); err != nil {
			why = append(why, tool+" not found (Debian: apt-get install knot knot-dnsutils iproute2)")
		}
	}
	if len(why) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("resolver tests cannot run in CI: %s", strings.Join(why, "; "))
		}
		t.Skipf("resolver tests skipped: %s", strings.Join(why, "; "))
	}
	ns := e2e.NewNetns(t, "wgres")
	dir := t.TempDir()
	big := ""
	for i := 1; i <= 120; i++ { // 120 A records: over the 1232 bytes offered, so truncated over UDP
		big += fmt.Sprintf("big A 192.0.2.%d\n", i)
	}
	conf := fmt.Sprintf("server:\n    listen: 127.0.0.1@53\n    rundir: %[1]s\n    user: root:root\n"+
		"log:\n  - target: stderr\n    any: info\ndatabase:\n    storage: %[1]s/db\n"+
		"zone:\n  - domain: wg.test.\n    storage: %[1]s\n    file: zone.txt\n", dir)
	for name, body := range map[string]string{"knot.conf": conf, "zone.txt": zone + big} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e2e.StartServer(t, ns, dir, func() bool {
		out, _ := exec.Command("ip", "netns", "exec", ns, "kdig", "@127.0.0.1", "+timeout=1", "+retry=0", "+short", "stun.wg.test", "A").CombinedOutput()
		return strings.Contains(string(out), "192.0.2.10")
	}, "knotd", "-c", filepath.Join(dir, "knot.conf"))
	return ns
}

// inNetns is a resolver whose sockets (egress.Dial's) are opened in ns,
// with resolv.conf and hosts files written from the given text.
func inNetns(t *testing.T, ns, resolvConf, hosts string) *resolver {
	dir := t.TempDir()
	r := &resolver{confPath: filepath.Join(dir, "resolv.conf"), hostsPath: filepath.Join(dir, "hosts")}
	os.WriteFile(r.confPath, []byte(resolvConf), 0o600)
	os.WriteFile(r.hostsPath, []byte(hosts), 0o600)
	r.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := e2e.InNetns(ns, func() error {
			var err error
			c, err = egress.Dial(ctx, network, addr)
			return err
		})
		return c, err
	}
	return r
}

func TestKnot(t *testing.T) {
	ns := startKnot(t)
	// 127.0.0.2 refuses (nothing listens there), so the next is asked.
	r := inNetns(t, ns, "# test\nnameserver 127.0.0.2\nnameserver 127.0.0.1\nsearch wg.test\noptions timeout:2 attempts:1\n",
		"192.0.2.99 pinned.example Pinned2\n")
	addrs := func(ips ...string) []netip.AddrPort {
		var out []netip.AddrPort
		for _, ip := range ips {
			out = append(out, netip.AddrPortFrom(netip.MustParseAddr(ip), 3478))
		}
		return out
	}
	var bigWant []string
	for i := 1; i <= 120; i++ {
		bigWant = append(bigWant, fmt.Sprintf("192.0.2.%d", i))
	}
	for _, tt := range []struct {
		host string
		ipv6 bool
		want []netip.AddrPort
		err  string
	}{
		{host: "stun.wg.test", want: addrs("192.0.2.10")},
		{host: "STUN.wg.test.", want: addrs("192.0.2.10")},
		{host: "stun.wg.test", ipv6: true, want: addrs("2001:db8::10")},
		{host: "stun", want: addrs("192.0.2.10")}, // the search list
		{host: "deep.wg.test", want: addrs("192.0.2.10")},
		{host: "deep", ipv6: true, want: addrs("2001:db8::10")},
		{host: "big.wg.test", want: addrs(bigWant...)}, // truncated over UDP, asked again over TCP
		{host: "pinned.example", want: addrs("192.0.2.99")},
		{host: "pinned2", want: addrs("192.0.2.99")},
		{host: "v4only.wg.test", ipv6: true, err: "no address of that family"},
		{host: "nosuch.wg.test", err: "NXDOMAIN"},
		{host: "pinned.example", ipv6: true, err: "look up pinned.example"},
	} {
		got, err := r.hostPort(context.Background(), tt.host+":3478", tt.ipv6)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s (ipv6 %v): %v, %v; want an error with %q", tt.host, tt.ipv6, got, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s (ipv6 %v): %v, %v; want %v", tt.host, tt.ipv6, got, err, tt.want)
		}
	}
}

// TestKnotSilentServer: a server that never answers costs its timeout,
// then the next is asked; when none answers the lookup ends within
// Timeout with an error that says so.
func TestKnotSilentServer(t *testing.T) {
	ns := startKnot(t)
	var silent *net.UDPConn
	if err := e2e.InNetns(ns, func() error {
		var err error
		silent, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3), Port: 53})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	r := inNetns(t, ns, "nameserver 127.0.0.3\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n", "")
	start := time.Now()
	got, err := r.hostPort(context.Background(), "stun.wg.test:3478", false)
	if err != nil || len(got) != 1 || got[0].Addr() != netip.MustParseAddr("192.0.2.10") {
		t.Fatalf("after a silent server: %v, %v", got, err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("answered in %v: the silent server was not asked first", d)
	}

	r = inNetns(t, ns, "nameserver 127.0.0.3\noptions timeout:1 attempts:2\n", "")
	start = time.Now()
	_, err = r.hostPort(context.Background(), "stun.wg.test:3478", false)
	if err == nil || !strings.Contains(err.Error(), "no reply within 1s") {
		t.Fatalf("only a silent server: %v", err)
	}
	if d := time.Since(start); d > Timeout+time.Second {
		t.Errorf("gave up after %v, beyond the %v bound", d, Timeout)
	}
}
