// Package stuntest builds STUN messages for tests: the Binding responses a
// server would send (BindingSuccess, BindingError, or any layout through
// Message and the attribute constructors) and the transaction ID of a
// Binding request a fake server has to answer (RequestTxID).
//
// It is for _test.go files only; no program should import it.
//
// The encoding is written here from RFC 8489 (§5 header, §14 attribute
// layout and padding, §14.1 MAPPED-ADDRESS, §14.2 XOR-MAPPED-ADDRESS,
// §14.7 FINGERPRINT, §14.8 ERROR-CODE) and RFC 5780 §7 (OTHER-ADDRESS,
// RESPONSE-ORIGIN), and shares nothing with package stun's codec, so a test
// of stun's parser that feeds it these bytes checks the parser against an
// independent encoder. The package does not import stun, so stun's own
// tests can use it without an import cycle. Transaction IDs are [12]byte,
// to which stun.TxID is assignable both ways.
//
// Nothing here validates its input beyond what is needed to lay out the
// bytes: tests use it to build malformed messages too.
package stuntest

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
)

// MagicCookie is the fixed value at bytes 4..7 of every message (RFC 8489
// §5).
const MagicCookie = 0x2112A442

// Message types (RFC 8489 §5 and §18.2: method Binding, in each class).
const (
	TypeBindingRequest    = 0x0001
	TypeBindingIndication = 0x0011
	TypeBindingSuccess    = 0x0101
	TypeBindingError      = 0x0111
)

// Attribute types (RFC 8489 §18.3, RFC 5780 §9, RFC 3489 §11.2).
const (
	AttrMappedAddress    = 0x0001
	AttrChangeRequest    = 0x0003 // RFC 5780
	AttrSourceAddress    = 0x0004 // RFC 3489
	AttrChangedAddress   = 0x0005 // RFC 3489
	AttrUsername         = 0x0006
	AttrMessageIntegrity = 0x0008
	AttrErrorCode        = 0x0009
	AttrRealm            = 0x0014
	AttrNonce            = 0x0015
	AttrXORMappedAddress = 0x0020
	AttrSoftware         = 0x8022
	AttrFingerprint      = 0x8028
	AttrResponseOrigin   = 0x802B // RFC 5780
	AttrOtherAddress     = 0x802C // RFC 5780
)

// fingerprintXOR is XORed into the CRC-32 of a FINGERPRINT (RFC 8489
// §14.7): "STUN" in ASCII.
const fingerprintXOR = 0x5354554e

const headerLen = 20

var be = binary.BigEndian

// Attr is one attribute as Message lays it out: Type, the length of Value,
// Value, then padding up to a multiple of 4 bytes.
type Attr struct {
	Type  uint16
	Value []byte
	// Pad fills the padding. RFC 8489 §14 says zero, the default; the
	// RFC 5769 test vectors use a space (0x20).
	Pad byte

	fingerprint bool // value computed by Message; see Fingerprint
}

// Fingerprint returns a FINGERPRINT attribute whose value Message computes
// (RFC 8489 §14.7): the CRC-32 of every byte before the attribute, with
// the header length already counting the whole message, XORed with
// 0x5354554e. It belongs last; Message does not enforce that. For a
// FINGERPRINT with a value of the test's choosing, use an Attr with Type
// AttrFingerprint.
func Fingerprint() Attr { return Attr{Type: AttrFingerprint, fingerprint: true} }

// Message returns a STUN message of type typ with transaction ID tx and
// attrs in order, and the header length set to the length of the
// attributes. A FINGERPRINT appears only where attrs has one.
func Message(typ uint16, tx [12]byte, attrs ...Attr) []byte {
	b := make([]byte, headerLen, 64)
	be.PutUint16(b[0:], typ)
	be.PutUint32(b[4:], MagicCookie)
	copy(b[8:], tx[:])
	var fps []int // offsets of the FINGERPRINT values to compute
	for _, a := range attrs {
		b = be.AppendUint16(b, a.Type)
		if a.fingerprint {
			b = be.AppendUint16(b, 4)
			fps = append(fps, len(b))
			b = append(b, 0, 0, 0, 0)
			continue
		}
		b = be.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
		for len(b)%4 != 0 {
			b = append(b, a.Pad)
		}
	}
	be.PutUint16(b[2:], uint16(len(b)-headerLen))
	for _, off := range fps {
		be.PutUint32(b[off:], crc32.ChecksumIEEE(b[:off-4])^fingerprintXOR)
	}
	return b
}

// BindingSuccess returns a Binding success response for transaction tx:
// XOR-MAPPED-ADDRESS mapped, then attrs (say OtherAddress, ResponseOrigin
// or MappedAddress), then a FINGERPRINT. For a response without a
// FINGERPRINT, or without XOR-MAPPED-ADDRESS, use Message.
func BindingSuccess(tx [12]byte, mapped netip.AddrPort, attrs ...Attr) []byte {
	all := make([]Attr, 0, len(attrs)+2)
	all = append(all, XORMappedAddress(mapped, tx))
	all = append(all, attrs...)
	return Message(TypeBindingSuccess, tx, append(all, Fingerprint())...)
}

