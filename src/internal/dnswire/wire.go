// Package dnswire is the part of the DNS wire format (RFC 1035, RFC 6891)
// and of its exchange over UDP and TCP that wgstun speaks: the resolver
// (package resolve) asks for A and AAAA records with it, and the rfc2136
// store builds its signed queries and updates on it. Names are kept as
// lower-case absolute text ("a.example.org."); a byte outside [a-z0-9_-]
// in a label read from the wire is written as \DDD, so two different wire
// names never have the same text.
package dnswire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Record types, classes, opcodes and header flags.
const (
	TypeA     = 1
	TypeCNAME = 5
	TypeSOA   = 6
	TypeTXT   = 16
	TypeAAAA  = 28
	TypeOPT   = 41
	TypeTSIG  = 250

	ClassIN  = 1
	ClassANY = 255

	OpQuery  = 0
	OpUpdate = 5

	FlagQR = 1 << 15
	FlagTC = 1 << 9
	FlagRD = 1 << 8

	HeaderLen  = 12
	MaxUDPSize = 512  // RFC 1035 4.2.1: larger requests go over TCP
	EDNSSize   = 1232 // the UDP payload size AppendQuery offers (RFC 6891)
)

// Response codes (RFC 1035, RFC 2136) and TSIG error codes (RFC 8945).
const (
	RcodeNoError  = 0
	RcodeFormErr  = 1
	RcodeServFail = 2
	RcodeNXDomain = 3
	RcodeNotImp   = 4
	RcodeRefused  = 5
	RcodeYXDomain = 6
	RcodeYXRRSet  = 7
	RcodeNXRRSet  = 8
	RcodeNotAuth  = 9
	RcodeNotZone  = 10
	TSIGBadSig    = 16
	TSIGBadKey    = 17
	TSIGBadTime   = 18
	TSIGBadTrunc  = 22
)

var rcodeNames = map[uint16]string{
	RcodeNoError: "NOERROR", RcodeFormErr: "FORMERR", RcodeServFail: "SERVFAIL",
	RcodeNXDomain: "NXDOMAIN", RcodeNotImp: "NOTIMP", RcodeRefused: "REFUSED",
	RcodeYXDomain: "YXDOMAIN", RcodeYXRRSet: "YXRRSET", RcodeNXRRSet: "NXRRSET",
	RcodeNotAuth: "NOTAUTH", RcodeNotZone: "NOTZONE", TSIGBadSig: "BADSIG",
	TSIGBadKey: "BADKEY", TSIGBadTime: "BADTIME", TSIGBadTrunc: "BADTRUNC",
}

// RcodeName is a response code's mnemonic, or RCODEn.
func RcodeName(c uint16) string {
	if n, ok := rcodeNames[c]; ok {
		return n
	}
	return "RCODE" + strconv.Itoa(int(c))
}

// ErrMalformed: bytes that are not a well-formed DNS message.
var ErrMalformed = errors.New("malformed DNS message")

// AppendName appends the uncompressed wire form of name, an absolute
// domain name in text ("a.example.org." or "."); labels are taken as they
// are, without escapes.
func AppendName(b []byte, name string) ([]byte, error) {
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

// AppendHeader appends a message header.
func AppendHeader(b []byte, id, flags, qd, an, ns, ar uint16) []byte {
	for _, v := range [...]uint16{id, flags, qd, an, ns, ar} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

// AppendRR appends a resource record whose owner name is already in wire
// form.
func AppendRR(b, name []byte, typ, class uint16, ttl uint32, rdata []byte) []byte {
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, class)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
	return append(b, rdata...)
}

// AppendQuery appends a query for name's records of type qtype with the
// given header flags (OpQuery<<11, plus FlagRD to a recursive resolver),
// and an EDNS OPT record offering EDNSSize bytes of UDP payload.
func AppendQuery(b []byte, id, flags uint16, name string, qtype uint16) ([]byte, error) {
	b = AppendHeader(b, id, flags, 1, 0, 0, 1)
	b, err := AppendName(b, name)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, ClassIN)
	return AppendRR(b, []byte{0}, TypeOPT, EDNSSize, 0, nil), nil
}

// Record is one resource record of a parsed message.
type Record struct {
	Name  string
	Type  uint16
	Class uint16
	TTL   uint32
	Data  []byte
	Off   int // where Data begins in the message
	Start int // where the record begins in the message
}

