package ping

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// memConn is an in-memory conn: writes are recorded, reads come from in.
type memConn struct {
	mu      sync.Mutex
	sent    []sentMsg
	sendErr error
	in      chan inMsg
	done    chan struct{}
	once    sync.Once
}

type sentMsg struct {
	dst netip.Addr
	msg []byte
}

type inMsg struct {
	src netip.Addr
	msg []byte
}

func newMemConn() *memConn {
	return &memConn{in: make(chan inMsg), done: make(chan struct{})}
}

func (c *memConn) writeTo(msg []byte, dst netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sendErr != nil {
		return c.sendErr
	}
	c.sent = append(c.sent, sentMsg{dst, append([]byte(nil), msg...)})
	return nil
}

func (c *memConn) readFrom(buf []byte) ([]byte, netip.Addr, error) {
	select {
	case m := <-c.in:
		return m.msg, m.src, nil
	case <-c.done:
		return nil, netip.Addr{}, errors.New("closed")
	}
}

func (c *memConn) Close() error { c.once.Do(func() { close(c.done) }); return nil }

// lastTo returns the last echo request sent to dst.
func (c *memConn) lastTo(t *testing.T, dst netip.Addr) echo {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.sent) - 1; i >= 0; i-- {
		if c.sent[i].dst == dst {
			e, err := parseEcho(c.sent[i].msg, dst.Is4())
			if err != nil {
				t.Fatalf("sent a bad echo request: %v", err)
			}
			return e
		}
	}
	t.Fatalf("nothing sent to %v", dst)
	return echo{}
}

// count is how many messages went to dst.
func (c *memConn) count(dst netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.sent {
		if m.dst == dst {
			n++
		}
	}
	return n
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	p     *Prober
	clk   *fakeClock
	conns [2]*memConn
	opens int
	fail  error // returned by open while set
	wg    sync.WaitGroup
}

