package rfc2136

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The parts of the DNS wire format (RFC 1035, RFC 2136, RFC 6891,
// RFC 8945) this store writes and reads. Names are kept as lower-case
// absolute text ("a.example.org."); a byte outside [a-z0-9_-] in a label
// read from the wire is written as \DDD, so two different wire names never
// have the same text.

const (
	typeSOA  = 6
	typeTXT  = 16
	typeOPT  = 41
	typeTSIG = 250

	classIN  = 1
	classANY = 255

	opQuery  = 0
	opUpdate = 5

	flagQR = 1 << 15
	flagTC = 1 << 9

	headerLen  = 12
	maxUDPSize = 512  // RFC 1035 4.2.1: larger requests go over TCP
	ednsSize   = 1232 // our advertised UDP payload size on queries (RFC 6891)
	maxTXTPart = 255  // one TXT character-string
)

// Response codes (RFC 1035, RFC 2136) and TSIG error codes (RFC 8945).
const (
	rcodeNoError  = 0
	rcodeFormErr  = 1
	rcodeServFail = 2
	rcodeNXDomain = 3
	rcodeNotImp   = 4
	rcodeRefused  = 5
	rcodeYXDomain = 6
	rcodeYXRRSet  = 7
	rcodeNXRRSet  = 8
	rcodeNotAuth  = 9
	rcodeNotZone  = 10
	tsigBadSig    = 16
	tsigBadKey    = 17
	tsigBadTime   = 18
	tsigBadTrunc  = 22
)

var rcodeNames = map[uint16]string{
	rcodeNoError: "NOERROR", rcodeFormErr: "FORMERR", rcodeServFail: "SERVFAIL",
	rcodeNXDomain: "NXDOMAIN", rcodeNotImp: "NOTIMP", rcodeRefused: "REFUSED",
	rcodeYXDomain: "YXDOMAIN", rcodeYXRRSet: "YXRRSET", rcodeNXRRSet: "NXRRSET",
	rcodeNotAuth: "NOTAUTH", rcodeNotZone: "NOTZONE", tsigBadSig: "BADSIG",
	tsigBadKey: "BADKEY", tsigBadTime: "BADTIME", tsigBadTrunc: "BADTRUNC",
}

func rcodeName(c uint16) string {
	if n, ok := rcodeNames[c]; ok {
		return n
	}
	return "RCODE" + strconv.Itoa(int(c))
}

// errMalformed: bytes that are not a well-formed DNS message.
var errMalformed = errors.New("malformed DNS message")

// appendName appends the uncompressed wire form of name, an absolute
// domain name in text ("a.example.org." or "."); labels are taken as they
// are, without escapes.
func appendName(b []byte, name string) ([]byte, error) {
	if !strings.HasSuffix(name, ".") {
		return b, fmt.Errorf("name %q is not absolute", name)
	}
	if len(name) > 254 {
		return b, fmt.Errorf("name %q is longer than 255 bytes on the wire", name)
	}
	if name == "." {
		return append(b, 0), nil
	}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if l == "" || len(l) > 63 {
			return b, fmt.Errorf("name %q has a label of %d bytes (want 1 to 63)", name, len(l))
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0), nil
}

// appendHeader appends a message header.
func appendHeader(b []byte, id, flags, qd, an, ns, ar uint16) []byte {
	for _, v := range [...]uint16{id, flags, qd, an, ns, ar} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

// appendRR appends a resource record whose owner name is already in wire
// form.
func appendRR(b, name []byte, typ, class uint16, ttl uint32, rdata []byte) []byte {
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, class)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
	return append(b, rdata...)
}

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
			return "", fmt.Errorf("%w: TXT character-string of %d bytes runs past its record", errMalformed, n)
		}
		sb.Write(rdata[off+1 : off+1+n])
		off += 1 + n
	}
	return sb.String(), nil
}

// record is one resource record of a parsed message.
type record struct {
	name  string
	typ   uint16
	class uint16
	ttl   uint32
	data  []byte
	off   int // where data begins in the message
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
	id, flags      uint16
	qd, an, ns, ar uint16
	answers        []record
	tsig           *tsigRecord
	tsigStart      int // offset of the TSIG RR in the message
}

func (m *message) opcode() uint16 { return m.flags >> 11 & 0xf }
func (m *message) rcode() uint16  { return m.flags & 0xf }

// maxRecords bounds the records a reply may hold: ours hold a handful.
const maxRecords = 256

// parseMessage reads a DNS message. It checks every length against the
// bytes it has, follows only backward compression pointers, and accepts a
// TSIG RR only as the last record of the additional section.
func parseMessage(b []byte) (*message, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a header", errMalformed, len(b))
	}
	m := &message{
		id: binary.BigEndian.Uint16(b), flags: binary.BigEndian.Uint16(b[2:]),
		qd: binary.BigEndian.Uint16(b[4:]), an: binary.BigEndian.Uint16(b[6:]),
		ns: binary.BigEndian.Uint16(b[8:]), ar: binary.BigEndian.Uint16(b[10:]),
	}
	if int(m.qd)+int(m.an)+int(m.ns)+int(m.ar) > maxRecords {
		return nil, fmt.Errorf("%w: %d records", errMalformed, int(m.qd)+int(m.an)+int(m.ns)+int(m.ar))
	}
	off := headerLen
	for range m.qd {
		_, next, err := readName(b, off)
		if err != nil {
			return nil, err
		}
		if next+4 > len(b) {
			return nil, fmt.Errorf("%w: question runs past the end", errMalformed)
		}
		off = next + 4
	}
	total := int(m.an) + int(m.ns) + int(m.ar)
	for i := range total {
		start := off
		r, next, err := readRR(b, off)
		if err != nil {
			return nil, err
		}
		off = next
		switch {
		case r.typ == typeTSIG:
			if i != total-1 {
				return nil, fmt.Errorf("%w: TSIG record is not the last record", errMalformed)
			}
			t, err := parseTSIG(b, r)
			if err != nil {
				return nil, err
			}
			m.tsig, m.tsigStart = t, start
		case i < int(m.an):
			m.answers = append(m.answers, r)
		}
	}
	if off != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the last record", errMalformed, len(b)-off)
	}
	return m, nil
}

