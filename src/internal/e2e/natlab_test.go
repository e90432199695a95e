package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// The lab's own test: every NAT router behaves as its type says (RFC 4787
// mapping and filtering, probed the RFC 5780 way against the lab's coturn
// and probe address), nothing in a lab routes out of it, and WireGuard
// works through it.

// noArrival is how long a probe that must be dropped is waited for.
const noArrival = 500 * time.Millisecond

// natBehaviour is what RFC 4787 says a NAT type does.
type natBehaviour struct {
	name string
	nat  string
	// endpointIndependentMapping: one local port has one public mapping
	// whatever the destination (and the lab's cone NATs keep the port).
	endpointIndependentMapping bool
	// After the host sent from p to X:x, which senders reach its mapping:
	// X:x always; X from another port; another public address Y.
	fromSameHostOtherPort bool
	fromOtherHost         bool
}

var natBehaviours = []natBehaviour{
	{name: "full-cone", nat: FullCone, endpointIndependentMapping: true, fromSameHostOtherPort: true, fromOtherHost: true},
	{name: "restricted-cone", nat: RestrictedCone, endpointIndependentMapping: true, fromSameHostOtherPort: true},
	{name: "port-restricted-cone", nat: PortRestrictedCone, endpointIndependentMapping: true},
	{name: "symmetric", nat: Symmetric},
}

func TestNATLab(t *testing.T) {
	// Two labs cover the four types: one type behind a, one behind b.
	for i := 0; i+1 < len(natBehaviours); i += 2 {
		ba, bb := natBehaviours[i], natBehaviours[i+1]
		t.Run(ba.name+"_and_"+bb.name, func(t *testing.T) {
			t.Parallel()
			l := StartLab(t, ba.nat, bb.nat)
			t.Run("isolation", func(t *testing.T) { checkIsolation(t, l) })
			for _, c := range []struct {
				side string
				b    natBehaviour
			}{{RoleA, ba}, {RoleB, bb}} {
				t.Run(c.b.name, func(t *testing.T) {
					t.Run("mapping", func(t *testing.T) { checkMapping(t, l, c.side, c.b) })
					t.Run("filtering", func(t *testing.T) { checkFiltering(t, l, c.side, c.b) })
				})
			}
		})
	}
}

func (l *Lab) wan(side string) netip.Addr {
	if side == RoleA {
		return l.WANA
	}
	return l.WANB
}

