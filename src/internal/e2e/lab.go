// Package e2e holds wgstun's end-to-end tests and a small Go API over the
// network-namespace NAT lab they run in (scripts/lab/lab.sh).
//
// A lab is five namespaces named PREFIX-ROLE. Roles: "a" and "b" are the
// peers, "nata" and "natb" their NAT routers, "inet" the public internet
// holding the STUN servers (coturn) and a probe address. Nothing in a lab
// routes out of the lab's own address ranges.
//
// The environment variable LAB_WG chooses the peers' WireGuard: "go" (the
// default) runs wireguard-go, "kernel" makes kernel WireGuard links. Code
// that reads or changes a device does it from inside the device's
// namespace (WGClient, Exec), which works for both.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/e2e/netns"
	"github.com/wgstun/wgstun/src/internal/wg"
)

// NAT types of lab.sh.
const (
	FullCone           = "full-cone"
	RestrictedCone     = "restricted-cone"
	PortRestrictedCone = "port-restricted-cone"
	Symmetric          = "symmetric"
)

// Namespace roles of a lab.
const (
	RoleA    = "a"
	RoleB    = "b"
	RoleNATA = "nata"
	RoleNATB = "natb"
	RoleInet = "inet"
)

// ExecTimeout bounds every command run by Exec and every lab.sh call but
// "up".
const ExecTimeout = 60 * time.Second

// UpTimeout bounds `lab.sh up`, the longest lab.sh call: well under a
// second here, but 15-40 s in the emulated guest of scripts/vm/vmtest.sh
// (qemu TCG, every program read over 9p) with a second lab coming up
// beside it.
const UpTimeout = 3 * time.Minute

var (
	errBadRole   = errors.New("bad namespace role")
	errBadSide   = errors.New("bad side (want a or b)")
	errBadEnv    = errors.New("bad lab.env")
	errNoModRoot = errors.New("no go.mod above the working directory")
	errBadWGMode = errors.New("bad LAB_WG (want go or kernel)")
)

// WireGuard implementations of the lab (LAB_WG).
const (
	WGGo     = "go"     // wireguard-go, a process per interface
	WGKernel = "kernel" // kernel WireGuard links
)

// WGMode returns the WireGuard implementation that LAB_WG asks for: WGGo
// when it is unset or empty.
func WGMode() (string, error) {
	switch m := os.Getenv("LAB_WG"); m {
	case "", WGGo:
		return WGGo, nil
	case WGKernel:
		return WGKernel, nil
	default:
		return "", fmt.Errorf("e2e: %w: %q", errBadWGMode, m)
	}
}

// labTools are the programs lab.sh needs: wireguard-go only when the lab
// runs it.
var labTools = labToolsFor(os.Getenv("LAB_WG"))

func labToolsFor(mode string) []string {
	tools := []string{"bash", "ip", "nft", "conntrack", "sysctl", "timeout",
		"turnserver", "turnutils_stunclient", "wg"}
	if mode != WGKernel {
		tools = append(tools, "wireguard-go")
	}
	return tools
}

// Lab is a running lab. Its fields are the facts of lab.env; WANA and WANB
// follow WANReaddress.
type Lab struct {
	t testing.TB

	Prefix   string // short unique prefix of every name
	Dir      string // /tmp/wgstun-lab-PREFIX: pids, logs, keys
	StoreDir string // Dir/store: the file store both peers see
	Script   string // absolute path of lab.sh

	NATA, NATB   string     // NAT types
	WANA, WANB   netip.Addr // NAT routers' public addresses
	HostA, HostB netip.Addr // peers' private addresses
	GatewayA     netip.Addr // nata's LAN address
	GatewayB     netip.Addr // natb's LAN address
	InetGateway  netip.Addr // the internet's address on the WAN subnet
	STUN1, STUN2 netip.AddrPort
	STUNAltPort  uint16            // coturn's RFC 5780 alternate port on both addresses
	Probe        netip.Addr        // a third public address, free for tests
	WGMode       string            // WGGo or WGKernel: what SetupWireGuard made
	WGA, WGB     *WGPeer           // nil until SetupWireGuard
	Env          map[string]string // every KEY=VALUE of lab.env
}

