package e2e

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/daemon"
)

// sameNATBound is what TestSameNAT holds: two peers behind one NAT that
// does not hairpin connect over their LAN within a second of the second
// daemon's start (the target), on wireguard-go and on kernel
// WireGuard; the TCG guest is given more (sameNATBoundSlow).
const (
	sameNATBound     = time.Second
	sameNATBoundSlow = 5 * time.Second
)

// TestSameNAT: a and b behind one port-restricted cone NAT that does not
// hairpin. Each one's STUN mapping is useless to the other (the NAT drops
// packets from its LAN to its own WAN address); path checks find the LAN
// candidate, and the tunnel comes up over the LAN.
func TestSameNAT(t *testing.T) {
	RequireTools(t, append(labTools, "ping")...)
	bin := wgstunBinary(t)
	l := StartLab(t, PortRestrictedCone, "same")
	l.SetupWireGuard()
	p := &pair{lab: l, env: l.Env, dir: l.Dir}
	p.startWgstun(t, RoleA, bin, p.fileStore(), `refresh = "1m"`)
	p.startWgstun(t, RoleB, bin, p.fileStore(), `refresh = "1m"`)
	t0 := time.Now()
	if !p.pingUntil(RoleA, 10*time.Second) {
		t.Fatal("no ping from a to b through the tunnel within 10 s")
	}
	took := time.Since(t0)
	bound := sameNATBound
	if WGModeOrGo() == WGKernel {
		bound = sameNATBoundSlow
	}
	t.Logf("same NAT: first ping %v after both daemons started (bound %v)", took.Round(time.Millisecond), bound)
	if took > bound {
		t.Errorf("same-NAT peers took %v to connect, want at most %v", took, bound)
	}
	lan := map[string]netip.AddrPort{
		RoleA: netip.AddrPortFrom(l.HostB, 51820), // a's endpoint for b
		RoleB: netip.AddrPortFrom(l.HostA, 51820),
	}
	for _, side := range []string{RoleA, RoleB} {
		if got := p.endpoint(side); got != lan[side] {
			t.Errorf("%s's endpoint for its peer is %v, want the LAN address %v", side, got, lan[side])
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, ps, ok := p.peerStatus(side)
			if ok && ps.PathKind == "lan" && ps.Path == lan[side] && ps.PathRTT > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: status never showed the LAN path: %+v", side, ps)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// WGModeOrGo is WGMode, with wireguard-go for an unset or bad LAB_WG.
func WGModeOrGo() string {
	m, err := WGMode()
	if err != nil {
		return WGGo
	}
	return m
}

// TestPathChecksMixed: one side with path_checks = false, behind two
// port-restricted cone NATs: the other side sees no candidates in its
// record, checks nothing, and the pair connects from the records as
// before, both ways.
func TestPathChecksMixed(t *testing.T) {
	RequireTools(t, append(labTools, "ping")...)
	bin := wgstunBinary(t)
	l := StartLab(t, PortRestrictedCone, PortRestrictedCone)
	l.SetupWireGuard()
	p := &pair{lab: l, env: l.Env, dir: l.Dir}
	p.startWgstun(t, RoleA, bin, p.fileStore(), "refresh = \"1m\"\npath_checks = false")
	p.startWgstun(t, RoleB, bin, p.fileStore(), `refresh = "1m"`)
	if !p.pingUntil(RoleA, 20*time.Second) || !p.pingUntil(RoleB, 5*time.Second) {
		t.Fatal("the mixed pair did not connect both ways")
	}
	for _, side := range []string{RoleA, RoleB} {
		ifc, ps, ok := p.peerStatus(side)
		if !ok {
			t.Fatalf("%s: no status", side)
		}
		if ps.Path.IsValid() || ifc.ChecksAnswered > 0 {
			t.Errorf("%s: path checks ran with a peer that has them off: %+v, answered %d", side, ps, ifc.ChecksAnswered)
		}
	}
}

// labNetns runs a command in one of the lab's namespaces.
func labNetns(l *Lab, role string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", l.Netns(role)}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

var _ = daemon.StateConnected
