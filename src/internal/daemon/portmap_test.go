package daemon

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/natcheck"
	"github.com/wgstun/wgstun/src/internal/portmap"
	"github.com/wgstun/wgstun/src/internal/wg"
	"github.com/wgstun/wgstun/src/record"
)

// fakeMapper stands in for portmap.Mapper: the test sets its status.
type fakeMapper struct {
	port    uint16
	hint    func() netip.Addr
	changed chan struct{}
	mu      sync.Mutex
	st      portmap.Status
	checks  int
	stopped chan struct{} // closed when Run returns (the mapping deleted)
}

func (f *fakeMapper) Run(ctx context.Context) { <-ctx.Done(); close(f.stopped) }
func (f *fakeMapper) Status() portmap.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}
func (f *fakeMapper) Changed() <-chan struct{} { return f.changed }
func (f *fakeMapper) Check() {
	f.mu.Lock()
	f.checks++
	f.mu.Unlock()
}
func (f *fakeMapper) set(st portmap.Status) {
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
	f.changed <- struct{}{}
}

// withMapper turns port mapping on for s and returns the mappers it makes.
func withMapper(ctx context.Context, s *side, mode string) *[]*fakeMapper {
	var made []*fakeMapper
	s.r.d.deps.NewPortMapper = func(ic config.Interface, port uint16, hint func() netip.Addr, _ *logfmt.Logger) (PortMapper, error) {
		f := &fakeMapper{port: port, hint: hint, changed: make(chan struct{}, 1), stopped: make(chan struct{})}
		made = append(made, f)
		return f, nil
	}
	s.r.set.ic.PortMapping = mode
	s.r.ctx = ctx
	return &made
}

// published opens the record a wrote for b.
func published(t *testing.T, st *memStore, a, b *side) record.Endpoints {
	t.Helper()
	val, err := st.Get(context.Background(), record.Key(a.priv.PublicKey(), b.priv.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	e, err := record.Open(val, b.priv, a.priv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPortMappingPublished(t *testing.T) {
	a, b, st, clk := newPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	made := withMapper(ctx, a, config.PortMapAuto)
	a.r.disc.class = natcheck.Class{Mapping: natcheck.AddressAndPortDependent, Filtering: natcheck.FilterAddressAndPort}
	settle(ctx, a.r)
	if len(*made) != 1 || (*made)[0].port != 51820 {
		t.Fatalf("mappers made: %d", len(*made))
	}
	m := (*made)[0]
	if got := m.hint(); got != netip.MustParseAddr("198.51.100.1") {
		t.Errorf("gateway hint %v, want the STUN server", got)
	}
	if m.checks != 1 {
		t.Errorf("the first STUN answer made %d checks, want 1 (the gateway may be found toward it now)", m.checks)
	}
	stun := netip.MustParseAddrPort("203.0.113.10:40001")
	if e := published(t, st, a, b); e.IPv4 != stun {
		t.Fatalf("before a mapping: published %v", e.IPv4)
	}
	if is := a.r.d.board.snapshot().Interfaces[0]; is.PortMapping != "auto" || is.PortMapExternal.IsValid() {
		t.Errorf("status before a mapping: %+v", is)
	}

	// The gateway grants a mapping: it is published, with a hint that
	// lets any peer in, and status shows it.
	ext := netip.MustParseAddrPort("203.0.113.10:51820")
	gw := netip.MustParseAddr("192.168.10.1")
	m.set(portmap.Status{Protocol: portmap.PCP, Gateway: gw, External: ext, Expires: clk.t.Add(2 * time.Hour)})
	<-m.Changed()
	a.r.mappingChanged()
	clk.advance(time.Second)
	settle(ctx, a.r)
	e := published(t, st, a, b)
	if e.IPv4 != ext || e.NAT != "eim+eif" {
		t.Fatalf("with a mapping: published %v nat %q, want %v eim+eif", e.IPv4, e.NAT, ext)
	}
	is := a.r.d.board.snapshot().Interfaces[0]
	if is.PortMapProtocol != "PCP" || is.PortMapGateway != "192.168.10.1" || is.PortMapExternal != ext ||
		!is.PortMapExpires.Equal(clk.t.Add(time.Hour+59*time.Minute+59*time.Second)) || is.IPv4 != stun || is.NAT != "apdm+apdf" {
		t.Errorf("status with a mapping: %+v", is)
	}
	// b, port-restricted, is reachable from a symmetric NAT with a mapping.
	prc := natcheck.Class{Mapping: natcheck.EndpointIndependent, Filtering: natcheck.FilterAddressAndPort}
	p := &peer{cand: netip.MustParseAddrPort("203.0.113.20:1"), setAt: clk.t, rec: record.Endpoints{NAT: prc.Hint()}}
	if state, reason := a.r.connecting(p, clk.t.Add(time.Hour)); state != StateConnecting {
		t.Errorf("with a mapping: %s %q", state, reason)
	}
	// A repair looks at the mapping again.
	a.r.repair(p, clk.t.Add(time.Hour))
	if m.checks != 2 {
		t.Errorf("repair did not check the mapping (%d checks)", m.checks)
	}

	// The gateway refuses the renewal: back to STUN's mapping.
	m.set(portmap.Status{Protocol: portmap.PCP, Gateway: gw, Err: "gateway 192.168.10.1 refuses to map the port (not authorized)"})
	<-m.Changed()
	a.r.mappingChanged()
	clk.advance(time.Second)
	settle(ctx, a.r)
	if e := published(t, st, a, b); e.IPv4 != stun || e.NAT != "apdm+apdf" {
		t.Fatalf("after the loss: published %v nat %q", e.IPv4, e.NAT)
	}
	if state, _ := a.r.connecting(p, clk.t); state != StateImpossible {
		t.Errorf("without the mapping the pair is %s", state)
	}
	if is := a.r.d.board.snapshot().Interfaces[0]; !strings.Contains(is.PortMapError, "not authorized") || is.PortMapExternal.IsValid() {
		t.Errorf("status after the loss: %+v", is)
	}

	// A new listen port maps the new port; the old mapper is stopped
	// (and so deletes its mapping) first.
	a.wg.mutate("wga", func(d *wg.Device, _ *wg.Peer) { d.ListenPort = 51821 })
	clk.advance(watchEvery)
	settle(ctx, a.r)
	select {
	case <-m.stopped:
	default:
		t.Fatal("old mapper still running")
	}
	if len(*made) != 2 || (*made)[1].port != 51821 {
		t.Fatalf("no mapper for the new port: %d", len(*made))
	}
	// The runner's end stops it too.
	a.r.closePaths()
	select {
	case <-(*made)[1].stopped:
	default:
		t.Fatal("mapper still running after the paths closed")
	}
}

func TestPortMappingOff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   string
		family config.Family
	}{{"off", config.PortMapOff, config.IPv4}, {"ipv6 only", config.PortMapAuto, config.IPv6}} {
		t.Run(tc.name, func(t *testing.T) {
			a, _, _, _ := newPair(t)
			ctx := context.Background()
			made := withMapper(ctx, a, tc.mode)
			a.r.set.ic.Family = tc.family
			settle(ctx, a.r)
			if len(*made) != 0 {
				t.Errorf("a mapper was started")
			}
		})
	}
}
