package e2e

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/daemon"
	"github.com/wgstun/wgstun/src/internal/pathcheck"
	"github.com/wgstun/wgstun/src/stun"
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
	p := startChecksPair(t, PortRestrictedCone, "same", "")
	l := p.lab
	t0 := time.Now()
	// One echo at a time with a 200 ms wait, so that an echo queued
	// before the tunnel is up (and dropped when the peer is re-created)
	// costs 200 ms of the measurement, not ping's usual second.
	var took time.Duration
	for deadline := t0.Add(10 * time.Second); took == 0; {
		if _, err := p.ns(RoleA, "ping", "-c", "1", "-W", "0.2", p.env["WG_B_ADDR"]); err == nil {
			took = time.Since(t0)
		} else if time.Now().After(deadline) {
			t.Fatal("no ping from a to b through the tunnel within 10 s")
		}
	}
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

// startChecksPair brings up a lab with natA and natB (or "same"), WireGuard,
// and wgstun on both sides with the lab's file store and refresh 1m; a's
// interface table gets extraA's keys too.
func startChecksPair(t *testing.T, natA, natB, extraA string) *pair {
	t.Helper()
	RequireTools(t, append(labTools, "ping")...)
	bin := wgstunBinary(t)
	l := StartLab(t, natA, natB)
	l.SetupWireGuard()
	p := &pair{lab: l, env: l.Env, dir: l.Dir}
	p.startWgstun(t, RoleA, bin, p.fileStore(), "refresh = \"1m\"\n"+extraA)
	p.startWgstun(t, RoleB, bin, p.fileStore(), `refresh = "1m"`)
	return p
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
	p := startChecksPair(t, PortRestrictedCone, PortRestrictedCone, "path_checks = false")
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

// TestPathCheckInjection: a host on the "internet" sends path checks to
// a's WireGuard port (a sits behind a full-cone NAT, so they arrive):
// garbage, a check under the wrong key, and a check built with b's real
// key, then that same check again. Only the authentic one is answered,
// once; nothing changes a's endpoint or state, and the drops are counted.
// Then, with a flood of authentic checks arriving (answered up to the
// rate limit), a ping flood through the tunnel loses nothing: WireGuard
// ignores the checks, which are not WireGuard messages, and so does its
// traffic.
func TestPathCheckInjection(t *testing.T) {
	p := startChecksPair(t, FullCone, PortRestrictedCone, "")
	l := p.lab
	if !p.pingUntil(RoleA, 20*time.Second) || !p.pingUntil(RoleB, 5*time.Second) {
		t.Fatal("the pair did not connect")
	}
	var ifc daemon.InterfaceStatus
	var before daemon.PeerStatus
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var ok bool
		ifc, before, ok = p.peerStatus(RoleA)
		if ok && ifc.IPv4.IsValid() && before.State == daemon.StateConnected && before.Endpoint.IsValid() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a's status never showed the peer connected: %+v", ifc)
		}
	}
	target := ifc.IPv4 // a's WireGuard port as the internet sees it
	conn, err := l.ListenUDP(RoleInet, netip.MustParseAddrPort(l.Env["PROBE_ADDR"]+":0"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := pathcheck.Key(l.WGB.PrivateKey, l.WGA.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := pathcheck.Key(l.WGB.PrivateKey, l.WGB.PublicKey)
	var seq pathcheck.Seq
	check := func(k []byte) []byte {
		u := pathcheck.Username{Tag: pathcheck.Tag(l.WGB.PublicKey), Epoch: time.Now().UnixMilli(), Seq: seq.Next()}
		return stun.AppendCheckRequest(nil, stun.NewTxID(), u.String(), k)
	}
	// answered sends q and reports whether an authentic answer came back
	// within 500 ms.
	answered := func(q []byte) bool {
		if _, err := conn.WriteToUDPAddrPort(q, target); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return false
			}
			if r, err := stun.ParseResponse(buf[:n]); err == nil && [12]byte(q[8:20]) == r.TxID {
				return stun.VerifyIntegrity(buf[:n], key)
			}
		}
	}
	valid := check(key)
	for _, c := range []struct {
		name string
		q    []byte
		want bool
	}{
		{"garbage", []byte("\x00\x01\x00\x00\x21\x12\xa4\x42not a check at all"), false},
		{"plain binding request", stun.AppendBindingRequest(nil, stun.NewTxID(), 0), false},
		{"wrong key", check(wrong), false},
		{"authentic", valid, true},
		{"replayed", valid, false},
	} {
		if got := answered(c.q); got != c.want {
			t.Errorf("%s: answered %v, want %v", c.name, got, c.want)
		}
	}
	ifc2, after, _ := p.peerStatus(RoleA)
	if after.Endpoint != before.Endpoint || after.State != daemon.StateConnected {
		t.Errorf("a's peer changed: endpoint %v -> %v, state %s", before.Endpoint, after.Endpoint, after.State)
	}
	// (b's own checks are answered meanwhile, so only drops are counted
	// here: the four refused above.)
	if d := ifc2.ChecksDropped - ifc.ChecksDropped; d != 4 {
		t.Errorf("a counted %d checks dropped, want 4", d)
	}

	// WireGuard's traffic while checks arrive: 2000 packets of ping flood.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			conn.WriteToUDPAddrPort(check(key), target)
		}
	}()
	out, err := p.ns(RoleB, "ping", "-q", "-f", "-c", "2000", "-w", "30", l.WGA.Addr.Addr().String())
	close(stop)
	<-done
	if err != nil || !strings.Contains(out, " 0% packet loss") {
		t.Errorf("ping flood through the tunnel while checks arrive: %v\n%s", err, out)
	}
	t.Logf("ping flood while checks arrive: %s", lastLine(out))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
