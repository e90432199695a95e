package stun

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"hash/crc32"
	"net/netip"
)

// Path checks are connectivity checks between two peers' WireGuard ports
// (ICE's, RFC 8445 §7, in spirit): a Binding request carrying USERNAME,
// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, answered by a Binding success
// response carrying XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY-SHA256 and
// FINGERPRINT. Both ends hold the same key; the integrity is an
// HMAC-SHA256 over the message up to the attribute, with the header's
// length counting the attribute (RFC 8489 §14.6), all 32 bytes of it.

// integrityLen is the length of a MESSAGE-INTEGRITY-SHA256 value wgstun
// writes and requires (RFC 8489 allows truncation to 16; we do not).
const integrityLen = sha256.Size

// MaxUsername is the longest USERNAME ParseRequest accepts. RFC 8489
// allows 513 bytes; wgstun's are about 50.
const MaxUsername = 128

// AppendCheckRequest appends a path-check Binding request with transaction
// ID tx and the given USERNAME (at most MaxUsername bytes, truncated
// beyond), authenticated with key, to b.
func AppendCheckRequest(b []byte, tx TxID, username string, key []byte) []byte {
	username = username[:min(len(username), MaxUsername)]
	start := len(b)
	b = appendHeader(b, typeBindingRequest, tx)
	b = be.AppendUint16(b, attrUsername)
	b = be.AppendUint16(b, uint16(len(username)))
	b = append(b, username...)
	for len(b)%4 != start%4 {
		b = append(b, 0)
	}
	return sealMessage(b, start, key)
}

// AppendCheckResponse appends a path-check Binding success response to
// the request with transaction ID tx, reporting mapped (the request's
// source) in XOR-MAPPED-ADDRESS, authenticated with key, to b.
func AppendCheckResponse(b []byte, tx TxID, mapped netip.AddrPort, key []byte) []byte {
	start := len(b)
	b = appendHeader(b, typeBindingSuccess, tx)
	a := mapped.Addr().Unmap()
	b = be.AppendUint16(b, attrXORMappedAddress)
	fam, size := byte(familyIPv4), 4
	if a.Is6() {
		fam, size = familyIPv6, 16
	}
	b = be.AppendUint16(b, uint16(4+size))
	b = append(b, 0, fam)
	b = be.AppendUint16(b, mapped.Port()^magicCookie>>16)
	ip := a.As16()
	key16 := b[start+4 : start+headerLen] // cookie then transaction ID
	raw := ip[16-size:]
	for i := range raw {
		b = append(b, raw[i]^key16[i])
	}
	return sealMessage(b, start, key)
}

func appendHeader(b []byte, typ uint16, tx TxID) []byte {
	b = be.AppendUint16(b, typ)
	b = be.AppendUint16(b, 0) // set by sealMessage
	b = be.AppendUint32(b, magicCookie)
	return append(b, tx[:]...)
}

// sealMessage ends the message that starts at b[start:] with
// MESSAGE-INTEGRITY-SHA256 under key and FINGERPRINT, setting the header's
// length before each as §14.6 and §14.7 require.
func sealMessage(b []byte, start int, key []byte) []byte {
	msg := len(b) - start
	be.PutUint16(b[start+2:], uint16(msg-headerLen+4+integrityLen))
	mac := hmac.New(sha256.New, key)
	mac.Write(b[start:])
	b = be.AppendUint16(b, attrMessageIntegritySHA256)
	b = be.AppendUint16(b, integrityLen)
	b = mac.Sum(b)
	be.PutUint16(b[start+2:], uint16(len(b)-start-headerLen+8))
	crc := fingerprintOf(b[start:])
	b = be.AppendUint16(b, attrFingerprint)
	b = be.AppendUint16(b, 4)
	return be.AppendUint32(b, crc)
}

// fingerprintOf is the FINGERPRINT value of the message b, which ends
// just before the attribute (§14.7).
func fingerprintOf(b []byte) uint32 { return crc32.ChecksumIEEE(b) ^ fingerprintXOR }

// Request is a parsed Binding request.
type Request struct {
	TxID TxID
	// Username is the USERNAME attribute's value; empty when absent.
	Username string
	// Integrity is whether the request carries MESSAGE-INTEGRITY-SHA256
	// (checked by VerifyIntegrity, not by ParseRequest); Fingerprint
	// whether it ends with a FINGERPRINT, which ParseRequest did verify.
	Integrity, Fingerprint bool
}

var (
	errNotRequest   = &formatError{what: "not a Binding request"}
	errUsernameLong = attrErr(attrUsername, "longer than 128 bytes")
)

