package stun

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/stun/stuntest"
)

// watchdog bounds every wait on the goroutine under test. It is a safety
// net for a hung test, not a timing assertion; no test waits for it.
const watchdog = 5 * time.Second

type packet struct {
	b    []byte
	addr netip.AddrPort // destination when written, source when read
}

// memConn is an in-memory packet path: what the Client writes shows up on
// out, what the test puts on in is read by the Client. It honours read
// deadlines and Close like a real Conn.
type memConn struct {
	out chan packet
	in  chan packet

	mu        sync.Mutex
	deadline  time.Time
	wake      chan struct{} // closed and replaced when the deadline changes
	closed    chan struct{}
	closeOnce sync.Once
	writeErr  error
}

func newMemConn() *memConn {
	return &memConn{
		out:    make(chan packet, 64),
		in:     make(chan packet, 64),
		wake:   make(chan struct{}),
		closed: make(chan struct{}),
	}
}

func (m *memConn) WriteTo(p []byte, dst netip.AddrPort) error {
	m.mu.Lock()
	err := m.writeErr
	m.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-m.closed:
		return net.ErrClosed
	case m.out <- packet{bytes.Clone(p), dst}:
		return nil
	}
}

func (m *memConn) ReadFrom(buf []byte) (int, netip.AddrPort, error) {
	for {
		m.mu.Lock()
		dl, wake := m.deadline, m.wake
		m.mu.Unlock()
		var expire <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			expire = t.C
		}
		select {
		case p := <-m.in:
			return copy(buf, p.b), p.addr, nil
		case <-m.closed:
			return 0, netip.AddrPort{}, net.ErrClosed
		case <-wake:
		case <-expire:
		}
	}
}

func (m *memConn) SetReadDeadline(t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deadline = t
	close(m.wake)
	m.wake = make(chan struct{})
	return nil
}

func (m *memConn) Close() error {
	m.closeOnce.Do(func() { close(m.closed) })
	return nil
}

var _ Conn = (*memConn)(nil)

// fakeTimer is one timer the Client armed.
type fakeTimer struct {
	d  time.Duration
	ch chan time.Time
}

func (f fakeTimer) fire() { f.ch <- time.Time{} }

// fakeClock replaces Client.newTimer: every armed timer is reported on
// armed and fires only when the test says so.
type fakeClock struct{ armed chan fakeTimer }

func (f *fakeClock) newTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := fakeTimer{d: d, ch: make(chan time.Time, 1)}
	f.armed <- t
	return t.ch, func() bool { return true }
}

type harness struct {
	t     *testing.T
	conn  *memConn
	clock *fakeClock
	c     *Client
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, conn: newMemConn(), clock: &fakeClock{armed: make(chan fakeTimer, 64)}}
	h.c = NewClient(h.conn)
	h.c.newTimer = h.clock.newTimer
	t.Cleanup(func() {
		if err := h.c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		h.conn.Close()
	})
	return h
}

// request waits for the next request the Client sends, checks it went to
// server, and returns its transaction ID.
func (h *harness) request(server netip.AddrPort) TxID {
	h.t.Helper()
	select {
	case p := <-h.conn.out:
		if p.addr != server {
			h.t.Fatalf("request sent to %v, want %v", p.addr, server)
		}
		tx, ok := stuntest.RequestTxID(p.b)
		if !ok || len(p.b) != 28 {
			h.t.Fatalf("not a plain Binding request: %x", p.b)
		}
		return tx
	case <-time.After(watchdog):
		h.t.Fatal("no request sent")
	}
	return TxID{}
}

// timer waits for the Client to arm its next timer and checks its length.
func (h *harness) timer(want time.Duration) fakeTimer {
	h.t.Helper()
	select {
	case tm := <-h.clock.armed:
		if tm.d != want {
			h.t.Fatalf("timer armed for %v, want %v", tm.d, want)
		}
		return tm
	case <-time.After(watchdog):
		h.t.Fatal("no timer armed")
	}
	return fakeTimer{}
}

