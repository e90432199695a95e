package portmap

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/logfmt"
)

// gateway is a scripted PCP/NAT-PMP server: it reads requests at the
// offsets of the RFCs' figures and answers by hand-built responses.
type gateway struct {
	pcp, pmp  bool       // protocols spoken (neither: silent)
	refused   bool       // ICMP port unreachable
	ext       netip.Addr // external address
	port      uint16     // assigned port; 0: the suggested one
	maxLife   uint32     // lifetime granted at most; 0: as asked
	epoch     uint32
	pcpResult uint8  // a PCP result to answer with
	pmpResult uint16 // a NAT-PMP result to answer with
	stray     bool   // answer each request first with someone else's
	port0     bool   // grant port 0
	life0     bool   // grant lifetime 0

	log []string // requests seen
}

func (g *gateway) answer(req []byte, client netip.Addr) [][]byte {
	switch {
	case len(req) >= 60 && req[0] == 2 && req[1] == 1:
		life := binary.BigEndian.Uint32(req[4:8])
		var nonce [12]byte
		copy(nonce[:], req[24:36])
		internal := binary.BigEndian.Uint16(req[40:42])
		sugg := binary.BigEndian.Uint16(req[42:44])
		inReq := netip.AddrFrom16([16]byte(req[8:24])).Unmap()
		g.log = append(g.log, fmt.Sprintf("PCP MAP life=%d internal=%d sugg=%d client=%s", life, internal, sugg, inReq))
		if !g.pcp {
			if g.pmp {
				return [][]byte{{0, 0x81, 0, 1, 0, 0, 0, byte(g.epoch)}}
			}
			return nil
		}
		res := g.pcpResult
		if res == 0 && inReq != client {
			res = 12
		}
		port := g.port
		if port == 0 {
			port = sugg
		}
		if g.maxLife != 0 {
			life = min(life, g.maxLife)
		}
		if g.port0 {
			port = 0
		}
		if g.life0 {
			life = 0
		}
		out := [][]byte{}
		if g.stray {
			out = append(out, pcpAnswer(0, life, g.epoch, [12]byte{0xff}, internal, 1, "::ffff:192.0.2.1"))
		}
		return append(out, pcpAnswer(res, life, g.epoch, nonce, internal, port, "::ffff:"+g.ext.String()))
	case len(req) == 2 && req[0] == 0 && req[1] == 0:
		g.log = append(g.log, "NAT-PMP address")
		if !g.pmp {
			return nil
		}
		b := binary.BigEndian.AppendUint16([]byte{0, 128}, g.pmpResult)
		b = binary.BigEndian.AppendUint32(b, g.epoch)
		if g.pmpResult != 0 {
			return [][]byte{b}
		}
		return [][]byte{append(b, g.ext.AsSlice()...)}
	case len(req) == 12 && req[0] == 0 && req[1] == 1:
		internal := binary.BigEndian.Uint16(req[4:6])
		sugg := binary.BigEndian.Uint16(req[6:8])
		life := binary.BigEndian.Uint32(req[8:12])
		g.log = append(g.log, fmt.Sprintf("NAT-PMP map life=%d internal=%d sugg=%d", life, internal, sugg))
		if !g.pmp {
			return nil
		}
		b := []byte{0, 129}
		b = binary.BigEndian.AppendUint16(b, g.pmpResult)
		b = binary.BigEndian.AppendUint32(b, g.epoch)
		if g.pmpResult != 0 {
			return [][]byte{b}
		}
		port := g.port
		if port == 0 {
			port = sugg
		}
		if g.maxLife != 0 {
			life = min(life, g.maxLife)
		}
		if g.port0 {
			port = 0
		}
		if g.life0 {
			life = 0
		}
		b = binary.BigEndian.AppendUint16(b, internal)
		b = binary.BigEndian.AppendUint16(b, port)
		return [][]byte{binary.BigEndian.AppendUint32(b, life)}
	}
	g.log = append(g.log, fmt.Sprintf("unknown % x", req))
	return nil
}

// fakeConn is a Conn to a gateway; reads never block.
type fakeConn struct {
	g     *gateway
	local netip.AddrPort
	now   func() time.Time
	queue [][]byte
	waits *[]time.Duration
}

func (c *fakeConn) LocalAddr() netip.AddrPort { return c.local }
func (c *fakeConn) Write(b []byte) error {
	c.queue = append(c.queue, c.g.answer(b, c.local.Addr())...)
	return nil
}
func (c *fakeConn) Read(b []byte, deadline time.Time) (int, error) {
	if c.g.refused {
		return 0, syscall.ECONNREFUSED
	}
	if len(c.queue) == 0 {
		*c.waits = append(*c.waits, deadline.Sub(c.now()))
		return 0, os.ErrDeadlineExceeded
	}
	n := copy(b, c.queue[0])
	c.queue = c.queue[1:]
	return n, nil
}
func (c *fakeConn) Close() error { return nil }

