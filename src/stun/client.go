package stun

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Retransmission defaults. RFC 8489 §6.2.1 sends at 0, RTO, 3·RTO, 7·RTO ...
// (doubling) and waits Rm·RTO after the last of Rc transmissions, with
// RTO 500 ms, Rc 7, Rm 16: 39.5 s. A daemon that re-probes every few
// minutes and has a second server to try wants a short budget instead:
// with RTO 250 ms and 4 transmissions the requests go out at 0, 0.25, 0.75
// and 1.75 s, and the last wait is LastWaitFactor·RTO = 1.25 s, so one
// server costs 3 s before Discover moves on.
const (
	DefaultRTO       = 250 * time.Millisecond
	DefaultTransmits = 4
	LastWaitFactor   = 5
)

var (
	// ErrTimeout is matched by Binding's error when no valid response
	// came back from the server within the retransmission budget.
	ErrTimeout = errors.New("stun: no response")
	// ErrClosed is matched by errors of transactions cut short by Close or
	// started after it.
	ErrClosed = errors.New("stun: client closed")
)

// Client runs STUN Binding transactions over a Conn it does not own. It is
// the only reader of the Conn while it runs: one read loop, started by the
// first Binding, hands each response to the transaction whose ID it
// carries, but only if it came from the address that transaction's request
// went to. Everything else is counted in Stats and dropped.
//
// The Client only ever sends Binding requests. To punch a hole towards a
// peer, write AppendBindingIndication's bytes to the Conn directly; the
// Conn must allow writes concurrent with the Client's reads (the raw-socket
// paths do). ReadFrom errors other than a deadline stop the read loop and
// fail every transaction with that error, so a Conn should return only
// fatal errors and drop transient ones itself.
//
// Set the exported fields before the first Binding call and leave them
// alone afterwards.
type Client struct {
	// RTO is the initial retransmission timeout; 0 means DefaultRTO.
	RTO time.Duration
	// Transmits is the most requests sent per Binding; 0 means
	// DefaultTransmits.
	Transmits int
	// Logger, if set, gets a debug line per response dropped for coming
	// from an unexpected source.
	Logger interface {
		Debug(msg string, args ...any)
	}
	// OnRequest, if set, gets every Binding request the read loop reads
	// (path checks from peers; see AppendCheckRequest) with its source.
	// It runs on the read loop and must not keep b.
	OnRequest func(b []byte, src netip.AddrPort)

	conn Conn
	// newTimer is time.NewTimer's channel and Stop; tests replace it.
	newTimer func(d time.Duration) (<-chan time.Time, func() bool)

	mu      sync.Mutex
	pending map[TxID]*transaction
	started bool
	closed  bool
	readErr error // why the read loop stopped, if it did on its own

	closing chan struct{} // closed by Close
	done    chan struct{} // closed when the read loop returns

	garbage, unmatched, spoofed atomic.Uint64
}

type transaction struct {
	server netip.AddrPort
	// anySource: a CHANGE-REQUEST transaction, answered from the server's
	// other address or port, so the source is not checked here.
	anySource bool
	keepRaw   bool        // hand the response's bytes back (Check)
	result    chan result // buffered, receives at most one value
}

type result struct {
	resp Response
	raw  []byte // the response as received, for a keepRaw transaction
	src  netip.AddrPort
	err  error
}

// Stats counts packets the read loop dropped.
type Stats struct {
	Garbage   uint64 // not a Binding response (ParseResponse failed)
	Unmatched uint64 // no outstanding transaction has its ID (late or stray)
	Spoofed   uint64 // right transaction ID, wrong source address
}

// NewClient returns a Client that sends and receives on c. The read loop
// starts with the first Binding, so a Client that is never used costs no
// goroutine.
func NewClient(c Conn) *Client {
	return &Client{
		conn: c,
		newTimer: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		},
		pending: make(map[TxID]*transaction),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// Stats returns the drop counters.
func (c *Client) Stats() Stats {
	return Stats{
		Garbage:   c.garbage.Load(),
		Unmatched: c.unmatched.Load(),
		Spoofed:   c.spoofed.Load(),
	}
}

// Close ends outstanding transactions with ErrClosed and stops the read
// loop: it sets a read deadline in the past to wake the blocked ReadFrom,
// waits for the loop to return, then clears the deadline. It does not close
// the Conn; whoever opened the Conn closes it. The Conn must honour
// SetReadDeadline; if that fails Close returns the error without waiting,
// and the loop ends with the next packet or when the Conn is closed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closing)
	started := c.started
	var err error
	if started {
		err = c.conn.SetReadDeadline(time.Unix(1, 0))
	}
	c.mu.Unlock()
	if !started {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stun: close: wake read loop: %w", err)
	}
	<-c.done
	if err := c.conn.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("stun: close: clear read deadline: %w", err)
	}
	return nil
}