// checkMapping sends Binding requests from one local port to three
// destinations: STUN 1, STUN 2 (another address) and STUN 1's alternate port.
func checkMapping(t *testing.T, l *Lab, side string, b natBehaviour) {
	c, err := l.ListenUDP(side, netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
	if err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddrPort(c.LocalAddr().String())
	dsts := []netip.AddrPort{l.STUN1, l.STUN2, netip.AddrPortFrom(l.STUN1.Addr(), l.STUNAltPort)}
	mapped := make([]netip.AddrPort, len(dsts))
	for i, dst := range dsts {
		m, other, err := stunBinding(c, dst)
		if err != nil {
			t.Fatalf("binding from %s port %d to %v: %v", side, local.Port(), dst, err)
		}
		if m.Addr() != l.wan(side) {
			t.Errorf("mapped address via %v is %v, want the NAT's WAN %v", dst, m, l.wan(side))
		}
		if i == 0 {
			// RFC 5780: coturn names its other address and port.
			want := netip.AddrPortFrom(l.STUN2.Addr(), l.STUNAltPort)
			if other != want {
				t.Errorf("OTHER-ADDRESS from %v is %v, want %v", dst, other, want)
			}
		}
		mapped[i] = m
	}
	t.Logf("%s (%s): local port %d mapped to %v", side, b.nat, local.Port(), mapped)
	if b.endpointIndependentMapping {
		for i, m := range mapped {
			if want := netip.AddrPortFrom(l.wan(side), local.Port()); m != want {
				t.Errorf("mapping toward %v is %v, want %v (one port-preserving mapping for every destination)", dsts[i], m, want)
			}
		}
		return
	}
	for i := range mapped {
		for j := i + 1; j < len(mapped); j++ {
			if mapped[i] == mapped[j] {
				t.Errorf("mappings toward %v and %v are both %v, want one per destination", dsts[i], dsts[j], mapped[i])
			}
		}
	}
}

// checkFiltering: the host sends from port p to X:x; then X:x, X:x' and Y:y
// send to the mapping X saw, and exactly the allowed ones must arrive.
func checkFiltering(t *testing.T, l *Lab, side string, b natBehaviour) {
	any4 := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	inside, err := l.ListenUDP(side, any4)
	if err != nil {
		t.Fatal(err)
	}
	x, err := l.ListenUDP(RoleInet, netip.AddrPortFrom(l.Probe, 0))
	if err != nil {
		t.Fatal(err)
	}
	xOther, err := l.ListenUDP(RoleInet, netip.AddrPortFrom(l.Probe, 0))
	if err != nil {
		t.Fatal(err)
	}
	y, err := l.ListenUDP(RoleInet, netip.AddrPortFrom(l.STUN2.Addr(), 0))
	if err != nil {
		t.Fatal(err)
	}
	xAddr := netip.MustParseAddrPort(x.LocalAddr().String())
	if _, err := inside.WriteToUDPAddrPort([]byte("hello"), xAddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = x.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, mapping, err := x.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("X %v did not get the host's packet: %v", xAddr, err)
	}
	mapping = netip.AddrPortFrom(mapping.Addr().Unmap(), mapping.Port())
	if mapping.Addr() != l.wan(side) {
		t.Fatalf("X saw the host as %v, want the NAT's WAN %v", mapping, l.wan(side))
	}

	senders := []struct {
		name string
		conn *net.UDPConn
		want bool
	}{
		{"X from the port the host sent to", x, true},
		{"X from another port", xOther, b.fromSameHostOtherPort},
		{"another public address Y", y, b.fromOtherHost},
	}
	for _, s := range senders {
		if _, err := s.conn.WriteToUDPAddrPort([]byte(s.name), mapping); err != nil {
			t.Fatalf("%s: send to %v: %v", s.name, mapping, err)
		}
	}
	got := map[string]netip.AddrPort{}
	_ = inside.SetReadDeadline(time.Now().Add(noArrival))
	for {
		n, from, err := inside.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
		got[string(buf[:n])] = from
	}
	for _, s := range senders {
		from, arrived := got[s.name]
		if arrived != s.want {
			t.Errorf("%s → %v (%s NAT): arrived=%v, want %v", s.name, mapping, b.nat, arrived, s.want)
		}
		if want := netip.MustParseAddrPort(s.conn.LocalAddr().String()); arrived && from != want {
			t.Errorf("%s arrived from %v, want %v", s.name, from, want)
		}
	}
}

// checkIsolation: every namespace of the lab reaches only the lab's ranges,
// and every link of the lab ends in a namespace of the lab.
func checkIsolation(t *testing.T, l *Lab) {
	outside := []string{"8.8.8.8", "1.1.1.1", "10.0.0.1", "172.17.0.1", "192.168.1.1", "100.64.0.1"}
	wantLinks := map[string][]string{
		RoleInet: {"lo", "br0", "wan-a", "wan-b"},
		RoleNATA: {"lo", "wan", "lan"},
		RoleNATB: {"lo", "wan", "lan"},
		RoleA:    {"lo", "eth0"},
		RoleB:    {"lo", "eth0"},
	}
	linkRE := regexp.MustCompile(`^\d+: ([^:@]+)[@:]`)
	for _, role := range []string{RoleInet, RoleNATA, RoleNATB, RoleA, RoleB} {
		for _, dst := range outside {
			out, err := l.Exec(role, "ip", "route", "get", dst)
			if err == nil {
				t.Errorf("%s has a route to %s: %s", l.Netns(role), dst, strings.TrimSpace(out))
			}
		}
		out, err := l.Exec(role, "ip", "-o", "link", "show")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(out) {
			m := linkRE.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("%s: cannot read link line %q", l.Netns(role), line)
				continue
			}
			if !slices.Contains(wantLinks[role], m[1]) {
				t.Errorf("%s has an unexpected link %s", l.Netns(role), m[1])
			}
			if strings.Contains(line, "link-netnsid") || (strings.Contains(line, "@if") && !strings.Contains(line, "link-netns "+l.Prefix+"-")) {
				t.Errorf("%s: link %s leads out of the lab: %s", l.Netns(role), m[1], line)
			}
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifs {
		if strings.HasPrefix(ifc.Name, l.Prefix) {
			t.Errorf("the host's namespace has the lab's interface %s", ifc.Name)
		}
	}
}

// stunBinding sends a Binding request (built with pion/stun, the reference
// implementation) from c to server, retrying twice, and returns
// XOR-MAPPED-ADDRESS and OTHER-ADDRESS (zero when absent).
func stunBinding(c *net.UDPConn, server netip.AddrPort) (mapped, other netip.AddrPort, err error) {
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	buf := make([]byte, 1500)
	for try := 0; try < 3; try++ {
		if _, err := c.WriteToUDPAddrPort(req.Raw, server); err != nil {
			return mapped, other, err
		}
		_ = c.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return mapped, other, err
			}
			m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if from != server || m.Decode() != nil || m.TransactionID != req.TransactionID {
				continue
			}
			var xor stun.XORMappedAddress
			if err := xor.GetFrom(m); err != nil {
				return mapped, other, fmt.Errorf("response from %v: %w", server, err)
			}
			mapped = toAddrPort(xor.IP, xor.Port)
			var oa stun.OtherAddress
			if oa.GetFrom(m) == nil {
				other = toAddrPort(oa.IP, oa.Port)
			}
			return mapped, other, nil
		}
	}
	return mapped, other, fmt.Errorf("no Binding response from %v in 3 tries", server)
}