type rig struct {
	g     *gateway
	now   time.Time
	waits []time.Duration
	local netip.AddrPort // the socket's address as the gateway sees it
}

func newRig() *rig {
	return &rig{
		g:     &gateway{pcp: true, pmp: true, ext: netip.MustParseAddr("203.0.113.10"), epoch: 100},
		now:   time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		local: netip.MustParseAddrPort("192.168.10.2:40000"),
	}
}

func (r *rig) dial(_ context.Context, srv netip.AddrPort) (Conn, error) {
	if srv.Port() != ServerPort {
		return nil, fmt.Errorf("dial %v: not port 5351", srv)
	}
	return &fakeConn{g: r.g, local: r.local, now: func() time.Time { return r.now }, waits: &r.waits}, nil
}

func (r *rig) client() *Client {
	return &Client{Gateway: netip.MustParseAddr("192.168.10.1"), Dial: r.dial, Now: func() time.Time { return r.now }}
}

// mapCase is one row of TestClientMap.
type mapCase struct {
	name    string
	setup   func(g *gateway)
	proto   Protocol
	want    netip.AddrPort
	wantLog string
	wantErr error
}

func TestClientMap(t *testing.T) {
	nonce := [12]byte{7}
	tests := []mapCase{
		{name: "pcp", proto: PCP, want: netip.MustParseAddrPort("203.0.113.10:51820"),
			wantLog: "PCP MAP life=7200 internal=51820 sugg=51820 client=192.168.10.2"},
		{name: "pcp other port", proto: PCP, setup: func(g *gateway) { g.port = 40001 }, want: netip.MustParseAddrPort("203.0.113.10:40001")},
		{name: "pcp stray answer skipped", proto: PCP, setup: func(g *gateway) { g.stray = true }, want: netip.MustParseAddrPort("203.0.113.10:51820")},
		{name: "natpmp", proto: NATPMP, want: netip.MustParseAddrPort("203.0.113.10:51820"),
			wantLog: "NAT-PMP address|NAT-PMP map life=7200 internal=51820 sugg=51820"},
		{name: "pcp to natpmp gateway", proto: PCP, setup: func(g *gateway) { g.pcp = false }, wantErr: ErrUnsupportedVersion},
		{name: "pcp silent", proto: PCP, setup: func(g *gateway) { g.pcp, g.pmp = false, false }, wantErr: ErrNoAnswer},
		{name: "natpmp silent", proto: NATPMP, setup: func(g *gateway) { g.pmp = false }, wantErr: ErrNoAnswer},
		{name: "port unreachable", proto: PCP, setup: func(g *gateway) { g.refused = true }, wantErr: ErrNoServer},
	}
	// Success claimed with a mapping nobody outside could use.
	for _, p := range []Protocol{PCP, NATPMP} {
		for what, setup := range map[string]func(g *gateway){
			"external 0.0.0.0":         func(g *gateway) { g.ext = netip.IPv4Unspecified() },
			"external 255.255.255.255": func(g *gateway) { g.ext = netip.AddrFrom4([4]byte{255, 255, 255, 255}) },
			"external 127.0.0.1":       func(g *gateway) { g.ext = netip.MustParseAddr("127.0.0.1") },
			"external 224.0.0.1":       func(g *gateway) { g.ext = netip.MustParseAddr("224.0.0.1") },
			"external 169.254.1.1":     func(g *gateway) { g.ext = netip.MustParseAddr("169.254.1.1") },
			"external 192.168.1.1":     func(g *gateway) { g.ext = netip.MustParseAddr("192.168.1.1") },
			"external 100.64.0.1":      func(g *gateway) { g.ext = netip.MustParseAddr("100.64.0.1") },
			"port 0":                   func(g *gateway) { g.port0 = true },
			"lifetime 0":               func(g *gateway) { g.life0 = true },
		} {
			tests = append(tests, mapCase{name: p.String() + " " + what, proto: p, setup: setup, wantErr: ErrUnusable})
		}
	}
	for code, want := range map[uint8]error{1: ErrUnsupportedVersion, 2: ErrNotAuthorized, 3: ErrUnsupported, 4: ErrUnsupported,
		5: ErrUnsupported, 6: ErrUnsupported, 7: ErrNetworkFailure, 8: ErrNoResources, 9: ErrUnsupported,
		10: ErrNoResources, 11: ErrNoResources, 12: ErrAddressMismatch, 13: ErrNoResources, 14: ErrRefused} {
		tests = append(tests, mapCase{name: fmt.Sprintf("pcp result %d", code), proto: PCP, setup: func(g *gateway) { g.pcpResult = code }, wantErr: want})
	}
	for code, want := range map[uint16]error{1: ErrUnsupportedVersion, 2: ErrNotAuthorized, 3: ErrNetworkFailure, 4: ErrNoResources, 5: ErrUnsupported} {
		tests = append(tests, mapCase{name: fmt.Sprintf("natpmp result %d", code), proto: NATPMP, setup: func(g *gateway) { g.pmpResult = code }, wantErr: want})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			if tt.setup != nil {
				tt.setup(r.g)
			}
			c := r.client()
			var m Mapping
			var err error
			if tt.proto == PCP {
				m, err = c.MapPCP(context.Background(), nonce, 51820, netip.AddrPortFrom(netip.Addr{}, 51820), 2*time.Hour)
			} else {
				m, err = c.MapNATPMP(context.Background(), 51820, 51820, 2*time.Hour)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v (gateway saw %q)", err, tt.wantErr, r.g.log)
			}
			if err != nil {
				return
			}
			if m.External != tt.want || m.Protocol != tt.proto || m.Lifetime != 2*time.Hour || m.Epoch != 100 || m.Internal != 51820 {
				t.Errorf("mapping %+v, want external %v", m, tt.want)
			}
			if tt.wantLog != "" && strings.Join(r.g.log, "|") != tt.wantLog {
				t.Errorf("gateway saw %q, want %q", r.g.log, tt.wantLog)
			}
		})
	}
}