func (c *Client) readLoop() {
	defer close(c.done)
	buf := make([]byte, 2048)
	for {
		n, src, err := c.conn.ReadFrom(buf)
		select {
		case <-c.closing:
			return
		default:
		}
		if err == nil {
			c.handle(buf[:n], src)
			continue
		}
		if isTimeout(err) {
			// Not ours (only Close sets deadlines): clear it rather than spin.
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				return
			}
			derr := c.conn.SetReadDeadline(time.Time{})
			c.mu.Unlock()
			if derr == nil {
				continue
			}
			err = derr
		}
		c.stop(fmt.Errorf("stun: read loop stopped: %w", err))
		return
	}
}

// isTimeout reports a deadline error; net and os wrap
// os.ErrDeadlineExceeded for those.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// stop records why the read loop ended and fails every pending transaction.
func (c *Client) stop(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readErr = err
	for id, t := range c.pending {
		t.result <- result{err: err}
		delete(c.pending, id)
	}
}

// handle delivers one received packet to its transaction, if any.
func (c *Client) handle(b []byte, src netip.AddrPort) {
	if len(b) >= 2 && be.Uint16(b) == typeBindingRequest {
		if c.OnRequest != nil {
			c.OnRequest(b, src)
		} else {
			c.garbage.Add(1)
		}
		return
	}
	resp, err := ParseResponse(b)
	if err != nil {
		if _, ok := err.(*ErrorResponse); !ok {
			c.garbage.Add(1)
			return
		}
	}
	c.mu.Lock()
	t := c.pending[resp.TxID]
	if t == nil {
		c.mu.Unlock()
		c.unmatched.Add(1)
		return
	}
	if !t.anySource && !sameAddr(src, t.server) {
		c.mu.Unlock()
		c.spoofed.Add(1)
		if c.Logger != nil {
			c.Logger.Debug("stun: dropped response from unexpected source",
				"source", src, "server", t.server)
		}
		return
	}
	delete(c.pending, resp.TxID)
	c.mu.Unlock()
	res := result{resp: resp, src: src, err: err}
	if t.keepRaw {
		res.raw = append([]byte(nil), b...)
	}
	t.result <- res
}

// sameAddr compares addresses ignoring IPv4-mapping and zones, which a
// packet path may or may not report.
func sameAddr(a, b netip.AddrPort) bool {
	return a.Port() == b.Port() &&
		a.Addr().Unmap().WithZone("") == b.Addr().Unmap().WithZone("")
}

func (c *Client) register(server netip.AddrPort, anySource, keepRaw bool) (TxID, *transaction, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return TxID{}, nil, ErrClosed
	}
	if c.readErr != nil {
		return TxID{}, nil, c.readErr
	}
	if !c.started {
		c.started = true
		go c.readLoop()
	}
	tx := NewTxID()
	for c.pending[tx] != nil {
		tx = NewTxID()
	}
	t := &transaction{server: server, anySource: anySource, keepRaw: keepRaw, result: make(chan result, 1)}
	c.pending[tx] = t
	return tx, t, nil
}

func (c *Client) unregister(tx TxID) {
	c.mu.Lock()
	delete(c.pending, tx)
	c.mu.Unlock()
}

// Binding sends a Binding request to server and returns the mapped address
// from its success response. It retransmits the same request after RTO,
// 2·RTO, 4·RTO ... and gives up LastWaitFactor·RTO after the last of
// Transmits sends, returning an error matching ErrTimeout. An error response
// returns an error wrapping *ErrorResponse; a response whose mapped address
// has port 0 or an unspecified IP is an error too. Errors name the server.
func (c *Client) Binding(ctx context.Context, server netip.AddrPort) (netip.AddrPort, error) {
	r, err := c.transact(ctx, server, 0, c.RTO, c.Transmits, nil)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return checkMapped(r.resp, server)
}

// Exchange is Binding for RFC 5780's tests: it sends a Binding request with
// the CHANGE-REQUEST flags change (none when zero) and returns the whole
// response and the address it came from. Without flags only a response
// from server counts, as with Binding; with flags the server answers from
// its other address or port, so a response from anywhere counts and the
// caller checks src. Retransmission, timeout and errors are Binding's.
func (c *Client) Exchange(ctx context.Context, server netip.AddrPort, change Change) (resp Response, src netip.AddrPort, err error) {
	r, err := c.transact(ctx, server, change&(ChangeIP|ChangePort), c.RTO, c.Transmits, nil)
	if err != nil {
		return Response{}, netip.AddrPort{}, err
	}
	if _, err := checkMapped(r.resp, server); err != nil {
		return Response{}, netip.AddrPort{}, err
	}
	return r.resp, r.src, nil
}

