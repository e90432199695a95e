package dnswire

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"
)

// Dial opens a UDP or TCP connection to a server.
type Dial func(ctx context.Context, network, addr string) (net.Conn, error)

// ErrNotOurs is what a check returns for a datagram that is not a reply
// to the request (another ID, not a response, another opcode or question):
// it is ignored.
var ErrNotOurs = errors.New("not a reply to our request")

// DiscardedError is a timeout after discarding at least one reply that
// failed its check; Err says why the last one failed.
type DiscardedError struct{ Err error }

func (e *DiscardedError) Error() string   { return "timeout; discarded a reply: " + e.Err.Error() }
func (e *DiscardedError) Timeout() bool   { return true }
func (e *DiscardedError) Unwrap() []error { return []error{e.Err} }

// IsTimeout reports whether err says time ran out.
func IsTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// watch makes conn's I/O fail once ctx is done; the returned stop undoes it.
func watch(ctx context.Context, conn net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

// UDP sends msg to server over UDP, again every retry, until check
// accepts a reply (returns nil) or ctx ends. A reply check refuses with
// ErrNotOurs is ignored; one it refuses with another error is discarded,
// and a timeout after that is a *DiscardedError. The reply passed to
// check is only valid during the call.
func UDP(ctx context.Context, dial Dial, server string, msg []byte, retry time.Duration, check func(reply []byte) error) error {
	conn, err := dial(ctx, "udp", server)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer watch(ctx, conn)()
	deadline, _ := ctx.Deadline()
	buf := make([]byte, 65535)
	var discarded error
	gaveUp := func(err error) error {
		if discarded != nil {
			return &DiscardedError{discarded}
		}
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return gaveUp(err)
		}
		if _, err := conn.Write(msg); err != nil {
			// watch's deadline may fail this write when the time runs out
			// between the check above and here.
			if ctx.Err() != nil {
				return gaveUp(ctx.Err())
			}
			return err
		}
		_ = conn.SetReadDeadline(minTime(time.Now().Add(retry), deadline))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					return gaveUp(ctx.Err())
				}
				if IsTimeout(err) {
					break // send again
				}
				return err
			}
			err = check(buf[:n])
			if errors.Is(err, ErrNotOurs) {
				continue
			}
			if err != nil {
				discarded = err
				continue
			}
			return nil
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// TCP sends msg to server over one TCP connection (RFC 1035 4.2.2: each
// message after its length in two bytes) and returns what check says of
// the reply.
func TCP(ctx context.Context, dial Dial, server string, msg []byte, check func(reply []byte) error) error {
	conn, err := dial(ctx, "tcp", server)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer watch(ctx, conn)()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	if _, err := conn.Write(append(out, msg...)); err != nil {
		return err
	}
	var n [2]byte
	if _, err := io.ReadFull(conn, n[:]); err != nil {
		return err
	}
	buf := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return err
	}
	return check(buf)
}
