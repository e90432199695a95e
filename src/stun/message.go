package stun

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/netip"
	"strconv"
)

// Wire layout (RFC 8489 §5, §14):
//
//	 0                   1                   2                   3
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|0 0|     STUN Message Type     |         Message Length        |  0
//	|                         Magic Cookie                          |  4
//	|                  Transaction ID (96 bits)                     |  8..19
//	|         Attribute Type        |            Length             | 20
//	|                 Value (padded to 4 bytes) ...                 |
const (
	headerLen      = 20
	magicCookie    = 0x2112A442
	fingerprintXOR = 0x5354554e

	typeBindingRequest    = 0x0001
	typeBindingIndication = 0x0011
	typeBindingSuccess    = 0x0101
	typeBindingError      = 0x0111

	attrMappedAddress          = 0x0001
	attrChangeRequest          = 0x0003 // RFC 5780
	attrSourceAddress          = 0x0004 // RFC 3489, RESPONSE-ORIGIN's ancestor
	attrChangedAddress         = 0x0005 // RFC 3489, OTHER-ADDRESS's ancestor
	attrUsername               = 0x0006
	attrMessageIntegrity       = 0x0008
	attrErrorCode              = 0x0009
	attrUnknownAttributes      = 0x000A
	attrReflectedFrom          = 0x000B // RFC 3489
	attrRealm                  = 0x0014
	attrNonce                  = 0x0015
	attrMessageIntegritySHA256 = 0x001C
	attrPasswordAlgorithm      = 0x001D
	attrUserhash               = 0x001E
	attrXORMappedAddress       = 0x0020
	attrPadding                = 0x0026 // RFC 5780
	attrResponsePort           = 0x0027 // RFC 5780
	attrFingerprint            = 0x8028
	attrResponseOrigin         = 0x802B // RFC 5780
	attrOtherAddress           = 0x802C // RFC 5780

	familyIPv4 = 0x01
	familyIPv6 = 0x02
)

var be = binary.BigEndian

// TxID is a STUN transaction ID.
type TxID [12]byte

// NewTxID returns a transaction ID from crypto/rand, as RFC 8489 §6 asks,
// so that an off-path sender cannot guess it.
func NewTxID() TxID {
	var t TxID
	rand.Read(t[:]) // never fails since Go 1.24
	return t
}

// Change holds the CHANGE-REQUEST flags of RFC 5780 §7.2.
type Change uint8

// CHANGE-REQUEST flags. The zero Change sends no CHANGE-REQUEST attribute.
const (
	ChangePort Change = 0x02
	ChangeIP   Change = 0x04
)

// AppendBindingRequest appends a Binding request with transaction ID tx to
// b and returns the extended slice. A non-zero change adds a CHANGE-REQUEST
// attribute (bits other than ChangeIP and ChangePort are dropped). The
// message ends with a FINGERPRINT and carries no SOFTWARE: 28 bytes, or 36
// with CHANGE-REQUEST.
func AppendBindingRequest(b []byte, tx TxID, change Change) []byte {
	return appendMessage(b, typeBindingRequest, tx, change&(ChangeIP|ChangePort))
}

// AppendBindingIndication appends a 28-byte Binding indication (no
// response expected) with a FINGERPRINT to b. wgstun sends it from the
// WireGuard port to a peer's endpoint to open its own NAT towards the peer.
func AppendBindingIndication(b []byte, tx TxID) []byte {
	return appendMessage(b, typeBindingIndication, tx, 0)
}

func appendMessage(b []byte, typ uint16, tx TxID, change Change) []byte {
	start := len(b)
	length := uint16(8) // FINGERPRINT
	if change != 0 {
		length += 8
	}
	b = be.AppendUint16(b, typ)
	b = be.AppendUint16(b, length)
	b = be.AppendUint32(b, magicCookie)
	b = append(b, tx[:]...)
	if change != 0 {
		b = be.AppendUint16(b, attrChangeRequest)
		b = be.AppendUint16(b, 4)
		b = be.AppendUint32(b, uint32(change))
	}
	// The header length already counts the FINGERPRINT, as §14.7 requires.
	crc := crc32.ChecksumIEEE(b[start:]) ^ fingerprintXOR
	b = be.AppendUint16(b, attrFingerprint)
	b = be.AppendUint16(b, 4)
	return be.AppendUint32(b, crc)
}

