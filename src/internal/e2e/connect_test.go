package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/daemon"
)

// The NAT matrix: two wireguard-go peers, each behind its own nftables NAT
// router, each running the real wgstun binary against a real coturn and a
// shared file store. Where a direct path exists the tunnel must carry a ping
// and each side's endpoint must be the other side's real NAT mapping; where
// it cannot exist, the pair must not connect and `wgstun status` must say
// why.

var natTypes = []string{"full-cone", "restricted-cone", "port-restricted-cone", "symmetric"}

// reachable reports whether a direct path exists between the two NAT types:
// a symmetric NAT maps each destination to a new port, so its peer must
// accept packets from a port it never sent to, which only full-cone and
// restricted-cone NATs do.
func reachable(a, b string) bool {
	if a == "symmetric" {
		return b == "full-cone" || b == "restricted-cone"
	}
	if b == "symmetric" {
		return a == "full-cone" || a == "restricted-cone"
	}
	return true
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the daemon binary built for the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" && binPath != os.Getenv(binEnv) {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// binEnv and binRFC2136Env name prebuilt daemons to test instead of
// building them with go: where the tests run without a Go toolchain, as in
// the kernel WireGuard guest of scripts/vm/vmtest.sh.
const (
	binEnv        = "WGSTUN_E2E_BIN"
	binRFC2136Env = "WGSTUN_E2E_BIN_RFC2136"
)

// prebuilt returns the binary named by the environment variable env, if
// set; it fails t when that is not an executable file.
func prebuilt(t *testing.T, env string) (string, bool) {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		return "", false
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("%s=%s: not an executable file", env, p)
	}
	return p, true
}