func (h *harness) deliver(b []byte, src netip.AddrPort) {
	h.conn.in <- packet{b, src}
}

type outcome struct {
	mapped, server netip.AddrPort
	err            error
}

// binding runs Binding in the background.
func (h *harness) binding(ctx context.Context, server netip.AddrPort) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		m, err := h.c.Binding(ctx, server)
		ch <- outcome{mapped: m, server: server, err: err}
	}()
	return ch
}

func (h *harness) discover(ctx context.Context, servers ...netip.AddrPort) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		m, s, err := h.c.Discover(ctx, servers)
		ch <- outcome{m, s, err}
	}()
	return ch
}

func (h *harness) wait(ch <-chan outcome) outcome {
	h.t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(watchdog):
		h.t.Fatal("call did not return")
	}
	return outcome{}
}

var (
	serverA = netip.MustParseAddrPort("192.0.2.10:3478")
	serverB = netip.MustParseAddrPort("192.0.2.20:3478")
	public4 = netip.MustParseAddrPort("198.51.100.7:51820")
	server6 = netip.MustParseAddrPort("[2001:db8::10]:3478")
	public6 = netip.MustParseAddrPort("[2001:db8:ffff::7]:51820")
	other4  = netip.MustParseAddrPort("198.51.100.8:40000")
)

func TestBindingSuccess(t *testing.T) {
	h := newHarness(t)
	res := h.binding(t.Context(), serverA)
	tx := h.request(serverA)
	h.timer(250 * time.Millisecond)
	h.deliver(stuntest.BindingSuccess(tx, public4), serverA)
	o := h.wait(res)
	if o.err != nil || o.mapped != public4 {
		t.Fatalf("Binding = %v, %v; want %v", o.mapped, o.err, public4)
	}
	if s := h.c.Stats(); s != (Stats{}) {
		t.Errorf("Stats = %+v, want zero", s)
	}
}

func TestBindingIPv6(t *testing.T) {
	h := newHarness(t)
	res := h.binding(t.Context(), server6)
	tx := h.request(server6)
	h.timer(DefaultRTO)
	h.deliver(stuntest.BindingSuccess(tx, public6), server6)
	if o := h.wait(res); o.err != nil || o.mapped != public6 {
		t.Fatalf("Binding = %v, %v; want %v", o.mapped, o.err, public6)
	}
}

func TestBindingV4MappedSourceMatches(t *testing.T) {
	h := newHarness(t)
	res := h.binding(t.Context(), serverA)
	tx := h.request(serverA)
	h.timer(DefaultRTO)
	mapped := netip.AddrPortFrom(netip.AddrFrom16(serverA.Addr().As16()), serverA.Port())
	h.deliver(stuntest.BindingSuccess(tx, public4), mapped)
	if o := h.wait(res); o.err != nil || o.mapped != public4 {
		t.Fatalf("Binding = %v, %v; want %v", o.mapped, o.err, public4)
	}
}

func TestBindingRetransmitThenSuccess(t *testing.T) {
	h := newHarness(t)
	res := h.binding(t.Context(), serverA)
	tx1 := h.request(serverA)
	h.timer(250 * time.Millisecond).fire()
	tx2 := h.request(serverA)
	if tx2 != tx1 {
		t.Fatalf("retransmission changed TxID: %x then %x", tx1, tx2)
	}
	h.timer(500 * time.Millisecond).fire()
	h.request(serverA)
	h.timer(1000 * time.Millisecond)
	h.deliver(stuntest.BindingSuccess(tx1, public4), serverA)
	if o := h.wait(res); o.err != nil || o.mapped != public4 {
		t.Fatalf("Binding = %v, %v; want %v", o.mapped, o.err, public4)
	}
}