// WGPeer is one WireGuard interface (wireguard-go or kernel) made by
// SetupWireGuard.
type WGPeer struct {
	Netns      string       // namespace holding the interface
	Iface      string       // interface name, unique across namespaces
	Addr       netip.Prefix // tunnel address, 10.77.0.1/24 or 10.77.0.2/24
	ListenPort uint16       // follows WGRecreate
	PrivateKey wgtypes.Key
	PublicKey  wgtypes.Key
	KeyFile    string // file holding the base64 private key
}

// RequireTools skips t when a program is missing from PATH, or fails it when
// the environment variable CI is set: CI must have every tool. The same
// holds for not being root.
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	var why []string
	if os.Geteuid() != 0 {
		why = append(why, "not root (network namespaces need root)")
	}
	if len(missing) > 0 {
		why = append(why, "missing tools: "+strings.Join(missing, ", "))
	}
	if len(why) == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("e2e lab cannot run in CI: %s", strings.Join(why, "; "))
	}
	t.Skipf("e2e lab skipped: %s (set up as root with these tools to run it)", strings.Join(why, "; "))
}

// StartLab brings up a lab with peer a behind a NAT of type natA and peer b
// behind natB, and tears it down when t ends. On failure the cleanup logs
// lab.sh diag (addresses, rules, conntrack, log tails) first.
func StartLab(t testing.TB, natA, natB string) *Lab {
	t.Helper()
	RequireTools(t, labTools...)
	mode, err := WGMode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil && mode == WGGo {
		RequireTools(t, "/dev/net/tun")
	}
	script, err := findLabScript()
	if err != nil {
		t.Fatalf("e2e: find lab.sh: %v", err)
	}
	l := &Lab{t: t, Script: script}
	for try := 0; ; try++ {
		l.Prefix = randomPrefix()
		if _, err := os.Stat(labDir(l.Prefix)); errors.Is(err, os.ErrNotExist) {
			break
		}
		if try == 5 {
			t.Fatalf("e2e: no free lab prefix after %d tries", try)
		}
	}
	start := time.Now()
	out, err := l.LabSh("up", natA, natB)
	if err != nil {
		t.Fatalf("e2e: lab.sh up %s %s %s: %v\n%s", l.Prefix, natA, natB, err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			diag, _ := l.LabSh("diag")
			t.Logf("lab %s diagnostics:\n%s", l.Prefix, diag)
		}
		if out, err := l.LabSh("down"); err != nil {
			t.Errorf("e2e: lab.sh down %s: %v\n%s", l.Prefix, err, out)
		}
	})
	if err := l.reload(); err != nil {
		t.Fatalf("e2e: lab %s: %v", l.Prefix, err)
	}
	t.Logf("lab %s up in %v: a behind %s (%v), b behind %s (%v)", l.Prefix,
		time.Since(start).Round(time.Millisecond), l.NATA, l.WANA, l.NATB, l.WANB)
	return l
}

// LabSh runs `lab.sh SUBCOMMAND PREFIX ARGS...` and returns its combined
// output; it is killed after ExecTimeout (UpTimeout for "up").
func (l *Lab) LabSh(sub string, args ...string) (string, error) {
	limit := ExecTimeout
	if sub == "up" {
		limit = UpTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{l.Script, sub, l.Prefix}, args...)...)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("lab.sh %s %s: %w", sub, l.Prefix, err)
	}
	return string(out), nil
}

// Netns returns the name of the namespace of role (a, b, nata, natb, inet).
func (l *Lab) Netns(role string) string { return l.Prefix + "-" + role }

func (l *Lab) checkRole(role string) error {
	switch role {
	case RoleA, RoleB, RoleNATA, RoleNATB, RoleInet:
		return nil
	}
	return fmt.Errorf("e2e: lab %s: %w %q (want a, b, nata, natb or inet)", l.Prefix, errBadRole, role)
}

func checkSide(side string) error {
	if side != RoleA && side != RoleB {
		return fmt.Errorf("e2e: %w: %q", errBadSide, side)
	}
	return nil
}

// Exec runs args inside the namespace of role and returns the combined
// output; it is killed after ExecTimeout.
func (l *Lab) Exec(role string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ExecTimeout)
	defer cancel()
	return l.ExecContext(ctx, role, args...)
}

// ExecContext is Exec bounded by ctx instead of ExecTimeout.
func (l *Lab) ExecContext(ctx context.Context, role string, args ...string) (string, error) {
	if err := l.checkRole(role); err != nil {
		return "", err
	}
	if len(args) == 0 {
		return "", fmt.Errorf("e2e: exec in %s: no command", l.Netns(role))
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.Netns(role)}, args...)...)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("e2e: %s in %s: %w", strings.Join(args, " "), l.Netns(role), err)
	}
	return string(out), nil
}