// IsMessage reports whether b looks like a whole STUN message: a header
// with the top two bits zero, the magic cookie, and a length that is a
// multiple of 4 and accounts for exactly the rest of b. It reads no
// attributes.
func IsMessage(b []byte) bool {
	if len(b) < headerLen || b[0]&0xC0 != 0 || be.Uint32(b[4:]) != magicCookie {
		return false
	}
	n := int(be.Uint16(b[2:]))
	return n%4 == 0 && headerLen+n == len(b)
}

// Response is a parsed Binding response. Addresses that the message did not
// carry are the zero netip.AddrPort.
type Response struct {
	TxID TxID
	// Mapped is the XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS when the server
	// sent only that (RFC 3489 servers).
	Mapped netip.AddrPort
	// Other is the OTHER-ADDRESS (RFC 5780), or RFC 3489's CHANGED-ADDRESS.
	Other netip.AddrPort
	// Origin is the RESPONSE-ORIGIN (RFC 5780), or RFC 3489's SOURCE-ADDRESS.
	Origin netip.AddrPort
}

// ErrorResponse is the error ParseResponse returns for a well-formed Binding
// error response; the Response returned with it has TxID set.
type ErrorResponse struct {
	Code   int    // 300..699
	Reason string // as sent by the server
}

func (e *ErrorResponse) Error() string {
	s := "stun: error response " + strconv.Itoa(e.Code)
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}

// ErrMalformed is matched (errors.Is) by every error ParseResponse returns
// for bytes that are not a valid Binding response.
var ErrMalformed = errors.New("stun: malformed message")

type formatError struct {
	what string
	attr uint16 // 0: the error is not about one attribute
}

func (e *formatError) Error() string {
	s := "stun: malformed message: "
	if e.attr != 0 {
		s += attrName(e.attr) + ": "
	}
	return s + e.what
}

func (e *formatError) Is(target error) bool { return target == ErrMalformed }

func attrErr(attr uint16, what string) error { return &formatError{what: what, attr: attr} }

var (
	errShort       = &formatError{what: "shorter than the 20-byte header"}
	errTopBits     = &formatError{what: "top two bits of the message type are not zero"}
	errCookie      = &formatError{what: "wrong magic cookie"}
	errLenAlign    = &formatError{what: "length is not a multiple of 4"}
	errLenMismatch = &formatError{what: "length does not match the datagram size"}
	errNotResponse = &formatError{what: "not a Binding success or error response"}
	errAttrHeader  = &formatError{what: "truncated attribute header"}
	errNoMapped    = &formatError{what: "success response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS"}
	errNoCode      = &formatError{what: "error response without ERROR-CODE"}
)

func attrName(t uint16) string {
	switch t {
	case attrMappedAddress:
		return "MAPPED-ADDRESS"
	case attrSourceAddress:
		return "SOURCE-ADDRESS"
	case attrChangedAddress:
		return "CHANGED-ADDRESS"
	case attrErrorCode:
		return "ERROR-CODE"
	case attrXORMappedAddress:
		return "XOR-MAPPED-ADDRESS"
	case attrFingerprint:
		return "FINGERPRINT"
	case attrResponseOrigin:
		return "RESPONSE-ORIGIN"
	case attrOtherAddress:
		return "OTHER-ADDRESS"
	}
	return "attribute 0x" + strconv.FormatUint(uint64(t)|0x10000, 16)[1:]
}