func TestBindingTimeoutSchedule(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rto       time.Duration
		transmits int
		waits     []time.Duration
	}{
		{"defaults: 3 s in all", 0, 0, []time.Duration{250e6, 500e6, 1000e6, 1250e6}},
		{"one transmission", 100 * time.Millisecond, 1, []time.Duration{500e6}},
		{"six transmissions", 100 * time.Millisecond, 6, []time.Duration{100e6, 200e6, 400e6, 800e6, 1600e6, 500e6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.c.RTO, h.c.Transmits = tc.rto, tc.transmits
			res := h.binding(t.Context(), serverA)
			var total time.Duration
			for _, d := range tc.waits {
				h.request(serverA)
				h.timer(d).fire()
				total += d
			}
			o := h.wait(res)
			if !errors.Is(o.err, ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", o.err)
			}
			if !strings.Contains(o.err.Error(), serverA.String()) {
				t.Errorf("error %q does not name the server", o.err)
			}
			if tc.rto == 0 && total != 3*time.Second {
				t.Errorf("default budget %v, want 3s", total)
			}
			select {
			case p := <-h.conn.out:
				t.Errorf("extra transmission %x", p.b)
			default:
			}
		})
	}
}

func TestDiscoverFailsOverOnSilence(t *testing.T) {
	h := newHarness(t)
	res := h.discover(t.Context(), serverA, serverB)
	for _, d := range []time.Duration{250e6, 500e6, 1000e6, 1250e6} {
		h.request(serverA)
		h.timer(d).fire()
	}
	tx := h.request(serverB)
	h.timer(DefaultRTO)
	h.deliver(stuntest.BindingSuccess(tx, public4), serverB)
	o := h.wait(res)
	if o.err != nil || o.mapped != public4 || o.server != serverB {
		t.Fatalf("Discover = %v via %v, %v; want %v via %v", o.mapped, o.server, o.err, public4, serverB)
	}
}

func TestIgnoredResponses(t *testing.T) {
	decoy := netip.MustParseAddrPort("203.0.113.66:4444")
	for _, tc := range []struct {
		name string
		bad  func(tx TxID) packet
		want Stats
	}{
		{
			name: "wrong TxID",
			bad: func(tx TxID) packet {
				tx[0] ^= 1
				return packet{stuntest.BindingSuccess(tx, decoy), serverA}
			},
			want: Stats{Unmatched: 1},
		},
		{
			name: "right TxID from wrong address",
			bad:  func(tx TxID) packet { return packet{stuntest.BindingSuccess(tx, decoy), serverB} },
			want: Stats{Spoofed: 1},
		},
		{
			name: "right TxID from wrong port",
			bad: func(tx TxID) packet {
				return packet{stuntest.BindingSuccess(tx, decoy), netip.AddrPortFrom(serverA.Addr(), 3479)}
			},
			want: Stats{Spoofed: 1},
		},
		{
			name: "right TxID, bad fingerprint",
			bad: func(tx TxID) packet {
				b := stuntest.BindingSuccess(tx, decoy)
				b[len(b)-1] ^= 1
				return packet{b, serverA}
			},
			want: Stats{Garbage: 1},
		},
		{
			name: "garbage",
			bad:  func(TxID) packet { return packet{[]byte("hello, wireguard"), serverA} },
			want: Stats{Garbage: 1},
		},
		{
			name: "own request echoed",
			bad:  func(tx TxID) packet { return packet{AppendBindingRequest(nil, tx, 0), serverA} },
			want: Stats{Garbage: 1},
		},
		{
			name: "spoofed error response",
			bad: func(tx TxID) packet {
				return packet{stuntest.BindingError(tx, 400, "no"), serverB}
			},
			want: Stats{Spoofed: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			res := h.binding(t.Context(), serverA)
			tx := h.request(serverA)
			h.timer(DefaultRTO)
			h.deliver(tc.bad(tx).b, tc.bad(tx).addr)
			h.deliver(stuntest.BindingSuccess(tx, public4), serverA)
			o := h.wait(res)
			if o.err != nil || o.mapped != public4 {
				t.Fatalf("Binding = %v, %v; want %v", o.mapped, o.err, public4)
			}
			// The read loop handles packets in order, so the bad one has
			// been counted by the time the good one was delivered.
			if s := h.c.Stats(); s != tc.want {
				t.Errorf("Stats = %+v, want %+v", s, tc.want)
			}
		})
	}
}