// Command prepares args to run inside the namespace of role without
// starting it; the caller may set Stdout, Stderr, Env and then Start it. If
// started, it is killed (SIGTERM, SIGKILL after 2 s) and reaped when the
// test ends, before the lab goes down.
func (l *Lab) Command(role string, args ...string) *exec.Cmd {
	l.t.Helper()
	if err := l.checkRole(role); err != nil {
		l.t.Fatal(err)
	}
	if len(args) == 0 {
		l.t.Fatalf("e2e: command in %s: no command", l.Netns(role))
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.Netns(role)}, args...)...)
	l.t.Cleanup(func() { stopCmd(cmd) })
	return cmd
}

// Start runs args in the background inside the namespace of role, with
// stdout and stderr appended to Dir/log/<role>-<program>.log (logged on
// failure). It is stopped when the test ends.
func (l *Lab) Start(role string, args ...string) *exec.Cmd {
	l.t.Helper()
	cmd := l.Command(role, args...)
	name := filepath.Join(l.Dir, "log", role+"-"+filepath.Base(args[0])+".log")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		l.t.Fatalf("e2e: open log for %s: %v", args[0], err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		l.t.Fatalf("e2e: start %s in %s: %v", strings.Join(args, " "), l.Netns(role), err)
	}
	l.t.Cleanup(func() {
		stopCmd(cmd)
		f.Close()
		if l.t.Failed() {
			if b, err := os.ReadFile(name); err == nil {
				l.t.Logf("%s:\n%s", name, tail(b, 4000))
			}
		}
	})
	return cmd
}

func stopCmd(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(2 * time.Second):
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// InNetns runs fn with the calling goroutine's OS thread switched into the
// network namespace of role; see the package function InNetns.
func (l *Lab) InNetns(role string, fn func() error) error {
	if err := l.checkRole(role); err != nil {
		return err
	}
	return InNetns(l.Netns(role), fn)
}

// InNetns locks the calling goroutine to its OS thread, moves the thread
// into the named network namespace (/var/run/netns/NAME), runs fn and moves
// the thread back. Sockets that fn creates on the calling goroutine belong
// to that namespace for their whole life and may be used from anywhere
// afterwards; goroutines that fn starts run in the original namespace.
func InNetns(name string, fn func() error) error {
	return netns.Do(name, fn)
}

// ListenUDP opens a UDP socket bound to laddr inside the namespace of role
// (port 0: any free port); it is closed when the test ends.
func (l *Lab) ListenUDP(role string, laddr netip.AddrPort) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := l.InNetns(role, func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(laddr))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("e2e: listen udp %v in %s: %w", laddr, l.Netns(role), err)
	}
	l.t.Cleanup(func() { c.Close() })
	return c, nil
}

// FlushConntrack empties the conntrack table of side's NAT router (the
// cone types' learned sets stay).
func (l *Lab) FlushConntrack(side string) error {
	if err := checkSide(side); err != nil {
		return err
	}
	out, err := l.LabSh("flush-conntrack", side)
	return scriptErr(out, err)
}

// NATRestart reloads side's NAT rules with empty sets and conntrack table:
// every mapping is fresh afterwards.
func (l *Lab) NATRestart(side string) error {
	if err := checkSide(side); err != nil {
		return err
	}
	out, err := l.LabSh("nat-restart", side)
	return scriptErr(out, err)
}

// NATRestartPort restarts side's NAT like NATRestart, and from then on maps
// the host's WireGuard port to port on the WAN: a fresh mapping, as a CGNAT
// hands out after a reboot. Only a port-restricted-cone NAT takes a port;
// a later NATRestart makes the NAT port-preserving again.
func (l *Lab) NATRestartPort(side string, port uint16) error {
	if err := checkSide(side); err != nil {
		return err
	}
	if port == 0 {
		return fmt.Errorf("e2e: nat-restart %s: port 0", side)
	}
	out, err := l.LabSh("nat-restart", side, strconv.Itoa(int(port)))
	return scriptErr(out, err)
}