// readRR reads one resource record at off.
func readRR(b []byte, off int) (record, int, error) {
	name, off, err := readName(b, off)
	if err != nil {
		return record{}, 0, err
	}
	if off+10 > len(b) {
		return record{}, 0, fmt.Errorf("%w: record %s runs past the end", errMalformed, name)
	}
	r := record{
		name: name, typ: binary.BigEndian.Uint16(b[off:]), class: binary.BigEndian.Uint16(b[off+2:]),
		ttl: binary.BigEndian.Uint32(b[off+4:]),
	}
	n := int(binary.BigEndian.Uint16(b[off+8:]))
	off += 10
	if off+n > len(b) {
		return record{}, 0, fmt.Errorf("%w: record %s has %d bytes of data, %d left", errMalformed, name, n, len(b)-off)
	}
	r.data, r.off = b[off:off+n:off+n], off
	return r, off + n, nil
}

// parseTSIG reads the RDATA of a TSIG RR r of message b (its algorithm
// name may point back into b).
func parseTSIG(b []byte, r record) (*tsigRecord, error) {
	t := &tsigRecord{name: r.name, class: r.class, ttl: r.ttl}
	end := r.off + len(r.data)
	alg, off, err := readName(b[:end], r.off)
	if err != nil {
		return nil, fmt.Errorf("TSIG algorithm: %w", err)
	}
	t.alg = alg
	d := b[off:end]
	if len(d) < 10 {
		return nil, fmt.Errorf("%w: TSIG record too short", errMalformed)
	}
	t.timeSigned = uint64(binary.BigEndian.Uint16(d))<<32 | uint64(binary.BigEndian.Uint32(d[2:]))
	t.fudge = binary.BigEndian.Uint16(d[6:])
	macLen := int(binary.BigEndian.Uint16(d[8:]))
	d = d[10:]
	if len(d) < macLen+6 {
		return nil, fmt.Errorf("%w: TSIG MAC of %d bytes runs past its record", errMalformed, macLen)
	}
	t.mac = d[:macLen:macLen]
	d = d[macLen:]
	t.origID = binary.BigEndian.Uint16(d)
	t.err = binary.BigEndian.Uint16(d[2:])
	otherLen := int(binary.BigEndian.Uint16(d[4:]))
	d = d[6:]
	if len(d) != otherLen {
		return nil, fmt.Errorf("%w: TSIG other data is %d bytes, record has %d", errMalformed, otherLen, len(d))
	}
	t.other = d
	return t, nil
}

// readName reads a possibly compressed name at off and returns it as
// lower-case absolute text and the offset just past it in b.
func readName(b []byte, off int) (string, int, error) {
	var sb strings.Builder
	next := -1   // where the name ends in b: after its first pointer or root label
	wire := 0    // wire length of the uncompressed name
	limit := off // a pointer must point before this (no loops)
	for {
		if off >= len(b) {
			return "", 0, fmt.Errorf("%w: name runs past the end", errMalformed)
		}
		c := int(b[off])
		switch c & 0xc0 {
		case 0x00:
		case 0xc0:
			if off+1 >= len(b) {
				return "", 0, fmt.Errorf("%w: name pointer runs past the end", errMalformed)
			}
			ptr := int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
			if ptr >= limit {
				return "", 0, fmt.Errorf("%w: name pointer %d does not point backwards", errMalformed, ptr)
			}
			if next < 0 {
				next = off + 2
			}
			off, limit = ptr, ptr
			continue
		default:
			return "", 0, fmt.Errorf("%w: label type %#x", errMalformed, c&0xc0)
		}
		wire += 1 + c
		if wire > 255 {
			return "", 0, fmt.Errorf("%w: name longer than 255 bytes", errMalformed)
		}
		if c == 0 {
			if next < 0 {
				next = off + 1
			}
			if sb.Len() == 0 {
				sb.WriteByte('.')
			}
			return sb.String(), next, nil
		}
		if off+1+c > len(b) {
			return "", 0, fmt.Errorf("%w: label runs past the end", errMalformed)
		}
		for _, ch := range b[off+1 : off+1+c] {
			switch {
			case 'A' <= ch && ch <= 'Z':
				sb.WriteByte(ch + 'a' - 'A')
			case 'a' <= ch && ch <= 'z', '0' <= ch && ch <= '9', ch == '-', ch == '_':
				sb.WriteByte(ch)
			default:
				fmt.Fprintf(&sb, "\\%03d", ch)
			}
		}
		sb.WriteByte('.')
		off += 1 + c
	}
}