func TestErrorResponseFailsOver(t *testing.T) {
	h := newHarness(t)
	res := h.discover(t.Context(), serverA, serverB)
	tx := h.request(serverA)
	h.timer(DefaultRTO)
	h.deliver(stuntest.BindingError(tx, 420, "Unknown Attribute"), serverA)
	tx = h.request(serverB)
	h.timer(DefaultRTO)
	h.deliver(stuntest.BindingSuccess(tx, other4), serverB)
	if o := h.wait(res); o.err != nil || o.mapped != other4 || o.server != serverB {
		t.Fatalf("Discover = %v via %v, %v; want %v via %v", o.mapped, o.server, o.err, other4, serverB)
	}
}

func TestDiscoverAllFail(t *testing.T) {
	h := newHarness(t)
	h.c.Transmits = 1
	res := h.discover(t.Context(), serverA, server6)
	tx := h.request(serverA)
	h.timer(LastWaitFactor * DefaultRTO)
	h.deliver(stuntest.Message(stuntest.TypeBindingError, tx, stuntest.ErrorCode(500, "Server Error")), serverA)
	h.request(server6)
	h.timer(LastWaitFactor * DefaultRTO).fire()
	o := h.wait(res)
	var er *ErrorResponse
	if !errors.As(o.err, &er) || er.Code != 500 || er.Reason != "Server Error" {
		t.Errorf("err = %v, want it to wrap error response 500", o.err)
	}
	if !errors.Is(o.err, ErrTimeout) {
		t.Errorf("err = %v, want it to match ErrTimeout", o.err)
	}
	msg := o.err.Error()
	for _, s := range []string{serverA.String(), server6.String(), "500", "Server Error", "no response"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not mention %q", msg, s)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
}

func TestDiscoverNoServers(t *testing.T) {
	h := newHarness(t)
	if _, _, err := h.c.Discover(t.Context(), nil); err == nil {
		t.Fatal("Discover(nil) succeeded")
	}
}

func TestBindingInvalidServer(t *testing.T) {
	h := newHarness(t)
	for _, s := range []netip.AddrPort{{}, netip.MustParseAddrPort("192.0.2.1:0"), netip.MustParseAddrPort("0.0.0.0:3478"), netip.MustParseAddrPort("[::]:3478")} {
		if _, err := h.c.Binding(t.Context(), s); err == nil {
			t.Errorf("Binding(%v) succeeded", s)
		}
	}
	select {
	case p := <-h.conn.out:
		t.Errorf("sent %x to %v", p.b, p.addr)
	default:
	}
}

func TestBindingUnusableMapped(t *testing.T) {
	for _, m := range []netip.AddrPort{
		netip.MustParseAddrPort("0.0.0.0:51820"),
		netip.MustParseAddrPort("198.51.100.7:0"),
		netip.MustParseAddrPort("[::]:51820"),
		netip.MustParseAddrPort("[2001:db8::7]:51820"),         // another family than the server's
		netip.MustParseAddrPort("[::ffff:198.51.100.7]:51820"), // IPv6 family, mapped IPv4
		netip.MustParseAddrPort("224.0.0.1:51820"),
		netip.MustParseAddrPort("255.255.255.255:51820"),
		netip.MustParseAddrPort("127.0.0.1:51820"),
	} {
		t.Run(m.String(), func(t *testing.T) {
			h := newHarness(t)
			res := h.binding(t.Context(), serverA)
			tx := h.request(serverA)
			h.timer(DefaultRTO)
			h.deliver(stuntest.BindingSuccess(tx, m), serverA)
			if o := h.wait(res); o.err == nil || !strings.Contains(o.err.Error(), "unusable mapped address") {
				t.Fatalf("Binding = %v, %v; want unusable mapped address error", o.mapped, o.err)
			}
		})
	}
}

func TestContextCancel(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(t.Context())
	res := h.discover(ctx, serverA, serverB)
	h.request(serverA)
	h.timer(DefaultRTO) // never fired
	cancel()
	o := h.wait(res)
	if !errors.Is(o.err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", o.err)
	}
	select {
	case p := <-h.conn.out:
		t.Errorf("Discover went on to %v after cancel", p.addr)
	default:
	}
}

func TestLateResponseAfterTimeout(t *testing.T) {
	h := newHarness(t)
	h.c.Transmits = 1
	res := h.binding(t.Context(), serverA)
	tx := h.request(serverA)
	h.timer(LastWaitFactor * DefaultRTO).fire()
	if o := h.wait(res); !errors.Is(o.err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", o.err)
	}
	// The late answer is dropped; a new transaction still works.
	h.deliver(stuntest.BindingSuccess(tx, public4), serverA)
	res = h.binding(t.Context(), serverA)
	tx2 := h.request(serverA)
	h.timer(LastWaitFactor * DefaultRTO)
	h.deliver(stuntest.BindingSuccess(tx2, other4), serverA)
	if o := h.wait(res); o.err != nil || o.mapped != other4 {
		t.Fatalf("Binding = %v, %v; want %v", o.mapped, o.err, other4)
	}
	if s := h.c.Stats(); s.Unmatched != 1 {
		t.Errorf("Stats = %+v, want Unmatched 1", s)
	}
}

func TestConcurrentBindings(t *testing.T) {
	h := newHarness(t)
	resA := h.binding(t.Context(), serverA)
	txA := h.request(serverA)
	h.timer(DefaultRTO)
	resB := h.binding(t.Context(), server6)
	txB := h.request(server6)
	h.timer(DefaultRTO)
	// Answer in the other order.
	h.deliver(stuntest.BindingSuccess(txB, public6), server6)
	h.deliver(stuntest.BindingSuccess(txA, public4), serverA)
	if o := h.wait(resA); o.err != nil || o.mapped != public4 {
		t.Errorf("A: %v, %v", o.mapped, o.err)
	}
	if o := h.wait(resB); o.err != nil || o.mapped != public6 {
		t.Errorf("B: %v, %v", o.mapped, o.err)
	}
}

func TestCloseEndsTransactionsButNotConn(t *testing.T) {
	h := newHarness(t)
	res := h.binding(t.Context(), serverA)
	h.request(serverA)
	h.timer(DefaultRTO)
	if err := h.c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if o := h.wait(res); !errors.Is(o.err, ErrClosed) {
		t.Fatalf("in-flight err = %v, want ErrClosed", o.err)
	}
	if _, err := h.c.Binding(t.Context(), serverA); !errors.Is(err, ErrClosed) {
		t.Fatalf("Binding after Close: %v, want ErrClosed", err)
	}
	if err := h.c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case <-h.conn.closed:
		t.Fatal("Client closed the Conn")
	default:
	}
	h.conn.mu.Lock()
	dl := h.conn.deadline
	h.conn.mu.Unlock()
	if !dl.IsZero() {
		t.Errorf("read deadline left at %v", dl)
	}
	// The Conn is still usable by its owner.
	h.deliver([]byte("x"), serverA)
	buf := make([]byte, 8)
	if n, _, err := h.conn.ReadFrom(buf); err != nil || n != 1 {
		t.Errorf("ReadFrom after Close = %d, %v", n, err)
	}
}