// WGRecreate kills side's wireguard-go and waits until its interface is
// gone (kernel WireGuard: deletes the link), and builds it again with the same name, private key and peer (allowed IP,
// keepalive 25, no endpoint) listening on port (0: the lab's 51820), as
// netifd or a VyOS commit does. The side's WGPeer.ListenPort follows.
func (l *Lab) WGRecreate(side string, port uint16) error {
	if err := checkSide(side); err != nil {
		return err
	}
	var args []string
	if port != 0 {
		args = []string{strconv.Itoa(int(port))}
	}
	out, err := l.LabSh("wg-recreate", append([]string{side}, args...)...)
	if err := scriptErr(out, err); err != nil {
		return err
	}
	return l.reload()
}

// WGWipe removes side's peer and adds it back without an endpoint, which is
// what `wg setconf` with a file lacking Endpoint lines does.
func (l *Lab) WGWipe(side string) error {
	if err := checkSide(side); err != nil {
		return err
	}
	out, err := l.LabSh("wg-wipe", side)
	return scriptErr(out, err)
}

// WGBogus sets a wrong endpoint ep for side's peer; ep must be inside the
// lab's public ranges (203.0.113.0/24, 198.51.100.0/24).
func (l *Lab) WGBogus(side string, ep netip.AddrPort) error {
	if err := checkSide(side); err != nil {
		return err
	}
	out, err := l.LabSh("wg-bogus", side, ep.String())
	return scriptErr(out, err)
}

// WANReaddress moves side's NAT router to the public address addr (in
// 203.0.113.0/24) with fresh mappings, and updates WANA or WANB.
func (l *Lab) WANReaddress(side string, addr netip.Addr) error {
	if err := checkSide(side); err != nil {
		return err
	}
	out, err := l.LabSh("wan-readdress", side, addr.String())
	if err := scriptErr(out, err); err != nil {
		return err
	}
	return l.reload()
}

// STUNStop makes STUN server 1 or 2 silent (its requests are dropped), or
// with server 0 stops coturn altogether.
func (l *Lab) STUNStop(server int) error { return l.stun("stun-stop", server) }

// STUNStart undoes STUNStop: server 1 or 2 answers again, or with server 0
// coturn is started again (and has answered on both addresses on return).
func (l *Lab) STUNStart(server int) error { return l.stun("stun-start", server) }

func (l *Lab) stun(sub string, server int) error {
	var args []string
	switch server {
	case 0:
	case 1, 2:
		args = []string{strconv.Itoa(server)}
	default:
		return fmt.Errorf("e2e: %s: bad STUN server %d (want 0, 1 or 2)", sub, server)
	}
	out, err := l.LabSh(sub, args...)
	return scriptErr(out, err)
}

func scriptErr(out string, err error) error {
	if err != nil {
		return fmt.Errorf("e2e: %w: %s", err, strings.TrimSpace(out))
	}
	return nil
}

// SetupWireGuard runs `lab.sh wg`: WireGuard interfaces in a and b
// (wireguard-go or kernel links, as LAB_WG says), listening on 51820, each the other's peer (allowed-ips its /32,
// persistent-keepalive 25) without an endpoint.
func (l *Lab) SetupWireGuard() (a, b *WGPeer) {
	l.t.Helper()
	out, err := l.LabSh("wg")
	if err != nil {
		l.t.Fatalf("e2e: %v\n%s", err, out)
	}
	if err := l.reload(); err != nil {
		l.t.Fatalf("e2e: lab %s: %v", l.Prefix, err)
	}
	if l.WGA == nil || l.WGB == nil {
		l.t.Fatalf("e2e: lab %s: lab.env has no WireGuard facts after lab.sh wg", l.Prefix)
	}
	return l.WGA, l.WGB
}

func (l *Lab) wgPeers(side string) (self, other *WGPeer, err error) {
	if err := checkSide(side); err != nil {
		return nil, nil, err
	}
	if l.WGA == nil || l.WGB == nil {
		return nil, nil, fmt.Errorf("e2e: lab %s: no WireGuard (call SetupWireGuard)", l.Prefix)
	}
	if side == RoleA {
		return l.WGA, l.WGB, nil
	}
	return l.WGB, l.WGA, nil
}