func TestClientAddressMismatch(t *testing.T) {
	// Behind a second NAT the gateway sees another source address than
	// the client put in the request.
	r := newRig()
	c := r.client()
	c.Dial = func(ctx context.Context, srv netip.AddrPort) (Conn, error) {
		conn, _ := r.dial(ctx, srv)
		conn.(*fakeConn).local = netip.MustParseAddrPort("10.0.0.2:40000") // what we think we are
		conn.(*fakeConn).g = &gateway{pcp: true, ext: r.g.ext}
		return &mismatch{conn.(*fakeConn)}, nil
	}
	_, err := c.MapPCP(context.Background(), [12]byte{}, 51820, netip.AddrPort{}, time.Hour)
	if !errors.Is(err, ErrAddressMismatch) || !strings.Contains(err.Error(), "ADDRESS_MISMATCH") {
		t.Fatalf("err %v", err)
	}
}

// mismatch makes the gateway see the request from 100.64.0.2.
type mismatch struct{ *fakeConn }

func (m *mismatch) Write(b []byte) error {
	m.queue = append(m.queue, m.g.answer(b, netip.MustParseAddr("100.64.0.2"))...)
	return nil
}

func TestClientRetransmission(t *testing.T) {
	tests := []struct {
		name   string
		budget time.Duration
		want   []time.Duration
	}{
		{name: "default budget", want: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 250 * time.Millisecond}},
		{name: "RFC 6886's nine tries", budget: time.Minute + 5*time.Second, want: []time.Duration{
			250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
			8 * time.Second, 16 * time.Second, 32 * time.Second, 1250 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			r.g.pcp, r.g.pmp = false, false
			c := r.client()
			c.Budget = tt.budget
			_, err := c.MapPCP(context.Background(), [12]byte{}, 51820, netip.AddrPort{}, time.Hour)
			if !errors.Is(err, ErrNoAnswer) {
				t.Fatalf("err %v", err)
			}
			if fmt.Sprint(r.waits) != fmt.Sprint(tt.want) || len(r.g.log) != len(tt.want) {
				t.Errorf("waited %v over %d sends, want %v", r.waits, len(r.g.log), tt.want)
			}
		})
	}
	// A context that ends stops the retries.
	r := newRig()
	r.g.pcp, r.g.pmp = false, false
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.client().MapPCP(ctx, [12]byte{}, 1, netip.AddrPort{}, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestClientDelete(t *testing.T) {
	r := newRig()
	c := r.client()
	if _, err := c.MapPCP(context.Background(), [12]byte{3}, 51820, netip.AddrPort{}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MapNATPMP(context.Background(), 51820, 0, 0); err != nil {
		t.Fatal(err)
	}
	want := "PCP MAP life=0 internal=51820 sugg=0 client=192.168.10.2|NAT-PMP map life=0 internal=51820 sugg=0"
	if got := strings.Join(r.g.log, "|"); got != want {
		t.Errorf("gateway saw %q, want %q", got, want)
	}
}

func logTo(b *bytes.Buffer) *logfmt.Logger {
	lv := new(logfmt.LevelVar)
	lv.Set(logfmt.LevelDebug)
	return logfmt.New(b, lv)
}