// ParseResponse parses a Binding success or error response. For a success
// response it returns the addresses found. For an error response it returns
// a Response with only TxID set and an *ErrorResponse. Anything else yields
// an error matching ErrMalformed: a bad header, an attribute overrunning the
// message, an address of unknown family or wrong size, a FINGERPRINT that
// does not verify or is not the last attribute, or an unknown
// comprehension-required attribute (RFC 8489 §7.3.3). Unknown
// comprehension-optional attributes (0x8000 and up) are skipped; so are
// attributes after MESSAGE-INTEGRITY other than FINGERPRINT (§14.5), and
// MESSAGE-INTEGRITY itself is not checked. Of repeated attributes the first
// counts.
func ParseResponse(b []byte) (Response, error) {
	var r Response
	if err := checkHeader(b); err != nil {
		return r, err
	}
	typ := be.Uint16(b[0:])
	if typ != typeBindingSuccess && typ != typeBindingError {
		return r, errNotResponse
	}
	copy(r.TxID[:], b[8:headerLen])
	xorKey := b[4:headerLen] // magic cookie then transaction ID

	var (
		xorMapped, mapped, changed, source netip.AddrPort
		code                               *ErrorResponse
	)
	err := walk(b, func(at uint16, v []byte, _ int, afterIntegrity bool) error {
		if at == attrFingerprint || afterIntegrity {
			return nil
		}
		var err error
		switch at {
		case attrXORMappedAddress:
			if !xorMapped.IsValid() {
				xorMapped, err = parseAddr(v, xorKey)
			}
		case attrMappedAddress:
			if !mapped.IsValid() {
				mapped, err = parseAddr(v, nil)
			}
		case attrOtherAddress:
			if !r.Other.IsValid() {
				r.Other, err = parseAddr(v, nil)
			}
		case attrResponseOrigin:
			if !r.Origin.IsValid() {
				r.Origin, err = parseAddr(v, nil)
			}
		case attrChangedAddress:
			if !changed.IsValid() {
				changed, err = parseAddr(v, nil)
			}
		case attrSourceAddress:
			if !source.IsValid() {
				source, err = parseAddr(v, nil)
			}
		case attrErrorCode:
			if typ == typeBindingError && code == nil {
				code, err = parseErrorCode(v)
			}
		default:
			if at < 0x8000 && !knownAttr(at) {
				return attrErr(at, "unknown comprehension-required attribute")
			}
		}
		if err != nil {
			return attrErr(at, err.Error())
		}
		return nil
	})
	if err != nil {
		return r, err
	}

	if typ == typeBindingError {
		if code == nil {
			return Response{TxID: r.TxID}, errNoCode
		}
		return Response{TxID: r.TxID}, code
	}
	r.Mapped = xorMapped
	if !r.Mapped.IsValid() {
		r.Mapped = mapped
	}
	if !r.Mapped.IsValid() {
		return r, errNoMapped
	}
	if !r.Other.IsValid() {
		r.Other = changed
	}
	if !r.Origin.IsValid() {
		r.Origin = source
	}
	return r, nil
}

var (
	errAddrShort  = errors.New("shorter than 4 bytes")
	errAddrFamily = errors.New("unknown address family")
	errAddrLen4   = errors.New("IPv4 address value is not 8 bytes")
	errAddrLen6   = errors.New("IPv6 address value is not 20 bytes")
	errCodeShort  = errors.New("shorter than 4 bytes")
	errCodeClass  = errors.New("class is not 3..6")
	errCodeNumber = errors.New("number is not 0..99")
)

// parseAddr reads a (XOR-)MAPPED-ADDRESS-style value. key is the magic
// cookie followed by the transaction ID for XOR-MAPPED-ADDRESS, nil for
// the plain form.
func parseAddr(v, key []byte) (netip.AddrPort, error) {
	if len(v) < 4 {
		return netip.AddrPort{}, errAddrShort
	}
	port := be.Uint16(v[2:])
	var ip [16]byte
	var size int
	switch v[1] {
	case familyIPv4:
		size = 4
		if len(v) != 8 {
			return netip.AddrPort{}, errAddrLen4
		}
	case familyIPv6:
		size = 16
		if len(v) != 20 {
			return netip.AddrPort{}, errAddrLen6
		}
	default:
		return netip.AddrPort{}, errAddrFamily
	}
	copy(ip[:size], v[4:])
	if key != nil {
		port ^= magicCookie >> 16
		for i := range size {
			ip[i] ^= key[i]
		}
	}
	if size == 4 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[:4])), port), nil
	}
	return netip.AddrPortFrom(netip.AddrFrom16(ip), port), nil
}

func parseErrorCode(v []byte) (*ErrorResponse, error) {
	if len(v) < 4 {
		return nil, errCodeShort
	}
	class, number := int(v[2]&0x07), int(v[3])
	if class < 3 || class > 6 {
		return nil, errCodeClass
	}
	if number > 99 {
		return nil, errCodeNumber
	}
	return &ErrorResponse{Code: class*100 + number, Reason: string(v[4:])}, nil
}