// WGClient opens a WireGuard client inside side's namespace, where it sees
// that side's device whether it is a kernel link (netlink is per
// namespace) or wireguard-go; it is closed when the test ends.
func (l *Lab) WGClient(side string) (*wg.Client, error) {
	if err := checkSide(side); err != nil {
		return nil, err
	}
	var c *wg.Client
	err := l.InNetns(side, func() error {
		var err error
		c, err = wg.Open()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("e2e: wireguard client in %s: %w", l.Netns(side), err)
	}
	l.t.Cleanup(func() { c.Close() })
	return c, nil
}

// SetEndpoint sets, on side's interface, the endpoint of its one peer.
func (l *Lab) SetEndpoint(side string, ep netip.AddrPort) error {
	self, other, err := l.wgPeers(side)
	if err != nil {
		return err
	}
	_, err = l.Exec(side, "wg", "set", self.Iface, "peer", other.PublicKey.String(), "endpoint", ep.String())
	return err
}

// Endpoint returns the endpoint that side's interface has for its one peer;
// the zero AddrPort if it has none.
func (l *Lab) Endpoint(side string) (netip.AddrPort, error) {
	self, other, err := l.wgPeers(side)
	if err != nil {
		return netip.AddrPort{}, err
	}
	out, err := l.Exec(side, "wg", "show", self.Iface, "endpoints")
	if err != nil {
		return netip.AddrPort{}, err
	}
	return parseEndpoint(out, other.PublicKey.String())
}

// parseEndpoint reads `wg show IFACE endpoints` output (KEY\tENDPOINT
// lines) for the peer pub.
func parseEndpoint(out, pub string) (netip.AddrPort, error) {
	for line := range strings.Lines(out) {
		fields := strings.Fields(line)
		if len(fields) != 2 || fields[0] != pub {
			continue
		}
		if fields[1] == "(none)" {
			return netip.AddrPort{}, nil
		}
		ap, err := netip.ParseAddrPort(fields[1])
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("e2e: wg endpoint of %s: %w", pub, err)
		}
		return ap, nil
	}
	return netip.AddrPort{}, fmt.Errorf("e2e: wg show endpoints: no peer %s", pub)
}

func (l *Lab) reload() error {
	b, err := os.ReadFile(filepath.Join(labDir(l.Prefix), "lab.env"))
	if err != nil {
		return fmt.Errorf("read lab.env: %w", err)
	}
	env, err := parseEnv(b)
	if err != nil {
		return err
	}
	return l.fill(env)
}

func labDir(prefix string) string { return "/tmp/wgstun-lab-" + prefix }

// parseEnv reads KEY=VALUE lines; blank lines and # comments are skipped.
func parseEnv(b []byte) (map[string]string, error) {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%w: line %d: want KEY=VALUE, got %q", errBadEnv, n, line)
		}
		if _, dup := env[k]; dup {
			return nil, fmt.Errorf("%w: line %d: %s given twice", errBadEnv, n, k)
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadEnv, err)
	}
	return env, nil
}