func TestCloseUnused(t *testing.T) {
	c := NewClient(newMemConn())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Binding(t.Context(), serverA); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

func TestConnFailure(t *testing.T) {
	h := newHarness(t)
	res := h.discover(t.Context(), serverA, serverB)
	h.request(serverA)
	h.timer(DefaultRTO)
	h.conn.Close()
	o := h.wait(res)
	if !errors.Is(o.err, net.ErrClosed) || !strings.Contains(o.err.Error(), "read loop stopped") {
		t.Fatalf("err = %v, want read loop stopped: net.ErrClosed", o.err)
	}
	if _, err := h.c.Binding(t.Context(), serverA); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Binding after Conn failure: %v", err)
	}
}

func TestWriteErrorFailsOver(t *testing.T) {
	h := newHarness(t)
	h.conn.writeErr = errors.New("network is unreachable")
	res := h.discover(t.Context(), server6, serverA)
	o := h.wait(res)
	if o.err == nil || strings.Count(o.err.Error(), "network is unreachable") != 2 {
		t.Fatalf("err = %v, want a send error for each server", o.err)
	}
	if !strings.Contains(o.err.Error(), "send binding request to "+server6.String()) {
		t.Errorf("err %q does not name the operation and server", o.err)
	}
}

// TestExchange: a CHANGE-REQUEST transaction carries the flags, takes its
// answer from the server's other address and returns the whole response
// and its source; without flags an answer from elsewhere is dropped as
// spoofed, as for Binding.
func TestExchange(t *testing.T) {
	server := netip.MustParseAddrPort("198.51.100.1:3478")
	other := netip.MustParseAddrPort("198.51.100.2:3479")
	mapped := netip.MustParseAddrPort("203.0.113.10:40000")
	tests := []struct {
		name    string
		change  Change
		from    netip.AddrPort
		wantErr error
	}{
		{"no flags, answer from the server", 0, server, nil},
		{"change IP and port, answer from the other address", ChangeIP | ChangePort, other, nil},
		{"change port, answer from the other port", ChangePort, netip.AddrPortFrom(server.Addr(), other.Port()), nil},
		{"no flags, answer from elsewhere is dropped", 0, other, ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.c.Transmits = 1
			type res struct {
				r   Response
				src netip.AddrPort
				err error
			}
			ch := make(chan res, 1)
			go func() {
				r, src, err := h.c.Exchange(context.Background(), server, tt.change)
				ch <- res{r, src, err}
			}()
			var req packet
			select {
			case req = <-h.conn.out:
			case <-time.After(watchdog):
				t.Fatal("no request sent")
			}
			wantLen, wantFlags := 28, uint32(0)
			if tt.change != 0 {
				wantLen, wantFlags = 36, uint32(tt.change)
			}
			if len(req.b) != wantLen || req.addr != server {
				t.Fatalf("request %x to %v, want %d bytes to %v", req.b, req.addr, wantLen, server)
			}
			if wantFlags != 0 && (be.Uint16(req.b[20:]) != attrChangeRequest || be.Uint32(req.b[24:]) != wantFlags) {
				t.Fatalf("request %x lacks CHANGE-REQUEST %#x", req.b, wantFlags)
			}
			tx, ok := stuntest.RequestTxID(req.b)
			if !ok {
				t.Fatalf("request %x is not a Binding request", req.b)
			}
			tm := h.timer(LastWaitFactor * DefaultRTO)
			resp := stuntest.BindingSuccess(tx, mapped, stuntest.OtherAddress(other), stuntest.ResponseOrigin(tt.from))
			h.deliver(resp, tt.from)
			if tt.wantErr != nil {
				// Let the read loop see the packet before the timer fires.
				deadline := time.Now().Add(watchdog)
				for h.c.Stats().Spoofed == 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				tm.fire()
			}
			var got res
			select {
			case got = <-ch:
			case <-time.After(watchdog):
				t.Fatal("Exchange did not return")
			}
			if tt.wantErr != nil {
				if !errors.Is(got.err, tt.wantErr) {
					t.Fatalf("err %v, want %v", got.err, tt.wantErr)
				}
				return
			}
			if got.err != nil {
				t.Fatal(got.err)
			}
			want := Response{TxID: tx, Mapped: mapped, Other: other, Origin: tt.from}
			if got.r != want || got.src != tt.from {
				t.Errorf("got %+v from %v, want %+v from %v", got.r, got.src, want, tt.from)
			}
		})
	}
}
