// Package ping is wgstun's "ping watch": it sends ICMP echo requests to
// peers' tunnel addresses through the WireGuard interface and tells from
// the replies whether each tunnel is alive.
package ping

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// ErrNotSupported is returned by NewProber where no ICMP backend exists.
var ErrNotSupported = errors.New("ping: not supported on this system")

const (
	window     = 10 // probes a Result's Sent/Received cover
	failAfter  = 2  // consecutive misses that make a target Failing
	minTimeout = 500 * time.Millisecond
	maxTimeout = 5 * time.Second
	// Once a target has answered, a probe is missed after rttFactor
	// times its smoothed round trip, at least fastTimeout and at most the
	// interval's timeout; the first miss is retried at once, so a dead
	// path shows as Failing two short timeouts after it broke instead of
	// two intervals.
	fastTimeout = 250 * time.Millisecond
	rttFactor   = 8
	minPeriod   = 10 * time.Millisecond
	cookieLen   = 8
	readBuf     = 1500
)

// Result is a snapshot of one target's health.
type Result struct {
	Sent, Received int           // over the last 10 probes whose outcome is known
	Misses         int           // consecutive probes without a reply in time
	RTT            time.Duration // of the last reply
	LastReply      time.Time     // zero before the first reply
	Err            string        // socket or send error of the last probe, "" when fine
}

// Loss is the percentage of probes lost over the window, 0 when none was
// counted yet.
func (r Result) Loss() float64 {
	if r.Sent == 0 {
		return 0
	}
	return 100 * float64(r.Sent-r.Received) / float64(r.Sent)
}

// Failing tells whether the last 3 probes or more went unanswered.
func (r Result) Failing() bool { return r.Misses >= failAfter }

// Alive tells whether the target answered and is not Failing.
func (r Result) Alive() bool { return !r.LastReply.IsZero() && !r.Failing() }

// conn is an ICMP socket of one family bound to the interface.
type conn interface {
	// writeTo sends an ICMP message to dst.
	writeTo(msg []byte, dst netip.Addr) error
	// readFrom blocks for the next ICMP message (any IP header removed);
	// it fails once Close was called.
	readFrom(buf []byte) (msg []byte, src netip.Addr, err error)
	Close() error
}

// target is the state of one pinged address.
type target struct {
	hist   uint16 // bit 0 = last probe, 1 = replied
	n      int    // probes in hist, at most window
	misses int
	rtt    time.Duration
	srtt   time.Duration // smoothed round trip (RFC 6298's 1/8 gain), 0 before a reply
	last   time.Time
	err    string
}

func (t *target) result() Result {
	return Result{
		Sent:      t.n,
		Received:  bits.OnesCount16(t.hist & (1<<t.n - 1)),
		Misses:    t.misses,
		RTT:       t.rtt,
		LastReply: t.last,
		Err:       t.err,
	}
}

// probe is an echo request awaiting its reply.
type probe struct {
	dst      netip.Addr
	seq      uint16
	sent     time.Time
	deadline time.Time
}

// family is the socket of IPv4 (index 0) or IPv6 (index 1).
type family struct {
	c     conn
	dgram bool // kernel-managed ping socket: the kernel owns the identifier
	err   error
}

// Prober pings a set of targets through one interface, each once per
// interval.
type Prober struct {
	iface    string
	interval time.Duration
	timeout  time.Duration
	id       uint16 // echo identifier on raw sockets
	cookie   [cookieLen]byte
	changed  chan struct{}

	now  func() time.Time
	open func(iface string, v6 bool) (c conn, dgram bool, err error)

	mu       sync.Mutex
	targets  map[netip.Addr]*target
	fams     [2]family
	inflight []probe // in send order, so also in deadline order
	seq      uint16
	reopen   bool
}

// NewProber returns a prober for the interface iface sending every
// interval. A probe is missed when its reply does not come within the
// interval, bounded to [500 ms, 5 s].
func NewProber(iface string, interval time.Duration) (*Prober, error) {
	if !supported {
		return nil, ErrNotSupported
	}
	if err := checkIfaceName(iface); err != nil {
		return nil, err
	}
	if interval < minPeriod {
		return nil, fmt.Errorf("ping: interval %v on %s is shorter than %v", interval, iface, minPeriod)
	}
	return newProber(iface, interval), nil
}