// fill sets l's fields from env and reports every missing or bad key.
func (l *Lab) fill(env map[string]string) error {
	var errs []error
	str := func(k string) string {
		v, ok := env[k]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: no %s", errBadEnv, k))
		}
		return v
	}
	addr := func(k string) netip.Addr {
		v := str(k)
		a, err := netip.ParseAddr(v)
		if err != nil && v != "" {
			errs = append(errs, fmt.Errorf("%w: %s: %w", errBadEnv, k, err))
		}
		return a
	}
	port := func(k string) uint16 {
		v := str(k)
		p, err := strconv.ParseUint(v, 10, 16)
		if err != nil && v != "" {
			errs = append(errs, fmt.Errorf("%w: %s: %w", errBadEnv, k, err))
		}
		return uint16(p)
	}
	key := func(k string) wgtypes.Key {
		v := str(k)
		kk, err := wgtypes.ParseKey(v)
		if err != nil && v != "" {
			errs = append(errs, fmt.Errorf("%w: %s: %w", errBadEnv, k, err))
		}
		return kk
	}
	if p := str("PREFIX"); p != l.Prefix && p != "" {
		errs = append(errs, fmt.Errorf("%w: PREFIX %q, want %q", errBadEnv, p, l.Prefix))
	}
	l.Dir = str("LAB_DIR")
	l.StoreDir = str("STORE_DIR")
	l.NATA, l.NATB = str("NAT_A"), str("NAT_B")
	l.WANA, l.WANB = addr("NATA_WAN"), addr("NATB_WAN")
	l.GatewayA, l.GatewayB = addr("NATA_LAN"), addr("NATB_LAN")
	l.HostA, l.HostB = addr("A_ADDR"), addr("B_ADDR")
	l.InetGateway = addr("INET_GW")
	stunPort := port("STUN_PORT")
	l.STUN1 = netip.AddrPortFrom(addr("STUN1_ADDR"), stunPort)
	l.STUN2 = netip.AddrPortFrom(addr("STUN2_ADDR"), stunPort)
	l.STUNAltPort = port("STUN_ALT_PORT")
	l.Probe = addr("PROBE_ADDR")
	l.WGMode = ""
	if _, ok := env["WG_A_IF"]; ok {
		l.WGMode = WGGo
		if m, ok := env["WG_MODE"]; ok {
			l.WGMode = m
		}
		if l.WGMode != WGGo && l.WGMode != WGKernel {
			errs = append(errs, fmt.Errorf("%w: WG_MODE %q, want go or kernel", errBadEnv, l.WGMode))
		}
		wgPort := port("WG_PORT")
		peer := func(side, ns string) *WGPeer {
			listen := wgPort
			if _, ok := env["WG_"+side+"_PORT"]; ok {
				listen = port("WG_" + side + "_PORT")
			}
			p := &WGPeer{
				Netns:      ns,
				Iface:      str("WG_" + side + "_IF"),
				ListenPort: listen,
				PublicKey:  key("WG_" + side + "_PUB"),
				KeyFile:    str("WG_" + side + "_KEY_FILE"),
			}
			p.Addr = netip.PrefixFrom(addr("WG_"+side+"_ADDR"), 24)
			if p.KeyFile != "" {
				b, err := os.ReadFile(p.KeyFile)
				if err != nil {
					errs = append(errs, fmt.Errorf("read private key of %s: %w", side, err))
				} else if p.PrivateKey, err = wgtypes.ParseKey(strings.TrimSpace(string(b))); err != nil {
					errs = append(errs, fmt.Errorf("private key of %s in %s: %w", side, p.KeyFile, err))
				} else if p.PrivateKey.PublicKey() != p.PublicKey {
					errs = append(errs, fmt.Errorf("%w: WG_%s_PUB does not match %s", errBadEnv, side, p.KeyFile))
				}
			}
			return p
		}
		l.WGA = peer("A", l.Netns(RoleA))
		l.WGB = peer("B", l.Netns(RoleB))
	}
	l.Env = env
	return errors.Join(errs...)
}

// findLabScript finds scripts/lab/lab.sh at the module root above the working
// directory (go test runs in the package directory).
func findLabScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			s := filepath.Join(dir, "scripts", "lab", "lab.sh")
			if _, err := os.Stat(s); err != nil {
				return "", fmt.Errorf("module root %s: %w", dir, err)
			}
			return s, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errNoModRoot
		}
		dir = parent
	}
}

// randomPrefix returns "w" and four random characters of [a-z0-9].
func randomPrefix() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte("w0000")
	r := make([]byte, len(b)-1)
	_, _ = rand.Read(r)
	for i, c := range r {
		b[i+1] = chars[int(c)%len(chars)]
	}
	return string(b)
}

// conntrackMapping finds, in the output of `conntrack -L -p udp` on a NAT
// router, the mapping the NAT gave host:port for its flow with peer: the
// reply tuple's destination when the flow was opened from inside, the
// original tuple's destination when it was opened from outside (through a
// full-cone NAT).
func conntrackMapping(out string, host netip.Addr, port uint16, peer netip.Addr) (netip.AddrPort, bool) {
	h, pt, pr := host.String(), strconv.Itoa(int(port)), peer.String()
	for line := range strings.Lines(out) {
		var src, dst, sport, dport []string
		for _, w := range strings.Fields(line) {
			k, v, _ := strings.Cut(w, "=")
			switch k {
			case "src":
				src = append(src, v)
			case "dst":
				dst = append(dst, v)
			case "sport":
				sport = append(sport, v)
			case "dport":
				dport = append(dport, v)
			}
		}
		if len(src) != 2 || len(dst) != 2 || len(sport) != 2 || len(dport) != 2 {
			continue
		}
		for i := range 2 {
			if src[i] == h && sport[i] == pt && dst[i] == pr {
				ap, err := netip.ParseAddrPort(dst[1-i] + ":" + dport[1-i])
				return ap, err == nil
			}
		}
	}
	return netip.AddrPort{}, false
}
