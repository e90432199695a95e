package portmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/wgstun/wgstun/src/internal/egress"
)

// Retransmission: the first answer is awaited First, then twice as long
// each time, at most nine sends (RFC 6886 §3.1); Budget bounds the sum of
// the waits so that a gateway without PCP or NAT-PMP costs little.
const (
	DefaultFirst  = 250 * time.Millisecond
	DefaultBudget = 2 * time.Second
	maxSends      = 9
)

var (
	// ErrNoAnswer: nothing answered on the gateway's port 5351.
	ErrNoAnswer = errors.New("no answer")
	// ErrNoServer: the gateway said (ICMP port unreachable) that nothing
	// listens on its port 5351.
	ErrNoServer = errors.New("nothing listens on port 5351")
)

// Conn is a UDP socket connected to the gateway's port 5351.
type Conn interface {
	// LocalAddr is the socket's own address, which PCP puts in requests.
	LocalAddr() netip.AddrPort
	Write(b []byte) error
	// Read waits for one datagram from the gateway until deadline.
	Read(b []byte, deadline time.Time) (int, error)
	Close() error
}

// Client sends PCP and NAT-PMP requests to one gateway. The zero Dial,
// Now and timing fields take the defaults.
type Client struct {
	Gateway netip.Addr
	Dial    func(ctx context.Context, server netip.AddrPort) (Conn, error)
	Now     func() time.Time
	First   time.Duration
	Budget  time.Duration
}

// Mapping is a mapping the gateway granted.
type Mapping struct {
	Protocol Protocol
	Gateway  netip.Addr
	Internal uint16
	External netip.AddrPort
	Lifetime time.Duration // as granted
	Epoch    uint32        // the gateway's epoch time in its answer
	Nonce    [12]byte      // PCP
}

// Protocol is PCP or NAT-PMP.
type Protocol uint8

// Protocols.
const (
	PCP Protocol = iota + 1
	NATPMP
)

func (p Protocol) String() string {
	switch p {
	case PCP:
		return "PCP"
	case NATPMP:
		return "NAT-PMP"
	}
	return "none"
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) dial(ctx context.Context) (Conn, error) {
	srv := netip.AddrPortFrom(c.Gateway, ServerPort)
	if c.Dial != nil {
		return c.Dial(ctx, srv)
	}
	return DialUDP(ctx, srv)
}

// exchange sends req until an answer that accept takes arrives, with
// retransmissions; accept returns false for answers to skip (another
// request's, a stray packet) and an error for a final failure.
func (c *Client) exchange(ctx context.Context, conn Conn, req []byte, accept func([]byte) (bool, error)) error {
	wait, budget := c.First, c.Budget
	if wait <= 0 {
		wait = DefaultFirst
	}
	if budget <= 0 {
		budget = DefaultBudget
	}
	buf := make([]byte, pcpMaxLen+4)
	spent := time.Duration(0)
	for sends := 0; sends < maxSends && spent < budget; sends++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait = min(wait, budget-spent)
		if err := conn.Write(req); err != nil {
			return classify(err)
		}
		deadline := c.now().Add(wait)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		for {
			n, err := conn.Read(buf, deadline)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				return classify(err)
			}
			ok, err := accept(buf[:n])
			if err != nil || ok {
				return err
			}
		}
		spent += wait
		wait *= 2
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return ErrNoAnswer
}

func classify(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return ErrNoServer
	}
	return err
}