// wgstunBinary builds the daemon once per test run, or returns the
// prebuilt one that WGSTUN_E2E_BIN names.
func wgstunBinary(t *testing.T) string {
	t.Helper()
	if p, ok := prebuilt(t, binEnv); ok {
		binPath = p
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wgstun-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "wgstun")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/wgstun").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// pair is a lab with wgstun running on both peers.
type pair struct {
	lab *Lab
	env map[string]string // lab.env
	dir string
}

func startPair(t *testing.T, natA, natB string) *pair {
	t.Helper()
	bin := wgstunBinary(t)
	l := StartLab(t, natA, natB)
	l.SetupWireGuard()
	p := &pair{lab: l, env: l.Env, dir: l.Dir}
	for _, side := range []string{RoleA, RoleB} {
		p.startWgstun(t, side, bin, p.fileStore(), `refresh = "1m"`)
	}
	return p
}

// fileStore is the [store.s] table of the lab's shared file store.
func (p *pair) fileStore() string {
	return fmt.Sprintf("type = \"file\"\npath = %q\n", p.lab.StoreDir)
}

// startWgstun writes side's configuration and runs bin with it: debug log,
// the control socket DIR/SIDE.sock, the lab's two STUN servers, the store
// table [store.s] with storeTOML's keys, and side's WireGuard interface
// with ifaceTOML's extra keys.
func (p *pair) startWgstun(t *testing.T, side, bin, storeTOML, ifaceTOML string) *exec.Cmd {
	t.Helper()
	cfg := fmt.Sprintf(`[log]
level = "debug"
[daemon]
socket = "%[1]s/%[2]s.sock"
state_dir = "%[1]s/%[2]s-state"
[stun]
servers = ["%[3]s", "%[4]s"]
[store.s]
%[5]s
[[interface]]
name = "%[6]s"
store = "s"
%[7]s
`, p.dir, side, p.lab.STUN1, p.lab.STUN2, storeTOML, p.env["WG_"+strings.ToUpper(side)+"_IF"], ifaceTOML)
	path := filepath.Join(p.dir, side+".toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p.lab.Start(side, bin, "run", "-c", path)
}

// ns runs a command inside one of the lab's namespaces.
func (p *pair) ns(side string, args ...string) (string, error) {
	return p.lab.Exec(side, args...)
}

func (p *pair) status(side string) (daemon.Status, error) {
	var st daemon.Status
	raw, err := daemon.QueryStatus(filepath.Join(p.dir, side+".sock"))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(raw, &st)
}

// peerStatus returns the status of the only peer of side's interface.
func (p *pair) peerStatus(side string) (daemon.InterfaceStatus, daemon.PeerStatus, bool) {
	st, err := p.status(side)
	if err != nil || len(st.Interfaces) != 1 || len(st.Interfaces[0].Peers) != 1 {
		return daemon.InterfaceStatus{}, daemon.PeerStatus{}, false
	}
	return st.Interfaces[0], st.Interfaces[0].Peers[0], true
}

// pingUntil pings the other side's tunnel address until one reply or the deadline.
func (p *pair) pingUntil(from string, d time.Duration) bool {
	to := p.env["WG_B_ADDR"]
	if from == "b" {
		to = p.env["WG_A_ADDR"]
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, err := p.ns(from, "ping", "-c", "1", "-W", "1", to); err == nil {
			return true
		}
	}
	return false
}

// endpoint is what side's WireGuard uses for its peer now.
func (p *pair) endpoint(side string) netip.AddrPort {
	out, _ := p.ns(side, "wg", "show", p.env["WG_"+strings.ToUpper(side)+"_IF"], "endpoints")
	f := strings.Fields(out)
	if len(f) != 2 {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(f[1])
	return ap
}

// mapping is side's real NAT mapping for WireGuard's traffic to the other
// side, read from the NAT router's connection tracking. The flow may have
// been opened from inside (the reply tuple's destination is the mapping) or,
// through a full-cone NAT, from outside (the original tuple's destination is).
func (p *pair) mapping(side string) (netip.AddrPort, error) {
	other := "B"
	if side == "b" {
		other = "A"
	}
	host := p.env[strings.ToUpper(side)+"_ADDR"]
	peerWAN := p.env["NAT"+other+"_WAN"]
	port := p.env["WG_PORT"]
	out, err := exec.Command("ip", "netns", "exec", p.env["NS_NAT"+strings.ToUpper(side)],
		"conntrack", "-L", "-p", "udp").CombinedOutput()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("conntrack: %v: %s", err, out)
	}
	pn, _ := strconv.ParseUint(port, 10, 16)
	if ap, ok := conntrackMapping(string(out), netip.MustParseAddr(host), uint16(pn), netip.MustParseAddr(peerWAN)); ok {
		return ap, nil
	}
	return netip.AddrPort{}, fmt.Errorf("no conntrack entry for %s:%s <-> %s in\n%s", host, port, peerWAN, out)
}

func TestNATMatrix(t *testing.T) {
	RequireTools(t, append(labTools, "ping")...)
	if testing.Short() {
		t.Skip("-short: the NAT matrix takes minutes")
	}
	for _, natA := range natTypes {
		for _, natB := range natTypes {
			t.Run(natA+"_vs_"+natB, func(t *testing.T) {
				t.Parallel()
				p := startPair(t, natA, natB)
				if reachable(natA, natB) {
					checkConnects(t, p)
				} else {
					checkImpossible(t, p)
				}
			})
		}
	}
}

func checkConnects(t *testing.T, p *pair) {
	// WireGuard retries a handshake every 5 s; three retries is plenty.
	if !p.pingUntil("a", 20*time.Second) {
		t.Fatal("no ping through the tunnel from a to b within 20 s")
	}
	if !p.pingUntil("b", 5*time.Second) {
		t.Fatal("no ping through the tunnel from b to a")
	}
	for _, side := range []string{"a", "b"} {
		other := map[string]string{"a": "b", "b": "a"}[side]
		want, err := p.mapping(other)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.endpoint(side); got != want {
			t.Errorf("%s's endpoint for its peer is %v, but %s's NAT maps WireGuard's port to %v", side, got, other, want)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, ps, ok := p.peerStatus("a")
		if ok && ps.State == daemon.StateConnected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wgstun status on a never said connected: %+v", ps)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func checkImpossible(t *testing.T, p *pair) {
	// Both sides must say, in words, why this pair cannot connect.
	deadline := time.Now().Add(45 * time.Second)
	pending := map[string]bool{"a": true, "b": true}
	var last [2]daemon.PeerStatus
	for len(pending) > 0 {
		for side := range pending {
			_, ps, ok := p.peerStatus(side)
			if !ok {
				continue
			}
			last[btoi(side == "b")] = ps
			if ps.State == daemon.StateImpossible {
				if want := impossibleReason(p, side); ps.Reason != want {
					t.Errorf("%s: reason %q, want %q", side, ps.Reason, want)
				}
				delete(pending, side)
			}
			if ps.State == daemon.StateConnected {
				t.Fatalf("%s connected through NATs that cannot be traversed: %+v", side, ps)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never said impossible: a=%+v b=%+v", last[0], last[1])
		}
		time.Sleep(500 * time.Millisecond)
	}
	if p.pingUntil("a", 3*time.Second) {
		t.Fatal("ping went through a pair that cannot connect directly")
	}
	for _, side := range []string{"a", "b"} {
		out, _ := p.ns(side, "wg", "show", p.env["WG_"+strings.ToUpper(side)+"_IF"], "latest-handshakes")
		if f := strings.Fields(out); len(f) != 2 || f[1] != "0" {
			t.Errorf("%s: a handshake happened: %q", side, out)
		}
	}
}

// impossibleReason is what `wgstun status` on side must say about its peer
// when the lab's NATs rule a direct path out: both daemons learn their own
// class with RFC 5780 tests against the lab's coturn and publish it (the
// symmetric type is address-and-port-dependent in mapping and filtering,
// the port-restricted cone endpoint-independent and filtering by address
// and port).
func impossibleReason(p *pair, side string) string {
	ours, theirs := p.lab.NATA, p.lab.NATB
	if side == RoleB {
		ours, theirs = theirs, ours
	}
	const help = "; enable port_mapping on either gateway or use a relay"
	switch {
	case ours == Symmetric && theirs == Symmetric:
		return "no direct path: both NATs are symmetric (each maps every destination to a new port: address-and-port-dependent mapping) and neither accepts packets from senders it has not sent to" + help
	case ours == Symmetric:
		return "no direct path: this side is symmetric (address-and-port-dependent mapping) and the peer filters by address and port" + help
	}
	return "no direct path: the peer is symmetric (address-and-port-dependent mapping) and this side filters by address and port" + help
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