func newProber(iface string, interval time.Duration) *Prober {
	p := &Prober{
		iface:    iface,
		interval: interval,
		timeout:  min(max(interval, minTimeout), maxTimeout),
		changed:  make(chan struct{}, 1),
		now:      time.Now,
		open:     openConn,
		targets:  map[netip.Addr]*target{},
	}
	var r [2 + cookieLen]byte
	rand.Read(r[:])
	p.id = binary.BigEndian.Uint16(r[:])
	copy(p.cookie[:], r[2:])
	return p
}

// checkIfaceName rejects names Linux would not accept for an interface.
func checkIfaceName(s string) error {
	if s == "" || len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/: \t\n\r\v\f") {
		return fmt.Errorf("ping: bad interface name %q", s)
	}
	return nil
}

// SetTargets replaces the set of targets. IPv4-mapped IPv6 addresses are
// pinged over IPv4, zones are dropped, invalid addresses are ignored.
// Targets that stay keep their results.
func (p *Prober) SetTargets(ts []netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[netip.Addr]*target, len(ts))
	for _, a := range ts {
		if !a.IsValid() {
			continue
		}
		a = a.Unmap().WithZone("")
		if t := p.targets[a]; t != nil {
			m[a] = t
		} else {
			m[a] = &target{}
		}
	}
	p.targets = m
}

// Result returns the snapshot of target t (zero when t is no target).
func (p *Prober) Result(t netip.Addr) Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	if x := p.targets[t.Unmap().WithZone("")]; x != nil {
		return x.result()
	}
	return Result{}
}

// Changed receives a value (coalesced) whenever a target's Alive or
// Failing flips.
func (p *Prober) Changed() <-chan struct{} { return p.changed }

// Reopen makes the next round close the sockets and open them again, as
// after the interface was recreated.
func (p *Prober) Reopen() {
	p.mu.Lock()
	p.reopen = true
	p.mu.Unlock()
}

// Run probes every target once per interval until ctx ends, then closes
// the sockets. Sockets open at the first round that needs them and are
// reopened at the next round after they failed. Run must not be called
// concurrently with itself.
func (p *Prober) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer func() {
		p.mu.Lock()
		for i := range p.fams {
			p.closeFamily(i, nil)
		}
		p.inflight = p.inflight[:0]
		p.mu.Unlock()
		wg.Wait()
	}()
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	p.round(&wg)
	for {
		p.mu.Lock()
		if len(p.inflight) > 0 {
			expiry.Reset(p.inflight[0].deadline.Sub(p.now()))
		} else {
			expiry.Stop()
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			p.round(&wg)
		case <-expiry.C:
			p.expire()
		}
	}
}

// round sends one probe to every target, opening sockets first where
// needed.
func (p *Prober) round(wg *sync.WaitGroup) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.expireLocked(now)
	if p.reopen {
		p.reopen = false
		for i := range p.fams {
			p.closeFamily(i, nil)
		}
	}
	var need [2]bool
	for a := range p.targets {
		need[famIndex(a)] = true
	}
	for i := range p.fams {
		f := &p.fams[i]
		if !need[i] {
			p.closeFamily(i, nil)
			continue
		}
		if f.c != nil {
			continue
		}
		c, dgram, err := p.open(p.iface, i == 1)
		if err != nil {
			f.err = err
			continue
		}
		*f = family{c: c, dgram: dgram}
		wg.Add(1)
		go p.read(wg, c, i, dgram)
	}
	for a, t := range p.targets {
		p.probeLocked(a, t, now)
	}
}

// probeLocked sends one probe to a, whose state is t.
func (p *Prober) probeLocked(a netip.Addr, t *target, now time.Time) {
	i := famIndex(a)
	f := &p.fams[i]
	if f.c == nil {
		t.err = "ping: no socket"
		if f.err != nil {
			t.err = f.err.Error()
		}
		p.record(t, false, time.Time{})
		return
	}
	p.seq++
	err := f.c.writeTo(marshalEcho(i == 1, p.id, p.seq, p.cookie[:]), a)
	if err != nil {
		t.err = fmt.Sprintf("ping: send to %v on %s: %v", a, p.iface, err)
		p.record(t, false, time.Time{})
		if gone(err) {
			p.closeFamily(i, errors.New(t.err))
		}
		return
	}
	t.err = ""
	// Keep the list in deadline order for expireLocked: a retry's shorter
	// timeout may end before a probe sent earlier.
	pr := probe{dst: a, seq: p.seq, sent: now, deadline: now.Add(p.timeoutFor(t))}
	k := len(p.inflight)
	for k > 0 && p.inflight[k-1].deadline.After(pr.deadline) {
		k--
	}
	p.inflight = append(p.inflight, probe{})
	copy(p.inflight[k+1:], p.inflight[k:])
	p.inflight[k] = pr
}

