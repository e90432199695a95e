package rfc2136

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/wgstun/wgstun/src/internal/dnswire"
)

// TSIG (RFC 8945): an HMAC over the message and the TSIG variables, in a
// TSIG RR appended as the last additional record. Names in the MAC are in
// canonical form: lower case, uncompressed.

// fudge is the time signed's allowed error in seconds, both ways (RFC 8945
// 10 recommends 300).
const fudge = 300

var (
	// errBadMAC: a reply's TSIG does not verify with our key.
	errBadMAC = errors.New("TSIG MAC does not verify")
	// errUnsigned: a reply to a signed request carries no TSIG.
	errUnsigned = errors.New("reply is not TSIG-signed")
)

// tsigKey is a TSIG key: its name and algorithm as absolute lower-case
// names, in text and in wire form, and the secret.
type tsigKey struct {
	name, alg         string
	nameWire, algWire []byte
	hash              func() hash.Hash
	size              int // MAC length
	secret            []byte
}

// newKey builds a key named name (with or without the trailing dot) for
// algorithm alg ("hmac-sha256" or "hmac-sha512").
func newKey(name, alg string, secret []byte) (*tsigKey, error) {
	k := &tsigKey{name: lowerFQDN(name), alg: alg + ".", secret: secret}
	switch alg {
	case "hmac-sha256":
		k.hash, k.size = sha256.New, sha256.Size
	case "hmac-sha512":
		k.hash, k.size = sha512.New, sha512.Size
	default:
		return nil, fmt.Errorf("TSIG algorithm %q is not hmac-sha256 or hmac-sha512", alg)
	}
	var err error
	if k.nameWire, err = dnswire.AppendName(nil, k.name); err != nil {
		return nil, fmt.Errorf("TSIG key name: %w", err)
	}
	k.algWire, _ = dnswire.AppendName(nil, k.alg)
	return k, nil
}

// appendVariables appends the TSIG variables (RFC 8945 4.3.3) for a TSIG RR
// of this key with the given time, error and other data.
func (k *tsigKey) appendVariables(b []byte, timeSigned uint64, fudge, tsigErr uint16, other []byte) []byte {
	b = append(b, k.nameWire...)
	b = binary.BigEndian.AppendUint16(b, dnswire.ClassANY)
	b = binary.BigEndian.AppendUint32(b, 0) // TTL
	b = append(b, k.algWire...)
	b = appendTime48(b, timeSigned)
	b = binary.BigEndian.AppendUint16(b, fudge)
	b = binary.BigEndian.AppendUint16(b, tsigErr)
	b = binary.BigEndian.AppendUint16(b, uint16(len(other)))
	return append(b, other...)
}

func appendTime48(b []byte, t uint64) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(t>>32))
	return binary.BigEndian.AppendUint32(b, uint32(t))
}

// mac computes the MAC of msg (without its TSIG RR, with the original ID
// and additional count) for the TSIG variables given. A response's MAC
// covers the request's MAC first (RFC 8945 4.3.1); reqMAC is nil for a
// request.
func (k *tsigKey) mac(reqMAC, msg []byte, timeSigned uint64, fudge, tsigErr uint16, other []byte) []byte {
	h := hmac.New(k.hash, k.secret)
	if reqMAC != nil {
		h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(reqMAC))))
		h.Write(reqMAC)
	}
	h.Write(msg)
	h.Write(k.appendVariables(nil, timeSigned, fudge, tsigErr, other))
	return h.Sum(nil)
}

// sign appends a TSIG RR to msg (a complete message without one) and
// increments its additional count. It returns the signed message and the
// MAC, which the reply's MAC covers. reqMAC is nil when signing a request.
func (k *tsigKey) sign(msg, reqMAC []byte, now time.Time, tsigErr uint16, other []byte) (signed, mac []byte) {
	ts := uint64(now.Unix())
	mac = k.mac(reqMAC, msg, ts, fudge, tsigErr, other)
	rd := append([]byte(nil), k.algWire...)
	rd = appendTime48(rd, ts)
	rd = binary.BigEndian.AppendUint16(rd, fudge)
	rd = binary.BigEndian.AppendUint16(rd, uint16(len(mac)))
	rd = append(rd, mac...)
	rd = append(rd, msg[0], msg[1]) // original ID
	rd = binary.BigEndian.AppendUint16(rd, tsigErr)
	rd = binary.BigEndian.AppendUint16(rd, uint16(len(other)))
	rd = append(rd, other...)
	signed = dnswire.AppendRR(append([]byte(nil), msg...), k.nameWire, dnswire.TypeTSIG, dnswire.ClassANY, 0, rd)
	binary.BigEndian.PutUint16(signed[10:], binary.BigEndian.Uint16(msg[10:])+1)
	return signed, mac
}

// verify checks the TSIG of m, a parsed reply whose bytes are b, against
// the request's MAC reqMAC: the key and algorithm are ours, the MAC is
// whole and right, and the time signed is within the fudge of now. It does
// not look at the TSIG error field; a reply carrying one has an empty MAC
// and is reported by the caller.
func (k *tsigKey) verify(b []byte, m *message, reqMAC []byte, now time.Time) error {
	t := m.tsig
	if t == nil {
		return errUnsigned
	}
	if t.name != k.name || t.alg != k.alg {
		return fmt.Errorf("%w: reply is signed with key %s (%s), we use %s (%s)", errBadMAC, t.name, t.alg, k.name, k.alg)
	}
	if t.class != dnswire.ClassANY || t.ttl != 0 {
		return fmt.Errorf("%w: TSIG record has class %d and TTL %d, want ANY and 0", dnswire.ErrMalformed, t.class, t.ttl)
	}
	if len(t.mac) != k.size {
		return fmt.Errorf("%w: MAC is %d bytes, want %d", errBadMAC, len(t.mac), k.size)
	}
	msg := append([]byte(nil), b[:m.tsigStart]...)
	binary.BigEndian.PutUint16(msg, t.origID)
	binary.BigEndian.PutUint16(msg[10:], m.ar-1)
	if !hmac.Equal(t.mac, k.mac(reqMAC, msg, t.timeSigned, t.fudge, t.err, t.other)) {
		return errBadMAC
	}
	if d := now.Unix() - int64(t.timeSigned); d > int64(t.fudge) || -d > int64(t.fudge) {
		return fmt.Errorf("%w: reply signed at %s, %ds from our clock (fudge %ds): check the clocks",
			errBadTime, time.Unix(int64(t.timeSigned), 0).UTC().Format(time.RFC3339), d, t.fudge)
	}
	return nil
}

// errBadTime: a reply's time signed is outside its fudge of our clock.
var errBadTime = errors.New("TSIG time out of range")

func lowerFQDN(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	if len(b) == 0 || b[len(b)-1] != '.' {
		b = append(b, '.')
	}
	return string(b)
}