// ParseRequest parses a Binding request, with the checks ParseResponse
// makes of a response: the header, every attribute's bounds, a
// FINGERPRINT that must verify and be last, no unknown
// comprehension-required attribute. Errors match ErrMalformed.
func ParseRequest(b []byte) (Request, error) {
	var r Request
	if err := checkHeader(b); err != nil {
		return r, err
	}
	if be.Uint16(b[0:]) != typeBindingRequest {
		return r, errNotRequest
	}
	copy(r.TxID[:], b[8:headerLen])
	haveUser := false
	err := walk(b, func(at uint16, v []byte, _ int, afterIntegrity bool) error {
		switch {
		case at == attrFingerprint:
			r.Fingerprint = true
		case afterIntegrity:
		case at == attrMessageIntegritySHA256:
			r.Integrity = true
		case at == attrUsername:
			if len(v) > MaxUsername {
				return errUsernameLong
			}
			if !haveUser {
				r.Username, haveUser = string(v), true
			}
		case at < 0x8000 && !knownAttr(at):
			return attrErr(at, "unknown comprehension-required attribute")
		}
		return nil
	})
	return r, err
}

// VerifyIntegrity reports whether the STUN message b carries a
// MESSAGE-INTEGRITY-SHA256 of the full 32 bytes that key produced. b must
// have passed ParseRequest or ParseResponse.
func VerifyIntegrity(b, key []byte) bool {
	ok := false
	walk(b, func(at uint16, v []byte, off int, after bool) error {
		if at != attrMessageIntegritySHA256 || after || ok || len(v) != integrityLen {
			return nil
		}
		mac := hmac.New(sha256.New, key)
		var hdr [4]byte
		be.PutUint16(hdr[0:], be.Uint16(b[0:]))
		be.PutUint16(hdr[2:], uint16(off-headerLen+4+integrityLen))
		mac.Write(hdr[:])
		mac.Write(b[4:off])
		ok = subtle.ConstantTimeCompare(mac.Sum(nil), v) == 1
		return errStop
	})
	return ok
}

var errStop = &formatError{what: "stop"}

func checkHeader(b []byte) error {
	switch {
	case len(b) < headerLen:
		return errShort
	case b[0]&0xC0 != 0:
		return errTopBits
	case be.Uint32(b[4:]) != magicCookie:
		return errCookie
	}
	n := int(be.Uint16(b[2:]))
	if n%4 != 0 {
		return errLenAlign
	}
	if headerLen+n != len(b) {
		return errLenMismatch
	}
	return nil
}

// walk calls fn for each attribute of the message b (whose header has
// been checked) with its type, value, offset and whether a
// MESSAGE-INTEGRITY(-SHA256) came before it. A FINGERPRINT is verified and
// must be last; fn sees it too. errStop from fn ends the walk without
// error.
func walk(b []byte, fn func(at uint16, v []byte, off int, afterIntegrity bool) error) error {
	after := false
	for off := headerLen; off < len(b); {
		if len(b)-off < 4 {
			return errAttrHeader
		}
		at := be.Uint16(b[off:])
		al := int(be.Uint16(b[off+2:]))
		vs := off + 4
		if al > len(b)-vs {
			return attrErr(at, "value overruns the message")
		}
		v := b[vs : vs+al]
		next := vs + (al+3)&^3
		if next > len(b) {
			return attrErr(at, "padding overruns the message")
		}
		if at == attrFingerprint {
			if next != len(b) {
				return attrErr(at, "not the last attribute")
			}
			if al != 4 {
				return attrErr(at, "length is not 4")
			}
			if crc32.ChecksumIEEE(b[:off])^fingerprintXOR != be.Uint32(v) {
				return attrErr(at, "checksum mismatch")
			}
		}
		if err := fn(at, v, off, after); err != nil {
			if err == errStop {
				return nil
			}
			return err
		}
		if at == attrMessageIntegrity || at == attrMessageIntegritySHA256 {
			after = true
		}
		off = next
	}
	return nil
}

func knownAttr(at uint16) bool {
	switch at {
	case attrMappedAddress, attrChangeRequest, attrSourceAddress, attrChangedAddress, attrUsername,
		attrMessageIntegrity, attrErrorCode, attrUnknownAttributes, attrReflectedFrom, attrRealm,
		attrNonce, attrMessageIntegritySHA256, attrPasswordAlgorithm, attrUserhash,
		attrXORMappedAddress, attrPadding, attrResponsePort:
		return true
	}
	return false
}
