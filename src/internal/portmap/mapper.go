package portmap

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/wgstun/wgstun/src/internal/logfmt"
)

// Config is what a Mapper maps and how.
type Config struct {
	// Protocols are tried in order (auto: PCP, then NAT-PMP, which is only
	// asked when the gateway answers PCP with "unsupported version").
	Protocols []Protocol
	// Gateway is the gateway to ask; the zero Addr asks FindGateway.
	Gateway     netip.Addr
	FindGateway func() (netip.Addr, error)
	// Internal is the port to map (WireGuard's listen port), also
	// suggested as the external port.
	Internal uint16
	// Lifetime is the lifetime asked for.
	Lifetime time.Duration
	// Retry is how long to wait after a failure, and the longest time
	// between renewals (which also notice a gateway that restarted).
	Retry time.Duration
	Log   *logfmt.Logger
	// Client's plumbing; zero values take the defaults.
	Dial  func(ctx context.Context, server netip.AddrPort) (Conn, error)
	Now   func() time.Time
	Rand  io.Reader
	First time.Duration
	// Budget bounds one attempt's waiting for answers (DefaultBudget).
	Budget time.Duration
}

// Status is what the Mapper holds now.
type Status struct {
	Protocol Protocol   // of the mapping, or of the last attempt
	Gateway  netip.Addr // asked last
	External netip.AddrPort
	Expires  time.Time // of the mapping; zero when there is none
	Err      string    // why there is no mapping, or why the last renewal failed
}

// Mapped reports whether a mapping is held.
func (s Status) Mapped() bool { return s.External.IsValid() }

// Mapper keeps one UDP port mapped on the gateway: it asks, renews at half
// the granted lifetime (or every Retry, if sooner), notices a gateway that
// lost its state (epoch) and maps again, and deletes the mapping when Run
// ends. One goroutine runs it; Status, Changed and Check may be called
// from anywhere.
type Mapper struct {
	cfg     Config
	changed chan struct{}
	check   chan struct{}

	mu sync.Mutex
	st Status

	// owned by Run
	cur      Mapping // held mapping (Protocol 0: none)
	nonce    [12]byte
	proto    Protocol // the protocol that worked last
	epoch    uint32
	epochAt  time.Time
	epochGW  netip.Addr
	logged   string // last failure logged
	retryErr time.Duration
}

// NewMapper prepares a Mapper; Run starts it.
func NewMapper(cfg Config) *Mapper {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Log == nil {
		cfg.Log = logfmt.Discard()
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 5 * time.Minute
	}
	if len(cfg.Protocols) == 0 {
		cfg.Protocols = []Protocol{PCP, NATPMP}
	}
	m := &Mapper{cfg: cfg, changed: make(chan struct{}, 1), check: make(chan struct{}, 1)}
	_, _ = io.ReadFull(cfg.Rand, m.nonce[:])
	return m
}

// Status returns the current mapping and the last problem.
func (m *Mapper) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

// Changed is signalled when Status changes.
func (m *Mapper) Changed() <-chan struct{} { return m.changed }

// Check asks for a renewal now (a tunnel went down: the gateway may have
// restarted and lost the mapping).
func (m *Mapper) Check() {
	select {
	case m.check <- struct{}{}:
	default:
	}
}

// Run maps until ctx ends, then deletes the mapping (one bounded try).
func (m *Mapper) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.release()
			return
		case <-t.C:
		case <-m.check:
		}
		wait := m.Step(ctx)
		t.Stop()
		t.Reset(wait)
	}
}

// Step makes one attempt (map or renew) and returns when the next is due.
func (m *Mapper) Step(ctx context.Context) time.Duration {
	gw := m.cfg.Gateway
	if !gw.IsValid() {
		var err error
		if m.cfg.FindGateway == nil {
			err = errors.New("no gateway configured")
		} else {
			gw, err = m.cfg.FindGateway()
		}
		if err != nil {
			return m.failed(Status{Err: err.Error()}, err, true)
		}
	}
	c := &Client{Gateway: gw, Dial: m.cfg.Dial, Now: m.cfg.Now, First: m.cfg.First, Budget: m.cfg.Budget}
	order := m.cfg.Protocols
	if m.proto != 0 && len(order) > 1 && order[0] != m.proto {
		order = []Protocol{m.proto, order[0]} // the one that worked first
	}
	var err error
	var got Mapping
	for i, p := range order {
		got, err = m.ask(ctx, c, p)
		if err == nil {
			break
		}
		// Only a gateway that answered "not this protocol" is asked the
		// next one: PCP and NAT-PMP share the port, so silence or a
		// refusal under one means the same under the other.
		if !errors.Is(err, ErrUnsupportedVersion) || i == len(order)-1 {
			return m.failed(Status{Protocol: p, Gateway: gw, Err: m.explain(gw, err)}, err, false)
		}
		m.cfg.Log.Debug("gateway does not speak "+p.String()+"; trying the next protocol", "gateway", gw)
	}
	now := m.cfg.Now()
	if m.epochGW == gw && m.cur.Protocol == got.Protocol && m.cur.Protocol != 0 &&
		epochLost(m.epoch, got.Epoch, int64(now.Sub(m.epochAt)/time.Second)) {
		m.cfg.Log.Info("gateway restarted (its epoch went back); mapping again", "gateway", gw,
			"protocol", got.Protocol.String(), "epoch", got.Epoch, "was", m.epoch)
		m.epochGW = netip.Addr{}
		if again, err := m.ask(ctx, c, got.Protocol); err == nil {
			got = again
		}
	}
	m.epoch, m.epochAt, m.epochGW = got.Epoch, now, gw
	m.proto = got.Protocol
	if got.External != m.cur.External || got.Protocol != m.cur.Protocol || m.logged != "" {
		m.cfg.Log.Info("port mapping granted", "protocol", got.Protocol.String(), "gateway", gw,
			"external", got.External, "internal_port", got.Internal, "lifetime", got.Lifetime)
	}
	m.cur, m.logged, m.retryErr = got, "", 0
	m.set(Status{Protocol: got.Protocol, Gateway: gw, External: got.External, Expires: now.Add(got.Lifetime)})
	return min(max(got.Lifetime/2, time.Second), m.cfg.Retry)
}