func newHarness(t *testing.T, interval time.Duration) *harness {
	h := &harness{clk: &fakeClock{t: time.Unix(1000, 0)}}
	h.p = newProber("wg0", interval)
	h.p.now = h.clk.now
	h.p.open = func(iface string, v6 bool) (conn, bool, error) {
		h.opens++
		if h.fail != nil {
			return nil, false, h.fail
		}
		c := newMemConn()
		h.conns[b2i(v6)] = c
		return c, false, nil
	}
	t.Cleanup(func() {
		h.p.mu.Lock()
		for i := range h.p.fams {
			h.p.closeFamily(i, nil)
		}
		h.p.mu.Unlock()
		h.wg.Wait()
	})
	return h
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (h *harness) round() { h.p.round(&h.wg) }

// reply makes the prober read a reply to e from src and waits until it
// was handled.
func (h *harness) reply(t *testing.T, src netip.Addr, typ uint8, e echo) {
	t.Helper()
	v6 := src.Is6()
	msg := marshalEcho(v6, e.ID, e.Seq, e.Data)
	msg[0] = typ
	if !v6 {
		msg[2], msg[3] = 0, 0
		c := checksum(msg)
		msg[2], msg[3] = byte(c>>8), byte(c)
	}
	h.conns[b2i(v6)].in <- inMsg{src, msg}
	// A second, unmatched message proves the first one was processed.
	h.conns[b2i(v6)].in <- inMsg{src, nil}
}

func (h *harness) result(a string) Result { return h.p.Result(netip.MustParseAddr(a)) }

func drain(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestTimeout(t *testing.T) {
	tests := []struct {
		name           string
		interval, want time.Duration
	}{
		{"short interval", 200 * time.Millisecond, 500 * time.Millisecond},
		{"interval", 2 * time.Second, 2 * time.Second},
		{"long interval", time.Minute, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newProber("wg0", tt.interval).timeout; got != tt.want {
				t.Fatalf("timeout %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewProberBadInput(t *testing.T) {
	if !supported {
		t.Skip("no backend on this system")
	}
	tests := []struct {
		name     string
		iface    string
		interval time.Duration
	}{
		{"empty name", "", time.Second},
		{"long name", "wg0123456789abcd", time.Second},
		{"slash", "wg/0", time.Second},
		{"zero interval", "wg0", 0},
		{"tiny interval", "wg0", time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewProber(tt.iface, tt.interval); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestReplyAccounting(t *testing.T) {
	h := newHarness(t, time.Second)
	a4, a6 := netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("fd00::2")
	h.p.SetTargets([]netip.Addr{a4, a6, {}})
	h.round()
	if h.opens != 2 {
		t.Fatalf("%d sockets opened, want 2", h.opens)
	}
	e4 := h.conns[0].lastTo(t, a4)
	if e4.Type != typeEchoRequest4 || e4.ID != h.p.id || string(e4.Data) != string(h.p.cookie[:]) {
		t.Fatalf("request %+v", e4)
	}
	if e6 := h.conns[1].lastTo(t, a6); e6.Type != typeEchoRequest6 {
		t.Fatalf("request %+v", e6)
	}

	h.clk.add(30 * time.Millisecond)
	// Foreign and wrong replies are ignored.
	bad := []struct {
		name string
		src  netip.Addr
		typ  uint8
		e    echo
	}{
		{"wrong source", netip.MustParseAddr("10.77.0.3"), typeEchoReply4, e4},
		{"wrong id", a4, typeEchoReply4, echo{ID: e4.ID + 1, Seq: e4.Seq, Data: e4.Data}},
		{"wrong seq", a4, typeEchoReply4, echo{ID: e4.ID, Seq: e4.Seq + 7, Data: e4.Data}},
		{"wrong cookie", a4, typeEchoReply4, echo{ID: e4.ID, Seq: e4.Seq, Data: []byte("12345678")}},
		{"request, not reply", a4, typeEchoRequest4, e4},
	}
	for _, b := range bad {
		h.reply(t, b.src, b.typ, b.e)
		if r := h.result("10.77.0.2"); r.Received != 0 || r.Sent != 0 {
			t.Fatalf("%s counted: %+v", b.name, r)
		}
	}
	drain(h.p.Changed())
	h.reply(t, a4, typeEchoReply4, e4)
	r := h.result("10.77.0.2")
	if r.Sent != 1 || r.Received != 1 || r.RTT != 30*time.Millisecond || !r.Alive() || r.Loss() != 0 {
		t.Fatalf("after reply: %+v", r)
	}
	if !drain(h.p.Changed()) {
		t.Fatal("no Changed when the target came alive")
	}
	// A duplicate is not counted twice.
	h.reply(t, a4, typeEchoReply4, e4)
	if r := h.result("10.77.0.2"); r.Received != 1 || r.Sent != 1 {
		t.Fatalf("duplicate counted: %+v", r)
	}

	// The IPv6 target stays silent: missed once its timeout passed,
	// and a reply after that is ignored.
	e6 := h.conns[1].lastTo(t, a6)
	h.clk.add(time.Second)
	h.p.expire()
	h.reply(t, a6, typeEchoReply6, e6)
	r = h.result("fd00::2")
	if r.Sent != 1 || r.Received != 0 || r.Misses != 1 || r.Loss() != 100 || r.Failing() {
		t.Fatalf("after timeout: %+v", r)
	}
	h.round()
	h.clk.add(time.Second)
	h.p.expire()
	r = h.result("fd00::2")
	if !r.Failing() || r.Misses != failAfter || r.Alive() {
		t.Fatalf("after %d misses: %+v", failAfter, r)
	}
	if !drain(h.p.Changed()) {
		t.Fatal("no Changed when the target started failing")
	}

	// Results survive SetTargets for kept targets; dropped ones vanish.
	h.p.SetTargets([]netip.Addr{netip.MustParseAddr("::ffff:10.77.0.2")})
	if r := h.result("10.77.0.2"); r.Received != 1 {
		t.Fatalf("kept target lost its result: %+v", r)
	}
	if r := h.result("fd00::2"); r != (Result{}) {
		t.Fatalf("dropped target: %+v", r)
	}
	h.round() // closes the unused IPv6 socket
	if h.p.fams[1].c != nil {
		t.Fatal("IPv6 socket kept without IPv6 targets")
	}
}

func TestWindow(t *testing.T) {
	h := newHarness(t, time.Second)
	a := netip.MustParseAddr("10.0.0.1")
	h.p.SetTargets([]netip.Addr{a})
	// 12 rounds: the first 4 answered, then 8 silent; the first silent
	// one is retried at once (see TestFastRetry), so 9 misses.
	for i := range 12 {
		h.round()
		if i < 4 {
			h.clk.add(10 * time.Millisecond)
			h.reply(t, a, typeEchoReply4, h.conns[0].lastTo(t, a))
		}
		h.clk.add(time.Second)
		h.p.expire()
	}
	r := h.result("10.0.0.1")
	if r.Sent != 10 || r.Received != 1 || r.Misses != 9 || r.Loss() != 90 {
		t.Fatalf("%+v, want 1 of 10 received, 9 misses", r)
	}
	if (Result{}).Loss() != 0 {
		t.Fatal("loss of nothing sent")
	}
}

// TestFastRetry: once a target answered, a probe is missed after 8 times
// its smoothed round trip (at least 250 ms) and the first miss is probed
// again at once, so a dead path is Failing two short timeouts after it
// broke. Before any reply, and for a slow target, the interval's timeout
// holds.
func TestFastRetry(t *testing.T) {
	h := newHarness(t, time.Second)
	a := netip.MustParseAddr("10.0.0.1")
	h.p.SetTargets([]netip.Addr{a})
	sent := func() int { return h.conns[0].count(a) }

	// Before any reply: the full timeout, no retry.
	h.round()
	h.clk.add(300 * time.Millisecond)
	h.p.expire()
	if r := h.result("10.0.0.1"); r.Misses != 0 {
		t.Fatalf("missed after 300 ms before any reply: %+v", r)
	}
	h.clk.add(700 * time.Millisecond)
	h.p.expire()
	if r := h.result("10.0.0.1"); r.Misses != 1 || sent() != 1 {
		t.Fatalf("after 1 s: %+v, %d sent; want one miss and no retry", r, sent())
	}

	// A reply after 10 ms sets the round trip; the next silent probe is
	// missed at 250 ms and retried at once, and the retry's miss 250 ms
	// later makes the target Failing.
	h.round()
	h.clk.add(10 * time.Millisecond)
	h.reply(t, a, typeEchoReply4, h.conns[0].lastTo(t, a))
	h.clk.add(990 * time.Millisecond)
	h.round()
	n := sent()
	h.clk.add(249 * time.Millisecond)
	h.p.expire()
	if r := h.result("10.0.0.1"); r.Misses != 0 || sent() != n {
		t.Fatalf("at 249 ms: %+v, %d sent", r, sent()-n)
	}
	h.clk.add(time.Millisecond)
	h.p.expire()
	if r := h.result("10.0.0.1"); r.Misses != 1 || sent() != n+1 {
		t.Fatalf("at 250 ms: %+v, %d retries; want one miss and one retry", r, sent()-n)
	}
	drain(h.p.Changed())
	h.clk.add(250 * time.Millisecond)
	h.p.expire()
	if r := h.result("10.0.0.1"); !r.Failing() || sent() != n+1 {
		t.Fatalf("at 500 ms: %+v, %d retries; want Failing and no second retry", r, sent()-n)
	}
	if !drain(h.p.Changed()) {
		t.Fatal("Changed not signalled when the target became Failing")
	}

	// A retry that is answered clears the miss.
	h.round()
	h.clk.add(10 * time.Millisecond)
	h.reply(t, a, typeEchoReply4, h.conns[0].lastTo(t, a))
	h.round()
	h.clk.add(250 * time.Millisecond)
	h.p.expire() // missed: retried
	h.clk.add(5 * time.Millisecond)
	h.reply(t, a, typeEchoReply4, h.conns[0].lastTo(t, a))
	if r := h.result("10.0.0.1"); r.Misses != 0 || r.Failing() {
		t.Fatalf("answered retry: %+v", r)
	}

	// A slow target: 8 times a 200 ms round trip exceeds the interval's
	// timeout, which then holds.
	h.p.mu.Lock()
	h.p.targets[a].srtt = 200 * time.Millisecond
	got := h.p.timeoutFor(h.p.targets[a])
	h.p.mu.Unlock()
	if got != time.Second {
		t.Fatalf("timeout for a 200 ms round trip = %v, want the interval's 1 s", got)
	}
}

func TestSocketErrors(t *testing.T) {
	h := newHarness(t, time.Second)
	a := netip.MustParseAddr("10.0.0.1")
	h.p.SetTargets([]netip.Addr{a})
	h.fail = errors.New("ping: open icmp socket for wg0: no such device")
	h.round()
	h.round()
	r := h.result("10.0.0.1")
	if r.Err != h.fail.Error() || r.Misses != 2 || h.opens != 2 {
		t.Fatalf("%+v after %d opens", r, h.opens)
	}
	h.fail = nil
	h.round()
	if r := h.result("10.0.0.1"); r.Err != "" || h.opens != 3 {
		t.Fatalf("%+v after %d opens", r, h.opens)
	}
	h.round()
	if h.opens != 3 {
		t.Fatalf("reopened a working socket: %d opens", h.opens)
	}
	h.p.Reopen()
	old := h.conns[0]
	h.round()
	if h.opens != 4 || h.conns[0] == old {
		t.Fatalf("Reopen did not reopen: %d opens", h.opens)
	}
	select {
	case <-old.done:
	default:
		t.Fatal("Reopen left the old socket open")
	}

	// A read error closes the socket; the next round opens a new one.
	c := h.conns[0]
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.p.mu.Lock()
		closed := h.p.fams[0].c == nil
		h.p.mu.Unlock()
		if closed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("read error did not drop the socket")
		}
		time.Sleep(time.Millisecond)
	}
	h.round()
	if h.opens != 5 {
		t.Fatalf("%d opens after a read error, want 5", h.opens)
	}
}