// MapPCP asks for (or renews, with the same nonce) a UDP mapping of
// internal with PCP. suggested is the external address and port hoped for
// (zero: any); lifetime 0 deletes the mapping.
func (c *Client) MapPCP(ctx context.Context, nonce [12]byte, internal uint16, suggested netip.AddrPort, lifetime time.Duration) (Mapping, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return Mapping{}, fmt.Errorf("PCP to %s: %w", c.Gateway, err)
	}
	defer conn.Close()
	req := appendPCPMap(nil, pcpMap{
		lifetime: seconds(lifetime), client: conn.LocalAddr().Addr(),
		nonce: nonce, protocol: protoUDP, internal: internal,
		port: suggested.Port(), addr: suggested.Addr(),
	})
	var m Mapping
	err = c.exchange(ctx, conn, req, func(b []byte) (bool, error) {
		r, err := parsePCP(b)
		switch {
		case err != nil:
			return false, nil
		case r.version != pcpVersion:
			if r.result == 0 {
				return false, nil
			}
			return true, fmt.Errorf("%w (answered with version %d)", ErrUnsupportedVersion, r.version)
		case r.nonce != nonce || r.protocol != protoUDP || r.internal != internal:
			return false, nil // not ours
		}
		if err := pcpError(r.result); err != nil {
			return true, err
		}
		m = Mapping{Protocol: PCP, Gateway: c.Gateway, Internal: internal,
			External: netip.AddrPortFrom(r.addr, r.port), Lifetime: time.Duration(r.lifetime) * time.Second,
			Epoch: r.epoch, Nonce: nonce}
		if lifetime > 0 {
			return true, usable(m)
		}
		return true, nil
	})
	if err != nil {
		return Mapping{}, fmt.Errorf("PCP MAP to %s: %w", c.Gateway, err)
	}
	return m, nil
}

// MapNATPMP asks for (or renews) a UDP mapping of internal with NAT-PMP:
// the external address, then the mapping. Lifetime 0 deletes it (and
// skips the address request).
func (c *Client) MapNATPMP(ctx context.Context, internal, suggested uint16, lifetime time.Duration) (Mapping, error) {
	if !c.Gateway.Unmap().Is4() {
		return Mapping{}, fmt.Errorf("NAT-PMP to %s: %w (NAT-PMP needs an IPv4 gateway)", c.Gateway, ErrUnsupported)
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return Mapping{}, fmt.Errorf("NAT-PMP to %s: %w", c.Gateway, err)
	}
	defer conn.Close()
	m := Mapping{Protocol: NATPMP, Gateway: c.Gateway, Internal: internal}
	var ext netip.Addr
	if lifetime > 0 {
		err = c.exchange(ctx, conn, appendPMPAddress(nil), func(b []byte) (bool, error) {
			r, err := parsePMP(b)
			if err != nil || r.op != pmpOpAddress {
				return false, nil
			}
			if err := pmpError(r.result); err != nil {
				return true, err
			}
			ext = r.external
			return true, nil
		})
		if err != nil {
			return Mapping{}, fmt.Errorf("NAT-PMP address request to %s: %w", c.Gateway, err)
		}
	}
	req := appendPMPMap(nil, internal, suggested, seconds(lifetime))
	err = c.exchange(ctx, conn, req, func(b []byte) (bool, error) {
		r, err := parsePMP(b)
		if err != nil || r.op != pmpOpMapUDP {
			return false, nil
		}
		if err := pmpError(r.result); err != nil {
			return true, err
		}
		if r.internal != internal {
			return false, nil
		}
		m.External = netip.AddrPortFrom(ext, r.mapped)
		m.Lifetime = time.Duration(r.lifetime) * time.Second
		m.Epoch = r.epoch
		if lifetime > 0 {
			return true, usable(m)
		}
		return true, nil
	})
	if err != nil {
		return Mapping{}, fmt.Errorf("NAT-PMP mapping request to %s: %w", c.Gateway, err)
	}
	return m, nil
}

func seconds(d time.Duration) uint32 {
	return uint32(min(max(d/time.Second, 0), 1<<32-1))
}

// udpConn is Conn over a connected *net.UDPConn.
type udpConn struct{ c *net.UDPConn }

// DialUDP opens a UDP socket from an ephemeral port to server.
func DialUDP(ctx context.Context, server netip.AddrPort) (Conn, error) {
	c, err := egress.Dial(ctx, "udp", server.String())
	if err != nil {
		return nil, err
	}
	return udpConn{c.(*net.UDPConn)}, nil
}

func (u udpConn) LocalAddr() netip.AddrPort {
	return u.c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (u udpConn) Write(b []byte) error {
	_, err := u.c.Write(b)
	return err
}

func (u udpConn) Read(b []byte, deadline time.Time) (int, error) {
	if err := u.c.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	return u.c.Read(b)
}

func (u udpConn) Close() error { return u.c.Close() }
