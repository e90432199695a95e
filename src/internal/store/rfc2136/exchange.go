package rfc2136

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// errNotOurs: a datagram that is not a reply to our request (another ID,
// not a response, another opcode); it is ignored.
var errNotOurs = errors.New("not a reply to our request")

// exchange signs msg, sends it to the server and returns the verified
// reply: over UDP, resent every s.retry, unless the signed message is over
// 512 bytes or the UDP reply is truncated, then over TCP. The whole call
// takes at most s.timeout.
func (s *Store) exchange(parent context.Context, msg []byte) (*message, error) {
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	signed, mac := s.key.sign(msg, nil, s.now(), 0, nil)
	var (
		m   *message
		err error
	)
	if len(signed) <= maxUDPSize {
		m, err = s.exchangeUDP(ctx, signed, mac)
		if err == nil && m.flags&flagTC != 0 {
			s.log.Debug("dns reply truncated; asking again over TCP", "server", s.server)
			m, err = s.exchangeTCP(ctx, signed, mac)
		}
	} else {
		m, err = s.exchangeTCP(ctx, signed, mac)
	}
	if err != nil {
		if perr := parent.Err(); perr != nil {
			return nil, perr
		}
		if ctx.Err() != nil || isTimeout(err) {
			var bad *discardedError
			if errors.As(err, &bad) {
				return nil, fmt.Errorf("%w from %s within %s; discarded a reply: %w", ErrNoAnswer, s.server, s.timeout, bad.err)
			}
			return nil, fmt.Errorf("%w from %s within %s", ErrNoAnswer, s.server, s.timeout)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w from %s: connection refused (is the DNS server running?)", ErrNoAnswer, s.server)
		}
		return nil, err
	}
	if m.flags&flagTC != 0 {
		return nil, fmt.Errorf("%w from %s: truncated over TCP", ErrBadReply, s.server)
	}
	if m.tsig != nil && m.tsig.err != 0 {
		// Not verified (check lets it through unverified), so it can
		// only fail the call, whatever its rcode: a forged NOERROR or
		// NXDOMAIN with a TSIG error must not pass for an answer.
		return nil, s.rcodeError(m, "", "")
	}
	return m, nil
}

// discardedError is a timeout after discarding at least one reply that
// failed its checks; err says why the last one failed.
type discardedError struct{ err error }

func (e *discardedError) Error() string   { return "timeout; discarded a reply: " + e.err.Error() }
func (e *discardedError) Timeout() bool   { return true }
func (e *discardedError) Unwrap() []error { return []error{e.err} }

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// watch makes conn's I/O fail once ctx is done; the returned stop undoes it.
func watch(ctx context.Context, conn net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

func (s *Store) exchangeUDP(ctx context.Context, signed, mac []byte) (*message, error) {
	conn, err := s.dial(ctx, "udp", s.server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	defer watch(ctx, conn)()
	deadline, _ := ctx.Deadline()
	buf := make([]byte, 65535)
	var discarded error
	for {
		if err := ctx.Err(); err != nil {
			return nil, s.udpGaveUp(err, discarded)
		}
		if _, err := conn.Write(signed); err != nil {
			// watch's deadline may fail this write when the time runs out
			// between the check above and here.
			if ctx.Err() != nil {
				return nil, s.udpGaveUp(ctx.Err(), discarded)
			}
			return nil, err
		}
		_ = conn.SetReadDeadline(minTime(time.Now().Add(s.retry), deadline))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					return nil, s.udpGaveUp(ctx.Err(), discarded)
				}
				if isTimeout(err) {
					break // send again
				}
				return nil, err
			}
			m, err := s.check(buf[:n], signed, mac)
			if errors.Is(err, errNotOurs) {
				continue
			}
			if err != nil {
				discarded = err
				s.log.Debug("dns reply discarded", "server", s.server, "error", err)
				continue
			}
			return m, nil
		}
	}
}

func (s *Store) udpGaveUp(err, discarded error) error {
	if discarded != nil {
		return &discardedError{discarded}
	}
	return err
}

func minTime(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

func (s *Store) exchangeTCP(ctx context.Context, signed, mac []byte) (*message, error) {
	conn, err := s.dial(ctx, "tcp", s.server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	defer watch(ctx, conn)()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(signed)), uint16(len(signed)))
	if _, err := conn.Write(append(out, signed...)); err != nil {
		return nil, err
	}
	var n [2]byte
	if _, err := io.ReadFull(conn, n[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, err
	}
	m, err := s.check(buf, signed, mac)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// check parses a reply to req (whose MAC is reqMAC) and accepts it if it
// is verified, truncated (to be asked again over TCP), or an error that
// cannot pass for an answer (see the package comment).
func (s *Store) check(b, req, reqMAC []byte) (*message, error) {
	m, err := parseMessage(b)
	if err != nil {
		return nil, fmt.Errorf("%w from %s: %w", ErrBadReply, s.server, err)
	}
	reqFlags := binary.BigEndian.Uint16(req[2:])
	if m.id != binary.BigEndian.Uint16(req) || m.flags&flagQR == 0 || m.opcode() != reqFlags>>11&0xf {
		return nil, errNotOurs
	}
	if m.flags&flagTC != 0 {
		return m, nil
	}
	rc := m.rcode()
	if m.tsig != nil && m.tsig.err != 0 || m.tsig == nil && rc != rcodeNoError && rc != rcodeNXDomain {
		return m, nil
	}
	if err := s.key.verify(b, m, reqMAC, s.now()); err != nil {
		return nil, fmt.Errorf("%w from %s: %w", ErrBadReply, s.server, err)
	}
	return m, nil
}