// Message is a parsed DNS message: the header and the records of the
// answer, authority and additional sections, in order.
type Message struct {
	ID, Flags      uint16
	QD, AN, NS, AR uint16
	Records        []Record
}

func (m *Message) Opcode() uint16 { return m.Flags >> 11 & 0xf }
func (m *Message) Rcode() uint16  { return m.Flags & 0xf }

// Answers is the answer section.
func (m *Message) Answers() []Record { return m.Records[:m.AN] }

// MaxRecords bounds the records a message may hold: the replies wgstun
// reads hold a handful.
const MaxRecords = 256

// ParseMessage reads a DNS message. It checks every length against the
// bytes it has and follows only backward compression pointers.
func ParseMessage(b []byte) (*Message, error) {
	if len(b) < HeaderLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a header", ErrMalformed, len(b))
	}
	m := &Message{
		ID: binary.BigEndian.Uint16(b), Flags: binary.BigEndian.Uint16(b[2:]),
		QD: binary.BigEndian.Uint16(b[4:]), AN: binary.BigEndian.Uint16(b[6:]),
		NS: binary.BigEndian.Uint16(b[8:]), AR: binary.BigEndian.Uint16(b[10:]),
	}
	if n := int(m.QD) + int(m.AN) + int(m.NS) + int(m.AR); n > MaxRecords {
		return nil, fmt.Errorf("%w: %d records", ErrMalformed, n)
	}
	off := HeaderLen
	for range m.QD {
		_, next, err := ReadName(b, off)
		if err != nil {
			return nil, err
		}
		if next+4 > len(b) {
			return nil, fmt.Errorf("%w: question runs past the end", ErrMalformed)
		}
		off = next + 4
	}
	total := int(m.AN) + int(m.NS) + int(m.AR)
	m.Records = make([]Record, 0, total)
	for range total {
		r, next, err := ReadRR(b, off)
		if err != nil {
			return nil, err
		}
		m.Records = append(m.Records, r)
		off = next
	}
	if off != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the last record", ErrMalformed, len(b)-off)
	}
	return m, nil
}

// ReadRR reads one resource record at off.
func ReadRR(b []byte, off int) (Record, int, error) {
	start := off
	name, off, err := ReadName(b, off)
	if err != nil {
		return Record{}, 0, err
	}
	if off+10 > len(b) {
		return Record{}, 0, fmt.Errorf("%w: record %s runs past the end", ErrMalformed, name)
	}
	r := Record{
		Start: start, Name: name, Type: binary.BigEndian.Uint16(b[off:]), Class: binary.BigEndian.Uint16(b[off+2:]),
		TTL: binary.BigEndian.Uint32(b[off+4:]),
	}
	n := int(binary.BigEndian.Uint16(b[off+8:]))
	off += 10
	if off+n > len(b) {
		return Record{}, 0, fmt.Errorf("%w: record %s has %d bytes of data, %d left", ErrMalformed, name, n, len(b)-off)
	}
	r.Data, r.Off = b[off:off+n:off+n], off
	return r, off + n, nil
}

// ReadName reads a possibly compressed name at off and returns it as
// lower-case absolute text and the offset just past it in b.
func ReadName(b []byte, off int) (string, int, error) {
	var sb strings.Builder
	next := -1   // where the name ends in b: after its first pointer or root label
	wire := 0    // wire length of the uncompressed name
	limit := off // a pointer must point before this (no loops)
	for {
		if off >= len(b) {
			return "", 0, fmt.Errorf("%w: name runs past the end", ErrMalformed)
		}
		c := int(b[off])
		switch c & 0xc0 {
		case 0x00:
		case 0xc0:
			if off+1 >= len(b) {
				return "", 0, fmt.Errorf("%w: name pointer runs past the end", ErrMalformed)
			}
			ptr := int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
			if ptr >= limit {
				return "", 0, fmt.Errorf("%w: name pointer %d does not point backwards", ErrMalformed, ptr)
			}
			if next < 0 {
				next = off + 2
			}
			off, limit = ptr, ptr
			continue
		default:
			return "", 0, fmt.Errorf("%w: label type %#x", ErrMalformed, c&0xc0)
		}
		wire += 1 + c
		if wire > 255 {
			return "", 0, fmt.Errorf("%w: name longer than 255 bytes", ErrMalformed)
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
			return "", 0, fmt.Errorf("%w: label runs past the end", ErrMalformed)
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
