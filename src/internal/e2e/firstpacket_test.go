package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// firstPingBound is what TestFirstPacket holds on a loaded two-core CI
// machine and in the TCG guest (kernel mode); `make bench` reports the
// real figure, a few hundred milliseconds.
const (
	firstPingBound     = time.Second
	firstPingBoundSlow = 2 * time.Second
)

// TestFirstPacket: two peers behind port-restricted cone NATs, WireGuard
// set up with keepalive and a preshared key and already trying (a ping
// runs before wgstun knows any endpoint, so WireGuard's 5 s handshake
// throttle is armed on both sides), then both daemons start. The first
// ping answered through the tunnel must come within firstPingBound of the
// second daemon's start: wgstun re-creates each peer with its endpoint,
// which clears the throttle. Each side's peer configuration (allowed IPs,
// keepalive, preshared key) must come out as it went in, and status must
// say the peer was re-created and why. With fast_handshake = false nothing
// is re-created (the first ping then waits for WireGuard's retry, which is
// logged, not asserted). On wireguard-go here, on kernel WireGuard in the
// x86_64 guest (LAB_WG=kernel).
func TestFirstPacket(t *testing.T) {
	RequireTools(t, append(labTools, "ping")...)
	bin := wgstunBinary(t)
	t.Run("fast_handshake", func(t *testing.T) { checkFirstPacket(t, bin, true) })
	t.Run("fast_handshake_off", func(t *testing.T) { checkFirstPacket(t, bin, false) })
}

func checkFirstPacket(t *testing.T, bin string, fast bool) {
	const nat = "port-restricted-cone"
	l := StartLab(t, nat, nat)
	l.SetupWireGuard()
	p := &pair{lab: l, env: l.Env, dir: l.Dir}

	psk, err := wgtypes.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pskFile := filepath.Join(l.Dir, "psk")
	if err := os.WriteFile(pskFile, []byte(psk.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, side := range []string{RoleA, RoleB} {
		self, other, err := l.wgPeers(side)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := p.ns(side, "wg", "set", self.Iface, "peer", other.PublicKey.String(), "preshared-key", pskFile); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		before[side] = peerConfig(t, p, side)
		if !strings.Contains(before[side], psk.String()) {
			t.Fatalf("%s: preshared key not set: %s", side, before[side])
		}
	}

	// Traffic before any endpoint is known: WireGuard tries, fails for
	// want of an endpoint, and stamps its throttle (the keepalive set up
	// with the peer has done so already). -D prints each reply's
	// wall-clock time. Kernel WireGuard refuses a packet for a peer
	// without endpoint (sendmsg: EDESTADDRREQ), which ends ping, so a
	// loop starts it again until 8 s have passed.
	loop := fmt.Sprintf(`end=$(($(date +%%s) + 8)); while [ "$(date +%%s)" -lt "$end" ]; do ping -n -D -i 0.05 -W 0.05 -w 1 %s; sleep 0.05; done`,
		p.env["WG_B_ADDR"])
	ping := l.Command(RoleA, "sh", "-c", loop)
	pingOut, err := ping.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var pingErr bytes.Buffer
	ping.Stderr = &pingErr
	pingStart := time.Now()
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)

	iface := fmt.Sprintf("ping_interval = \"1s\"\nfast_handshake = %v", fast)
	p.startWgstun(t, RoleA, bin, p.fileStore(), iface)
	p.startWgstun(t, RoleB, bin, p.fileStore(), iface)
	t0 := time.Now()

	first, err := firstReply(pingOut)
	_ = ping.Process.Kill()
	_ = ping.Wait()
	if err != nil {
		t.Fatalf("no ping through the tunnel within 8 s of the ping's start: %v (ping ran %v; its stderr: %q)",
			err, time.Since(pingStart).Round(time.Millisecond), pingErr.String())
	}
	took := first.Sub(t0)
	t.Logf("first ping answered %v after both daemons started (bound %v with fast_handshake)", took.Round(time.Millisecond), map[bool]time.Duration{true: firstPingBoundSlow, false: firstPingBound}[WGModeOrGo() == WGKernel])
	bound := firstPingBound
	if WGModeOrGo() == WGKernel {
		// qemu TCG: path checks' round and the fresh device read before
		// acting cost a few hundred ms more under emulation (0.47-1.12 s
		// measured there); wireguard-go here keeps the 1 s bound.
		bound = firstPingBoundSlow
	}
	if fast && took > bound {
		t.Errorf("first ping took %v after both daemons started, want at most %v (WireGuard's 5 s retry not avoided?)", took, bound)
	}

	for _, side := range []string{RoleA, RoleB} {
		if after := peerConfig(t, p, side); after != before[side] {
			t.Errorf("%s: peer configuration changed beyond the endpoint:\nbefore: %s\nafter:  %s", side, before[side], after)
		}
	}
	// At least one side re-created its peer (the other may have learned
	// the endpoint from the handshake itself first); status says so.
	recreated := 0
	for _, side := range []string{RoleA, RoleB} {
		if _, ps, ok := p.peerStatus(side); ok && !ps.Recreated.IsZero() {
			recreated++
			// The side with the higher public key re-creates only if
			// nothing came of the other's within recreateDefer.
			if ps.RecreatedWhy != "no handshake yet" && ps.RecreatedWhy != "no handshake yet (deferred)" {
				t.Errorf("%s: recreated_why %q, want %q", side, ps.RecreatedWhy, "no handshake yet")
			}
		}
	}
	switch {
	case fast && recreated == 0:
		t.Error("neither side's status reports a re-created peer")
	case !fast && recreated > 0:
		t.Errorf("fast_handshake = false, yet %d sides re-created their peer", recreated)
	}
}

// peerConfig is side's one peer as `wg show IF dump` has it, without the
// fields WireGuard changes by itself (endpoint, handshake, counters):
// public key, preshared key, allowed IPs, keepalive.
func peerConfig(t *testing.T, p *pair, side string) string {
	t.Helper()
	out, err := p.ns(side, "wg", "show", p.env["WG_"+strings.ToUpper(side)+"_IF"], "dump")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%s: wg show dump has %d lines, want the interface and one peer:\n%s", side, len(lines), out)
	}
	f := strings.Split(lines[1], "\t")
	if len(f) != 8 {
		t.Fatalf("%s: peer line has %d fields: %q", side, len(f), lines[1])
	}
	ips := strings.Split(f[3], ",")
	slices.Sort(ips)
	return strings.Join([]string{f[0], f[1], strings.Join(ips, ","), f[7]}, " ")
}

// firstReply reads ping -D output until the first reply and returns its
// time.
func firstReply(r interface{ Read([]byte) (int, error) }) (time.Time, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "bytes from") || !strings.HasPrefix(line, "[") {
			continue
		}
		ts, _, ok := strings.Cut(line[1:], "]")
		if !ok {
			continue
		}
		sec, err := strconv.ParseFloat(ts, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("ping timestamp %q: %w", ts, err)
		}
		go func() {
			for sc.Scan() {
			}
		}()
		return time.Unix(0, int64(sec*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("no reply (ping ended: %v)", sc.Err())
}