func toAddrPort(ip net.IP, port int) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), uint16(port))
}

// TestLabWireGuard: lab.sh wg gives two wireguard-go peers that reach each
// other through two port-restricted cone NATs once each endpoint is set by
// hand to the other's NAT mapping (WAN:51820, the port is kept).
func TestLabWireGuard(t *testing.T) {
	RequireTools(t, "ping")
	t.Parallel()
	l := StartLab(t, PortRestrictedCone, PortRestrictedCone)
	a, b := l.SetupWireGuard()
	if a.Iface == b.Iface || len(a.Iface) > 15 || !strings.HasPrefix(a.Iface, l.Prefix) {
		t.Fatalf("interface names %q and %q: want distinct, prefixed, at most 15 characters", a.Iface, b.Iface)
	}
	mode, err := WGMode()
	if err != nil || l.WGMode != mode {
		t.Fatalf("lab.env says WireGuard %q, LAB_WG %q (%v)", l.WGMode, mode, err)
	}
	for _, p := range []*WGPeer{a, b} {
		role := strings.TrimPrefix(p.Netns, l.Prefix+"-")
		out, err := l.Exec(role, "wg", "show", p.Iface, "listen-port")
		if err != nil || strings.TrimSpace(out) != fmt.Sprint(p.ListenPort) || p.ListenPort != 51820 {
			t.Fatalf("%s listen-port: %q %v, want 51820", p.Iface, out, err)
		}
		// The interface is what LAB_WG asked for: a kernel link, or
		// wireguard-go's TUN device.
		out, err = l.Exec(role, "ip", "-d", "link", "show", p.Iface)
		if err != nil || isKernelWG(out) != (mode == WGKernel) {
			t.Fatalf("%s is not %s WireGuard: %v\n%s", p.Iface, mode, err, out)
		}
	}
	for _, side := range []string{RoleA, RoleB} {
		if ep, err := l.Endpoint(side); err != nil || ep.IsValid() {
			t.Fatalf("%s: endpoint %v %v before it was set, want none", side, ep, err)
		}
	}
	if err := l.SetEndpoint(RoleA, netip.AddrPortFrom(l.WANB, b.ListenPort)); err != nil {
		t.Fatal(err)
	}
	if err := l.SetEndpoint(RoleB, netip.AddrPortFrom(l.WANA, a.ListenPort)); err != nil {
		t.Fatal(err)
	}
	// Both sides send, so whichever goes second finds its own NAT's hole
	// open: the handshake needs at most one 5 s retry.
	start := time.Now()
	var wg sync.WaitGroup
	results := map[string]error{}
	var mu sync.Mutex
	for _, c := range []struct{ from, to string }{{RoleA, b.Addr.Addr().String()}, {RoleB, a.Addr.Addr().String()}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := l.Exec(c.from, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-w", "15", c.to)
			if err != nil {
				err = fmt.Errorf("%w\n%s", err, out)
			}
			mu.Lock()
			results[c.from] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for from, err := range results {
		if err != nil {
			t.Errorf("ping through the tunnel from %s: %v", from, err)
		}
	}
	t.Logf("tunnel up in both directions after %v", time.Since(start).Round(time.Millisecond))
	// The endpoints are still the NAT mappings: each WireGuard saw its peer
	// come from the other WAN's port 51820.
	for _, c := range []struct {
		side string
		want netip.AddrPort
	}{{RoleA, netip.AddrPortFrom(l.WANB, 51820)}, {RoleB, netip.AddrPortFrom(l.WANA, 51820)}} {
		if ep, err := l.Endpoint(c.side); err != nil || ep != c.want {
			t.Errorf("%s: endpoint %v %v, want %v", c.side, ep, err, c.want)
		}
	}
}