// Check runs one path-check transaction with dst: it sends the request
// build returns for the transaction's ID (AppendCheckRequest), built again
// for each retransmission, on Binding's schedule with the given RTO and number of transmissions,
// and returns the success response from dst as received, for the caller
// to verify (VerifyIntegrity), and its mapped address. Errors are
// Binding's.
func (c *Client) Check(ctx context.Context, dst netip.AddrPort, rto time.Duration, transmits int, build func(TxID) []byte) ([]byte, netip.AddrPort, error) {
	r, err := c.transact(ctx, dst, 0, rto, transmits, build)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return r.raw, r.resp.Mapped, nil
}

// transact runs one transaction with server: a Binding request with the
// change flags, or, when build is set, the request it builds (whose
// response is handed back raw).
func (c *Client) transact(ctx context.Context, server netip.AddrPort, change Change, rto time.Duration, transmits int, build func(TxID) []byte) (result, error) {
	if !server.IsValid() || server.Port() == 0 || server.Addr().IsUnspecified() {
		return result{}, fmt.Errorf("stun: binding: invalid server address %q", server)
	}
	if rto <= 0 {
		rto = DefaultRTO
	}
	if transmits <= 0 {
		transmits = DefaultTransmits
	}
	tx, t, err := c.register(server, change != 0, build != nil)
	if err != nil {
		return result{}, fmt.Errorf("stun: binding %s: %w", server, err)
	}
	defer c.unregister(tx)

	var buf [36]byte
	req := AppendBindingRequest(buf[:0], tx, change)
	wait := rto
	for i := 1; ; i++ {
		if build != nil {
			req = build(tx) // each transmission anew: the receiver refuses replays
		}
		if err := c.conn.WriteTo(req, server); err != nil {
			return result{}, fmt.Errorf("stun: send binding request to %s: %w", server, err)
		}
		if i == transmits {
			wait = LastWaitFactor * rto
		}
		fired, stopTimer := c.newTimer(wait)
		select {
		case r := <-t.result:
			stopTimer()
			return r, checkErr(r, server)
		case <-ctx.Done():
			stopTimer()
			return result{}, fmt.Errorf("stun: binding %s: %w", server, ctx.Err())
		case <-c.closing:
			stopTimer()
			return result{}, fmt.Errorf("stun: binding %s: %w", server, ErrClosed)
		case <-fired:
		}
		if i == transmits {
			return result{}, fmt.Errorf("%w from %s after %d transmissions", ErrTimeout, server, i)
		}
		wait *= 2
	}
}

func checkErr(r result, server netip.AddrPort) error {
	if r.err == nil {
		return nil
	}
	if _, ok := r.err.(*ErrorResponse); ok {
		return fmt.Errorf("%w from %s", r.err, server)
	}
	return fmt.Errorf("stun: binding %s: %w", server, r.err)
}

// checkMapped accepts a mapped address that a NAT could have given: of the
// server's family (the request went out in it), unicast, a port, and not
// loopback unless the server is.
func checkMapped(r Response, server netip.AddrPort) (netip.AddrPort, error) {
	m, a := r.Mapped, r.Mapped.Addr()
	if m.Port() == 0 || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) ||
		a.Is4() != server.Addr().Unmap().Is4() || a.Is4In6() || a.IsLoopback() && !server.Addr().Unmap().IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("stun: binding %s: unusable mapped address %s", server, m)
	}
	return m, nil
}

// Discover asks servers in order and returns the first mapped address and
// the server that reported it. A server that times out, answers with an
// error response or cannot be sent to is skipped; when all fail, the error
// lists each server's failure and matches (errors.Is / errors.As) each of
// them. Cancelling ctx or closing the Client stops at once.
func (c *Client) Discover(ctx context.Context, servers []netip.AddrPort) (mapped, server netip.AddrPort, err error) {
	if len(servers) == 0 {
		return netip.AddrPort{}, netip.AddrPort{}, errors.New("stun: discover: no servers")
	}
	errs := make(discoverError, 0, len(servers))
	for _, s := range servers {
		m, err := c.Binding(ctx, s)
		if err == nil {
			return m, s, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			break
		}
	}
	return netip.AddrPort{}, netip.AddrPort{}, errs
}

// discoverError is every server's failure, on one line.
type discoverError []error

func (e discoverError) Error() string {
	var s strings.Builder
	s.WriteString("stun: discover: no server answered: ")
	for i, err := range e {
		if i > 0 {
			s.WriteString("; ")
		}
		s.WriteString(err.Error())
	}
	return s.String()
}

func (e discoverError) Unwrap() []error { return e }