// timeoutFor is how long a probe to t may wait for its reply: the
// interval's timeout until t answered once, then rttFactor times its
// smoothed round trip within [fastTimeout, the interval's timeout].
func (p *Prober) timeoutFor(t *target) time.Duration {
	if t.srtt == 0 {
		return p.timeout
	}
	return min(max(rttFactor*t.srtt, fastTimeout), p.timeout)
}

func famIndex(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// closeFamily closes socket i, keeping err as the reason it is missing.
func (p *Prober) closeFamily(i int, err error) {
	f := &p.fams[i]
	if f.c != nil {
		f.c.Close()
	}
	*f = family{err: err}
}

// read receives replies on c, socket i, until c fails or is closed.
func (p *Prober) read(wg *sync.WaitGroup, c conn, i int, dgram bool) {
	defer wg.Done()
	want := uint8(typeEchoReply4)
	if i == 1 {
		want = typeEchoReply6
	}
	buf := make([]byte, readBuf)
	for {
		msg, src, err := c.readFrom(buf)
		if err != nil {
			p.mu.Lock()
			if p.fams[i].c == c { // not closed by us: reopen next round
				p.closeFamily(i, fmt.Errorf("ping: receive on %s: %w", p.iface, err))
			}
			p.mu.Unlock()
			return
		}
		e, err := parseEcho(msg, i == 0)
		if err != nil || e.Type != want || e.Code != 0 || (!dgram && e.ID != p.id) ||
			!bytes.HasPrefix(e.Data, p.cookie[:]) {
			continue
		}
		p.reply(src, e.Seq)
	}
}

// reply accounts an echo reply from src with sequence seq.
func (p *Prober) reply(src netip.Addr, seq uint16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	src = src.Unmap().WithZone("")
	for k, pr := range p.inflight {
		if pr.seq != seq || pr.dst != src {
			continue
		}
		if now.After(pr.deadline) { // late: the expiry comes next
			return
		}
		p.inflight = append(p.inflight[:k], p.inflight[k+1:]...)
		if t := p.targets[src]; t != nil {
			p.record(t, true, now)
			t.rtt = max(now.Sub(pr.sent), time.Microsecond)
			if t.srtt == 0 {
				t.srtt = t.rtt
			} else {
				t.srtt += (t.rtt - t.srtt) / 8
			}
		}
		return
	}
}

func (p *Prober) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expireLocked(p.now())
}

// expireLocked counts every probe past its deadline as missed, and probes
// again at once a target that answered before and just missed its first.
func (p *Prober) expireLocked(now time.Time) {
	k := 0
	var retry []netip.Addr
	for k < len(p.inflight) && !p.inflight[k].deadline.After(now) {
		a := p.inflight[k].dst
		if t := p.targets[a]; t != nil {
			p.record(t, false, time.Time{})
			if t.misses == 1 && t.srtt != 0 {
				retry = append(retry, a)
			}
		}
		k++
	}
	p.inflight = append(p.inflight[:0], p.inflight[k:]...)
	for _, a := range retry {
		if t := p.targets[a]; t != nil {
			p.probeLocked(a, t, now)
		}
	}
}

// record adds a probe outcome to t, replied at reply when ok, and
// signals Changed when t's state flipped.
func (p *Prober) record(t *target, ok bool, reply time.Time) {
	before := t.result()
	t.hist <<= 1
	if ok {
		t.hist |= 1
		t.misses = 0
		t.last = reply
	} else {
		t.misses++
	}
	t.n = min(t.n+1, window)
	after := t.result()
	if before.Alive() != after.Alive() || before.Failing() != after.Failing() {
		select {
		case p.changed <- struct{}{}:
		default:
		}
	}
}