// BindingError returns a Binding error response for transaction tx:
// ERROR-CODE code with reason, then attrs, then a FINGERPRINT.
func BindingError(tx [12]byte, code int, reason string, attrs ...Attr) []byte {
	all := make([]Attr, 0, len(attrs)+2)
	all = append(all, ErrorCode(code, reason))
	all = append(all, attrs...)
	return Message(TypeBindingError, tx, append(all, Fingerprint())...)
}

// addrValue is the value of MAPPED-ADDRESS and the attributes of the same
// layout (RFC 8489 §14.1): a zero byte, the family (1 IPv4, 2 IPv6), the
// port, the address. An IPv4-mapped IPv6 address is sent as IPv6: unmap
// it first to send IPv4. It panics on an invalid address, a test's bug.
func addrValue(ap netip.AddrPort) []byte {
	a := ap.Addr()
	if !a.IsValid() {
		panic("stuntest: invalid address in an address attribute")
	}
	fam := byte(2)
	if a.Is4() {
		fam = 1
	}
	v := []byte{0, fam, byte(ap.Port() >> 8), byte(ap.Port())}
	return append(v, a.AsSlice()...)
}

// MappedAddress returns a MAPPED-ADDRESS attribute (RFC 8489 §14.1).
func MappedAddress(ap netip.AddrPort) Attr {
	return Attr{Type: AttrMappedAddress, Value: addrValue(ap)}
}

// XORMappedAddress returns an XOR-MAPPED-ADDRESS attribute for a message
// with transaction ID tx (RFC 8489 §14.2): the port XORed with the top 16
// bits of the magic cookie, an IPv4 address with the cookie, an IPv6
// address with the cookie followed by tx.
func XORMappedAddress(ap netip.AddrPort, tx [12]byte) Attr {
	var key [16]byte
	be.PutUint32(key[:], MagicCookie)
	copy(key[4:], tx[:])
	v := addrValue(ap)
	v[2] ^= key[0]
	v[3] ^= key[1]
	for i := range v[4:] {
		v[4+i] ^= key[i]
	}
	return Attr{Type: AttrXORMappedAddress, Value: v}
}

// OtherAddress returns an OTHER-ADDRESS attribute (RFC 5780 §7.4).
func OtherAddress(ap netip.AddrPort) Attr {
	return Attr{Type: AttrOtherAddress, Value: addrValue(ap)}
}

// ResponseOrigin returns a RESPONSE-ORIGIN attribute (RFC 5780 §7.3).
func ResponseOrigin(ap netip.AddrPort) Attr {
	return Attr{Type: AttrResponseOrigin, Value: addrValue(ap)}
}

// ChangedAddress returns an RFC 3489 CHANGED-ADDRESS attribute, the
// predecessor of OTHER-ADDRESS.
func ChangedAddress(ap netip.AddrPort) Attr {
	return Attr{Type: AttrChangedAddress, Value: addrValue(ap)}
}

// SourceAddress returns an RFC 3489 SOURCE-ADDRESS attribute, the
// predecessor of RESPONSE-ORIGIN.
func SourceAddress(ap netip.AddrPort) Attr {
	return Attr{Type: AttrSourceAddress, Value: addrValue(ap)}
}

// ErrorCode returns an ERROR-CODE attribute (RFC 8489 §14.8): two zero
// bytes, the class code/100 in the low 3 bits of the third, the number
// code%100 in the fourth, then reason. The code is not range-checked, so
// 200 or 700 give a bad class; a number of 100 or more, or reserved bits
// set, take an Attr of the test's own.
func ErrorCode(code int, reason string) Attr {
	v := []byte{0, 0, byte(code/100) & 0x07, byte(code % 100)}
	return Attr{Type: AttrErrorCode, Value: append(v, reason...)}
}

// Software returns a SOFTWARE attribute (RFC 8489 §14.14).
func Software(s string) Attr {
	return Attr{Type: AttrSoftware, Value: []byte(s)}
}

// RequestTxID returns the transaction ID of b when b is a whole Binding
// request: a header with type 0x0001 and the magic cookie, a length that
// is a multiple of 4 and accounts for exactly the rest of b, attributes
// that tile it, and, if one of them is a FINGERPRINT, that FINGERPRINT
// last and correct. A fake server calls it to decide what to answer;
// anything else (an indication, a response, a WireGuard packet) gives
// ok false.
func RequestTxID(b []byte) (tx [12]byte, ok bool) {
	if len(b) < headerLen || be.Uint16(b) != TypeBindingRequest || be.Uint32(b[4:]) != MagicCookie {
		return tx, false
	}
	if n := int(be.Uint16(b[2:])); n%4 != 0 || headerLen+n != len(b) {
		return tx, false
	}
	for off := headerLen; off < len(b); {
		if len(b)-off < 4 {
			return tx, false
		}
		typ, n := be.Uint16(b[off:]), int(be.Uint16(b[off+2:]))
		next := off + 4 + (n+3)&^3
		if next > len(b) {
			return tx, false
		}
		if typ == AttrFingerprint {
			if n != 4 || next != len(b) || be.Uint32(b[off+4:]) != crc32.ChecksumIEEE(b[:off])^fingerprintXOR {
				return tx, false
			}
		}
		off = next
	}
	copy(tx[:], b[8:headerLen])
	return tx, true
}