// ask sends one mapping request (a renewal when a mapping of the same
// protocol is held, suggesting its external address and port).
func (m *Mapper) ask(ctx context.Context, c *Client, p Protocol) (Mapping, error) {
	sugg := netip.AddrPortFrom(netip.Addr{}, m.cfg.Internal)
	if m.cur.Protocol == p && m.cur.Gateway == c.Gateway {
		sugg = m.cur.External
	}
	if p == PCP {
		return c.MapPCP(ctx, m.nonce, m.cfg.Internal, sugg, m.cfg.Lifetime)
	}
	return c.MapNATPMP(ctx, m.cfg.Internal, sugg.Port(), m.cfg.Lifetime)
}

// failed records a failed attempt. A mapping held is kept until it
// expires when the gateway merely did not answer (a lost packet, a
// gateway rebooting) and dropped at once when the gateway refused.
func (m *Mapper) failed(st Status, err error, noGateway bool) time.Duration {
	now := m.cfg.Now()
	silent := errors.Is(err, ErrNoAnswer)
	if m.cur.Protocol != 0 && silent && !noGateway && now.Before(m.Status().Expires) {
		m.retryErr = min(max(2*m.retryErr, time.Second), m.cfg.Retry)
		old := m.Status()
		old.Err = "renewal failed: " + st.Err
		m.set(old)
		m.logOnce("port mapping renewal failed; keeping the mapping until it expires", st)
		return min(m.retryErr, old.Expires.Sub(now)+time.Second)
	}
	if m.cur.Protocol != 0 {
		m.cfg.Log.Warn("port mapping lost", "protocol", m.cur.Protocol.String(), "gateway", m.cur.Gateway,
			"external", m.cur.External, "err", st.Err)
		m.logged = ""
	}
	m.cur = Mapping{}
	m.set(st)
	m.logOnce("no port mapping", st)
	return m.cfg.Retry
}

func (m *Mapper) logOnce(msg string, st Status) {
	if st.Err == m.logged {
		return
	}
	m.logged = st.Err
	args := []any{"err", st.Err}
	if st.Gateway.IsValid() {
		args = append(args, "gateway", st.Gateway)
	}
	m.cfg.Log.Warn(msg, args...)
}

// explain words a failure for the log and status.
func (m *Mapper) explain(gw netip.Addr, err error) string {
	switch {
	case errors.Is(err, ErrAddressMismatch):
		return fmt.Sprintf("gateway %s reports ADDRESS_MISMATCH: we are behind another NAT (CGNAT?); port mapping cannot help", gw)
	case errors.Is(err, ErrNotAuthorized):
		return fmt.Sprintf("gateway %s refuses to map the port (not authorized): %v", gw, err)
	case errors.Is(err, ErrNoResources):
		return fmt.Sprintf("gateway %s has no mapping to give (no resources): %v", gw, err)
	case errors.Is(err, ErrNoAnswer), errors.Is(err, ErrNoServer):
		return fmt.Sprintf("gateway %s does not answer PCP or NAT-PMP: %v", gw, err)
	}
	return err.Error()
}

func (m *Mapper) set(st Status) {
	m.mu.Lock()
	changed := m.st != st
	m.st = st
	m.mu.Unlock()
	if changed {
		select {
		case m.changed <- struct{}{}:
		default:
		}
	}
}

// release deletes the mapping held, one bounded attempt.
func (m *Mapper) release() {
	cur := m.cur
	if cur.Protocol == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c := &Client{Gateway: cur.Gateway, Dial: m.cfg.Dial, Now: m.cfg.Now, First: m.cfg.First, Budget: time.Second}
	var err error
	if cur.Protocol == PCP {
		_, err = c.MapPCP(ctx, m.nonce, cur.Internal, netip.AddrPort{}, 0)
	} else {
		_, err = c.MapNATPMP(ctx, cur.Internal, 0, 0)
	}
	m.cur = Mapping{}
	if err != nil {
		m.cfg.Log.Warn("could not delete the port mapping; it expires by itself", "gateway", cur.Gateway,
			"external", cur.External, "err", err)
	} else {
		m.cfg.Log.Info("port mapping deleted", "protocol", cur.Protocol.String(), "gateway", cur.Gateway, "external", cur.External)
	}
	m.set(Status{Protocol: cur.Protocol, Gateway: cur.Gateway})
}
