package rfc2136

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/wgstun/wgstun/src/internal/dnswire"
)

// The parts of the DNS wire format this store adds to dnswire's: TXT
// values and the TSIG record (RFC 8945).

const maxTXTPart = 255 // one TXT character-string

// txtRData is the RDATA of one TXT record carrying v: v cut into
// character-strings of at most 255 bytes, in order.
func txtRData(v string) []byte {
	b := make([]byte, 0, len(v)+len(v)/maxTXTPart+1)
	for len(v) > 0 {
		n := min(len(v), maxTXTPart)
		b = append(b, byte(n))
		b = append(b, v[:n]...)
		v = v[n:]
	}
	return b
}

// joinTXT joins the character-strings of a TXT RDATA in order.
func joinTXT(rdata []byte) (string, error) {
	var sb strings.Builder
	sb.Grow(len(rdata))
	for off := 0; off < len(rdata); {
		n := int(rdata[off])
		if off+1+n > len(rdata) {
			return "", fmt.Errorf("%w: TXT character-string of %d bytes runs past its record", dnswire.ErrMalformed, n)
		}
		sb.Write(rdata[off+1 : off+1+n])
		off += 1 + n
	}
	return sb.String(), nil
}

// tsigRecord is a parsed TSIG RR (RFC 8945 4.2).
type tsigRecord struct {
	name       string
	class      uint16
	ttl        uint32
	alg        string
	timeSigned uint64 // seconds since the epoch, 48 bits
	fudge      uint16
	mac        []byte
	origID     uint16
	err        uint16
	other      []byte
}

// message is a parsed DNS message: the header, the answer section, and the
// TSIG RR when the additional section ends with one.
type message struct {
	id, flags uint16
	ar        uint16 // records in the additional section
	answers   []dnswire.Record
	tsig      *tsigRecord
	tsigStart int // offset of the TSIG RR in the message
}

func (m *message) opcode() uint16 { return m.flags >> 11 & 0xf }
func (m *message) rcode() uint16  { return m.flags & 0xf }

// parseMessage reads a DNS message (dnswire.ParseMessage) and accepts a
// TSIG RR only as the last record of the additional section.
func parseMessage(b []byte) (*message, error) {
	dm, err := dnswire.ParseMessage(b)
	if err != nil {
		return nil, err
	}
	m := &message{id: dm.ID, flags: dm.Flags, ar: dm.AR, answers: dm.Answers()}
	for i, r := range dm.Records {
		if r.Type != dnswire.TypeTSIG {
			continue
		}
		if i != len(dm.Records)-1 || i < int(dm.AN)+int(dm.NS) {
			return nil, fmt.Errorf("%w: TSIG record is not the last record", dnswire.ErrMalformed)
		}
		t, err := parseTSIG(b, r)
		if err != nil {
			return nil, err
		}
		m.tsig, m.tsigStart = t, r.Start
	}
	return m, nil
}

// parseTSIG reads the RDATA of a TSIG RR r of message b (its algorithm
// name may point back into b).
func parseTSIG(b []byte, r dnswire.Record) (*tsigRecord, error) {
	t := &tsigRecord{name: r.Name, class: r.Class, ttl: r.TTL}
	end := r.Off + len(r.Data)
	alg, off, err := dnswire.ReadName(b[:end], r.Off)
	if err != nil {
		return nil, fmt.Errorf("TSIG algorithm: %w", err)
	}
	t.alg = alg
	d := b[off:end]
	if len(d) < 10 {
		return nil, fmt.Errorf("%w: TSIG record too short", dnswire.ErrMalformed)
	}
	t.timeSigned = uint64(binary.BigEndian.Uint16(d))<<32 | uint64(binary.BigEndian.Uint32(d[2:]))
	t.fudge = binary.BigEndian.Uint16(d[6:])
	macLen := int(binary.BigEndian.Uint16(d[8:]))
	d = d[10:]
	if len(d) < macLen+6 {
		return nil, fmt.Errorf("%w: TSIG MAC of %d bytes runs past its record", dnswire.ErrMalformed, macLen)
	}
	t.mac = d[:macLen:macLen]
	d = d[macLen:]
	t.origID = binary.BigEndian.Uint16(d)
	t.err = binary.BigEndian.Uint16(d[2:])
	otherLen := int(binary.BigEndian.Uint16(d[4:]))
	d = d[6:]
	if len(d) != otherLen {
		return nil, fmt.Errorf("%w: TSIG other data is %d bytes, record has %d", dnswire.ErrMalformed, otherLen, len(d))
	}
	t.other = d
	return t, nil
}
