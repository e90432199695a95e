package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
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
	if strings.Contains(b.String(), "memory") {
		t.Errorf("memory shown without figures:\n%s", b.String())
	}
	b.Reset()
	printStatus(&b, &daemon.Status{Version: "t", Started: now, Memory: daemon.MemoryStatus{HeapInUse: 1 << 20, Sys: 5 << 20, Released: 1<<20 + 1, Allocs: 12345, GCs: 67, Limit: 4 << 20}})
	if want := "memory: heap 1024 KiB in use, 4096 KiB from the OS (1025 KiB returned), limit 4096 KiB, 12345 allocations, 67 collections\n"; !strings.Contains(b.String(), want) {
		t.Errorf("memory line: want %q in\n%s", want, b.String())
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

// serveOnce answers every connection to a unix socket at path with raw.
func serveOnce(t *testing.T, path string, raw string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(raw))
			c.Close()
		}
	}()
}

// TestStatusHostileDaemon: what the daemon says reaches the terminal with
// control characters escaped, on the lines the printer chose, and a key
// too short to abbreviate is shown whole instead of panicking.
func TestStatusHostileDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	serveOnce(t, sock, `{"version":"1\u001b[31m","started":"2026-01-01T00:00:00Z","interfaces":[
		{"name":"wg0\r\nFAKE interface wg9: up","state":"up","reason":"","listen_port":51820,"store":"s\u0007",
		 "last_error":"disk\nFAKE line","peers":[
			{"public_key":"abc","state":"connected\u001b[2J","endpoint_from":"record","reason":"x\u202ey\u0085z","last_error":"e\u009b31m"}]}]}`)
	var out, errb strings.Builder
	if rc := cmdStatus([]string{"-s", sock}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	s := out.String()
	if strings.ContainsAny(s, "\x1b\r\a\u202e\u0085\u009b") {
		t.Errorf("control characters reached the terminal:\n%q", s)
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "FAKE") {
			t.Errorf("the daemon started a line of its own: %q\n%s", l, s)
		}
	}
	for _, want := range []string{`wgstun 1\x1b[31m,`, `interface wg0\r\nFAKE interface wg9: up: up`, `disk\nFAKE line`, `  abc connected\x1b[2J: x\u202ey\u0085z`, `  abc error: e\u009b31m`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
}

// TestStatusSocketFromConfig: without -s, status asks the socket the
// configuration names (-c, else the default file), as the daemon listens.
func TestStatusSocketFromConfig(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "from-config.sock")
	serveOnce(t, sock, `{"version":"cfg","started":"2026-01-01T00:00:00Z","interfaces":[]}`)
	cfg := filepath.Join(dir, "wgstun.toml")
	if err := os.WriteFile(cfg, []byte("[daemon]\nsocket = \""+sock+"\"\n[stun]\nservers = [\"192.0.2.1:3478\"]\n[store.s]\ntype = \"file\"\npath = \""+dir+"\"\n[[interface]]\nname = \"wg0\"\nstore = \"s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	if rc := cmdStatus([]string{"-c", cfg}, &out, &errb); rc != 0 || !strings.HasPrefix(out.String(), "wgstun cfg,") {
		t.Fatalf("status -c: exit %d, %q, %q", rc, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	missing := filepath.Join(dir, "nope.toml")
	if rc := cmdStatus([]string{"-c", missing}, &out, &errb); rc != 2 || !strings.Contains(errb.String(), missing) {
		t.Fatalf("status -c missing: exit %d, %q; want 2 and the file named", rc, errb.String())
	}
}

// TestTableMatchesTabwriter: the status table lines up as text/tabwriter
// (minwidth 2, padding 2, spaces) did, multi-byte cells included.
func TestTableMatchesTabwriter(t *testing.T) {
	rows := [][]string{
		{"  PEER", "STATE", "ENDPOINT", "FROM", "HANDSHAKE", "PING"},
		{"  xTIBA5rb…", "connected", "203.0.113.7:51820", "record", "3s ago", "10.77.0.2 0% loss"},
		{"  k", "waiting", "-", "-", "never", ""},
		{"  é", "a", "[2001:db8::1]:51820", "wireguard", "1h2m ago", "-"},
	}
	var want, got strings.Builder
	tw := tabwriter.NewWriter(&want, 2, 4, 2, ' ', 0)
	tb := &table{}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
		tb.row(r...)
	}
	tw.Flush()
	tb.write(&got)
	if got.String() != want.String() {
		t.Errorf("table:\n%s\ntabwriter:\n%s", got.String(), want.String())
	}
}
