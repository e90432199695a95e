package rfc2136

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/wgstun/wgstun/src/internal/dnswire"
)

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
	if len(signed) <= dnswire.MaxUDPSize {
		m, err = s.exchangeUDP(ctx, signed, mac)
		if err == nil && m.flags&dnswire.FlagTC != 0 {
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
		if ctx.Err() != nil || dnswire.IsTimeout(err) {
			var bad *dnswire.DiscardedError
			if errors.As(err, &bad) {
				return nil, fmt.Errorf("%w from %s within %s; discarded a reply: %w", ErrNoAnswer, s.server, s.timeout, bad.Err)
			}
			return nil, fmt.Errorf("%w from %s within %s", ErrNoAnswer, s.server, s.timeout)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w from %s: connection refused (is the DNS server running?)", ErrNoAnswer, s.server)
		}
		return nil, err
	}
	if m.flags&dnswire.FlagTC != 0 {
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

func (s *Store) exchangeUDP(ctx context.Context, signed, mac []byte) (*message, error) {
	var m *message
	err := dnswire.UDP(ctx, s.dial, s.server, signed, s.retry, func(b []byte) error {
		var err error
		m, err = s.check(b, signed, mac)
		if err != nil && !errors.Is(err, dnswire.ErrNotOurs) {
			s.log.Debug("dns reply discarded", "server", s.server, "error", err)
		}
		return err
	})
	return m, err
}

func (s *Store) exchangeTCP(ctx context.Context, signed, mac []byte) (*message, error) {
	var m *message
	err := dnswire.TCP(ctx, s.dial, s.server, signed, func(b []byte) error {
		var err error
		m, err = s.check(b, signed, mac)
		return err
	})
	return m, err
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
	if m.id != binary.BigEndian.Uint16(req) || m.flags&dnswire.FlagQR == 0 || m.opcode() != reqFlags>>11&0xf {
		return nil, dnswire.ErrNotOurs
	}
	if m.flags&dnswire.FlagTC != 0 {
		return m, nil
	}
	rc := m.rcode()
	if m.tsig != nil && m.tsig.err != 0 || m.tsig == nil && rc != dnswire.RcodeNoError && rc != dnswire.RcodeNXDomain {
		return m, nil
	}
	if err := s.key.verify(b, m, reqMAC, s.now()); err != nil {
		return nil, fmt.Errorf("%w from %s: %w", ErrBadReply, s.server, err)
	}
	return m, nil
}
