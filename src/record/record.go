// Package record builds and opens the sealed endpoint records that wgstun
// peers exchange through a store. The format is the one stunmesh-go uses
// (see shared/spec/stunmesh-compat.md), so the two can share a store:
//
//	key   = lowercase hex SHA-1(sender public key ‖ receiver public key)
//	value = lowercase hex(nonce ‖ box.Seal(plaintext)) with a random 24-byte nonce,
//	        sealed with the sender's WireGuard private key and the receiver's
//	        WireGuard public key (NaCl crypto_box)
//	plaintext = {"ipv4":"203.0.113.7:51820","ipv6":"[2001:db8::7]:51820","ts_ms":1700000000000}
//
// wgstun adds the optional fields ts_ms (unix milliseconds, for replay
// protection, see Guard), to (binds the record to its receiver, see toTag)
// and nat (a hint about the sender's NAT); stunmesh-go ignores them, and
// records without them are accepted.
//
// The nat hint is opaque here (any printable ASCII up to MaxNATLen;
// natcheck.ParseHint reads it). Values wgstun writes: "cone" or "symmetric"
// when only the mapping is known (what every wgstun version before the
// RFC 5780 check wrote, still read), and MAPPING+FILTERING in RFC 4787's
// initials once the filtering is known: mapping none, eim, adm, apdm or
// symmetric (address- or address-and-port-dependent, not told apart),
// filtering eif, adf or apdf; for example "eim+apdf" for a port-restricted
// cone or "apdm+apdf" for a typical symmetric NAT. Unknown values read as
// "no hint".
//
// This package is public so that other programs can read and write the
// records wgstun and stunmesh-go exchange (a store plugin, a monitoring
// tool); the rest of the daemon lives under src/internal.
package record

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/crypto/nacl/box"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/jsonwire"
)

// Errors returned by Open, ParsePlaintext, Seal and Guard.Accept; check them
// with errors.Is.
var (
	// ErrMalformed: the value or its plaintext is not a valid record.
	ErrMalformed = errors.New("record: malformed")
	// ErrLegacy: the plaintext is a bare "ip:port" written by stunmesh-go
	// before 1.5.1. It also matches ErrMalformed.
	ErrLegacy = errors.New("record: bare ip:port plaintext from stunmesh-go before 1.5.1 (upgrade the sender)")
	// ErrAuth: the value does not open with the given keys: it was not
	// sealed by that sender for this receiver, or it was altered.
	ErrAuth = errors.New("record: authentication failed")
	// ErrStale: the record is older than one already accepted from the
	// same peer (a possible replay).
	ErrStale = errors.New("record: stale")
	// ErrFuture: the record's timestamp is too far ahead of our clock.
	ErrFuture = errors.New("record: timestamp in the future")
	// ErrWeakKey: the peer's public key is zero or a point of small order,
	// with which X25519 gives an all-zero shared secret that anyone could
	// compute: nothing sealed to or opened from it would be private or
	// authentic.
	ErrWeakKey = errors.New("record: peer public key is zero or of small order")
)

const (
	nonceSize = 24
	// MaxValueLen is the longest stored value Open accepts, in characters
	// (before whitespace trimming). A dual-stack record is about 300.
	MaxValueLen = 4096
	// MaxNATLen is the longest NAT hint carried in a record.
	MaxNATLen = 64
	// MaxCandidates is the most candidates a record carries; Seal
	// refuses more and Open keeps the first MaxCandidates usable ones.
	MaxCandidates = 8
)

// Candidate kinds, as the "cand" field writes them.
const (
	CandLAN        = "lan"         // an address of the sender's host, WireGuard's port
	CandMapped     = "mapped"      // what a STUN server saw of WireGuard's port
	CandPortMapped = "port-mapped" // a mapping on the sender's gateway (PCP, NAT-PMP)
)

// Candidate is one address at which the sender's WireGuard port may be
// reached, with where the sender learned it.
type Candidate struct {
	Kind string // CandLAN, CandMapped or CandPortMapped
	Addr netip.AddrPort
}

func (c Candidate) String() string { return c.Kind + " " + c.Addr.String() }

// parseCandidate reads "KIND ADDR:PORT"; ok is false for an unknown kind
// or an address that is not a usable endpoint.
func parseCandidate(s string) (Candidate, bool) {
	kind, addr, found := strings.Cut(s, " ")
	if !found || len(s) > 64 {
		return Candidate{}, false
	}
	switch kind {
	case CandLAN, CandMapped, CandPortMapped:
	default:
		return Candidate{}, false
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr().Zone() != "" || ap.Addr().Is4In6() || checkEndpoint(ap) != nil || ap.Addr().IsLoopback() || ap.Addr().IsLinkLocalUnicast() {
		return Candidate{}, false
	}
	return Candidate{Kind: kind, Addr: ap}, true
}

// Endpoints is the content of a record: the publicly reachable WireGuard
// endpoints of the sender.
type Endpoints struct {
	// IPv4 and IPv6 are the discovered endpoints; an invalid (zero)
	// AddrPort means that family was not discovered. At least one is valid.
	IPv4, IPv6 netip.AddrPort
	// Time is when the sender made the record, with millisecond precision.
	// Zero means the record had no timestamp (stunmesh-go writes none).
	Time time.Time
	// NAT is an optional hint about the sender's NAT ("cone", "symmetric",
	// "eim+apdf" ...; see the package comment); empty when absent. It is at
	// most MaxNATLen printable ASCII characters.
	NAT string
	// Checks says that the sender answers path checks (wgstun's
	// connectivity checks between peers, on WireGuard's port); it is
	// written as the presence of the "cand" field, which stunmesh-go
	// ignores.
	Checks bool
	// Candidates are where the sender's WireGuard port may be reached
	// (at most MaxCandidates), for path checks: its LAN addresses, its
	// STUN mappings, its gateway's port mapping. Only with Checks.
	Candidates []Candidate
}

// Key returns the store key under which the owner of public key from
// publishes its endpoints for the owner of public key to: lowercase hex of
// SHA-1(from ‖ to). A device reads its peer's record at Key(peer, self).
func Key(from, to wgtypes.Key) string {
	var b [2 * wgtypes.KeyLen]byte
	copy(b[:], from[:])
	copy(b[wgtypes.KeyLen:], to[:])
	sum := sha1.Sum(b[:])
	return hex.EncodeToString(sum[:])
}

// Seal encodes e and seals it from senderPriv to receiverPub, returning the
// value to store. rand supplies the nonce; nil means crypto/rand.
func Seal(e Endpoints, senderPriv, receiverPub wgtypes.Key, rand io.Reader) (string, error) {
	if WeakKey(receiverPub) {
		return "", ErrWeakKey
	}
	pt, err := marshal(e, toTag(receiverPub))
	if err != nil {
		return "", err
	}
	if rand == nil {
		rand = cryptoRand
	}
	var nonce [nonceSize]byte
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return "", fmt.Errorf("record: read nonce: %w", err)
	}
	priv := [wgtypes.KeyLen]byte(senderPriv)
	pub := [wgtypes.KeyLen]byte(receiverPub)
	out := box.Seal(nonce[:], pt, &nonce, &pub, &priv)
	return hex.EncodeToString(out), nil
}

var cryptoRand = rand.Reader

// smallOrder are the encodings of the points of small order on Curve25519
// (and the non-canonical p and p+1), as libsodium lists them; the top bit,
// which X25519 ignores, is compared cleared.
var smallOrder = [...]string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

// WeakKey reports whether k is a public key no record may be sealed to or
// opened from: zero or of small order (ErrWeakKey).
func WeakKey(k wgtypes.Key) bool {
	k[31] &= 0x7f
	for _, w := range weakKeys {
		if k == w {
			return true
		}
	}
	return false
}

// weakKeys is smallOrder decoded, once.
var weakKeys = func() (out [len(smallOrder)]wgtypes.Key) {
	for i, s := range smallOrder {
		hex.Decode(out[i][:], []byte(s))
	}
	return out
}()

// Open authenticates and decodes a stored value that senderPub's owner
// sealed for receiverPriv's owner. Surrounding whitespace is ignored; hex
// digits may be of either case. Errors match ErrMalformed, ErrLegacy or
// ErrAuth.
func Open(value string, receiverPriv, senderPub wgtypes.Key) (Endpoints, error) {
	if WeakKey(senderPub) {
		return Endpoints{}, ErrWeakKey
	}
	if len(value) > MaxValueLen {
		return Endpoints{}, fmt.Errorf("%w: value is %d characters, limit %d", ErrMalformed, len(value), MaxValueLen)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(value))
	if err != nil {
		return Endpoints{}, fmt.Errorf("%w: value is not hex: %v", ErrMalformed, err)
	}
	if len(raw) < nonceSize+box.Overhead {
		return Endpoints{}, fmt.Errorf("%w: value is %d bytes, need at least %d", ErrMalformed, len(raw), nonceSize+box.Overhead)
	}
	nonce := [nonceSize]byte(raw[:nonceSize])
	priv := [wgtypes.KeyLen]byte(receiverPriv)
	pub := [wgtypes.KeyLen]byte(senderPub)
	pt, ok := box.Open(nil, raw[nonceSize:], &nonce, &pub, &priv)
	if !ok {
		return Endpoints{}, ErrAuth
	}
	e, to, err := parse(pt)
	if err != nil {
		return Endpoints{}, err
	}
	if to != "" && to != toTag(receiverPriv.PublicKey()) {
		return Endpoints{}, fmt.Errorf("%w: record is addressed to another receiver (%q), possibly reflected", ErrAuth, to)
	}
	return e, nil
}

// wire is the plaintext JSON object's fields; empty strings and a nil
// TSMs are left out when writing. Unknown fields are skipped on reading.
type wire struct {
	IPv4 string // "ipv4"
	IPv6 string // "ipv6"
	TSMs *int64 // "ts_ms"
	NAT  string // "nat"
	To   string // "to"
	// Cand is "cand", a list of "KIND ADDR:PORT" strings; HasCand
	// whether the field is there (an empty list says the sender answers
	// path checks but offers no other candidate).
	Cand    []string
	HasCand bool
}

// wireNames are the JSON names of wire's fields, in its order.
var wireNames = []string{"ipv4", "ipv6", "ts_ms", "nat", "to", "cand"}

// appendJSON writes w compactly, fields in this order: the bytes
// json.Marshal wrote for this struct with omitempty tags.
func (w *wire) appendJSON(b []byte) []byte {
	j := jsonwire.NewWriter(b, "")
	str := func(name, v string) {
		if v != "" {
			j.Key(name)
			j.String(v)
		}
	}
	j.BeginObject()
	str("ipv4", w.IPv4)
	str("ipv6", w.IPv6)
	if w.TSMs != nil {
		j.Key("ts_ms")
		j.Int(*w.TSMs)
	}
	str("nat", w.NAT)
	str("to", w.To)
	if w.HasCand {
		j.Key("cand")
		j.BeginArray()
		for _, c := range w.Cand {
			j.String(c)
		}
		j.EndArray()
	}
	j.EndObject()
	return j.Bytes()
}

// decodeWire reads the plaintext object as encoding/json would into wire:
// names match exactly or ignoring case, a later duplicate wins, null
// leaves a string as it was and clears ts_ms, and a field of the wrong
// type (or a ts_ms that is not an int64) is an error.
func decodeWire(data []byte) (wire, error) {
	var w wire
	v, err := jsonwire.Parse(data)
	if err != nil {
		return w, err
	}
	err = v.Members(wireNames, func(i int, m jsonwire.Value) error {
		if m.Kind() == jsonwire.Null {
			if i == 2 {
				w.TSMs = nil
			}
			return nil
		}
		if i == 5 {
			// Optional and wgstun's own: a list of the wrong shape or
			// with entries that do not parse loses only the candidates.
			var cand []string
			err := m.Elems(func(e jsonwire.Value) error {
				str, err := e.Str()
				if err == nil && len(cand) < 4*MaxCandidates {
					cand = append(cand, str)
				}
				return nil
			})
			w.Cand, w.HasCand = cand, err == nil
			return nil
		}
		if i == 2 {
			n, err := m.Int()
			if err != nil {
				return fmt.Errorf("ts_ms: %w", err)
			}
			w.TSMs = &n
			return nil
		}
		str, err := m.Str()
		if err != nil {
			return fmt.Errorf("%s: %w", wireNames[i], err)
		}
		switch i {
		case 0:
			w.IPv4 = str
		case 1:
			w.IPv6 = str
		case 3:
			w.NAT = str
		case 4:
			w.To = str
		}
		return nil
	})
	return w, err
}

// toTag is the "to" field wgstun writes: the first 4 bytes of the
// receiver's public key in hex. crypto_box keys are symmetric (A→B and B→A
// share one key), so without it a store writer could copy B's own record
// for A into the slot B reads for A, and B would open it as A's. Records
// without the field (stunmesh-go) are accepted; records with a field that
// does not name the receiver are refused.
func toTag(receiverPub wgtypes.Key) string { return hex.EncodeToString(receiverPub[:4]) }

// MarshalPlaintext returns the compact JSON plaintext of e, as
// stunmesh-go would read it, without the "to" field Seal adds. It fails
// with ErrMalformed if e would not pass ParsePlaintext.
func MarshalPlaintext(e Endpoints) ([]byte, error) { return marshal(e, "") }

func marshal(e Endpoints, to string) ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	if !validNAT(e.NAT) {
		return nil, fmt.Errorf("%w: nat hint must be at most %d printable ASCII characters", ErrMalformed, MaxNATLen)
	}
	var w wire
	if e.IPv4.IsValid() {
		w.IPv4 = e.IPv4.String() // same text as net.JoinHostPort for an unzoned address
	}
	if e.IPv6.IsValid() {
		w.IPv6 = e.IPv6.String()
	}
	if !e.Time.IsZero() {
		ms := e.Time.UnixMilli()
		if ms <= 0 {
			return nil, fmt.Errorf("%w: time %v is not after the unix epoch", ErrMalformed, e.Time)
		}
		w.TSMs = &ms
	}
	w.NAT = e.NAT
	w.To = to
	if e.Checks {
		if len(e.Candidates) > MaxCandidates {
			return nil, fmt.Errorf("%w: %d candidates, limit %d", ErrMalformed, len(e.Candidates), MaxCandidates)
		}
		w.HasCand, w.Cand = true, []string{}
		for _, c := range e.Candidates {
			if _, ok := parseCandidate(c.String()); !ok {
				return nil, fmt.Errorf("%w: candidate %q is not usable", ErrMalformed, c.String())
			}
			w.Cand = append(w.Cand, c.String())
		}
	}
	return w.appendJSON(nil), nil
}

// ParsePlaintext decodes and validates an opened record's plaintext. The
// plaintext must be a JSON object; ipv4 must hold an IPv4 address and a
// non-zero port, ipv6 an IPv6 one (no zone, not IPv4-mapped); at least one
// must be present; ts_ms, when present, must be a positive integer. Unknown
// fields are ignored, and so is a nat hint that is not valid (it is only a
// hint). A bare "ip:port" plaintext fails with ErrLegacy. The "to" field
// is checked by Open, not here.
func ParsePlaintext(pt []byte) (Endpoints, error) {
	e, _, err := parse(pt)
	return e, err
}

// parse is ParsePlaintext that also returns the "to" field.
func parse(pt []byte) (Endpoints, string, error) {
	trimmed := bytes.TrimSpace(pt)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if _, err := netip.ParseAddrPort(string(trimmed)); err == nil {
			return Endpoints{}, "", fmt.Errorf("%w: %w", ErrMalformed, ErrLegacy)
		}
		return Endpoints{}, "", fmt.Errorf("%w: plaintext is not a JSON object", ErrMalformed)
	}
	w, err := decodeWire(trimmed)
	if err != nil {
		return Endpoints{}, "", fmt.Errorf("%w: plaintext JSON: %v", ErrMalformed, err)
	}
	var e Endpoints
	if w.IPv4 != "" {
		if e.IPv4, err = netip.ParseAddrPort(w.IPv4); err != nil {
			return Endpoints{}, "", fmt.Errorf("%w: ipv4 %q: %v", ErrMalformed, w.IPv4, err)
		}
	}
	if w.IPv6 != "" {
		if e.IPv6, err = netip.ParseAddrPort(w.IPv6); err != nil {
			return Endpoints{}, "", fmt.Errorf("%w: ipv6 %q: %v", ErrMalformed, w.IPv6, err)
		}
	}
	if w.TSMs != nil {
		if *w.TSMs <= 0 {
			return Endpoints{}, "", fmt.Errorf("%w: ts_ms %d is not positive", ErrMalformed, *w.TSMs)
		}
		e.Time = time.UnixMilli(*w.TSMs)
	}
	if validNAT(w.NAT) {
		e.NAT = w.NAT
	}
	e.Checks = w.HasCand
	for _, c := range w.Cand {
		if cd, ok := parseCandidate(c); ok && len(e.Candidates) < MaxCandidates {
			e.Candidates = append(e.Candidates, cd)
		}
	}
	if err := e.validate(); err != nil {
		return Endpoints{}, "", err
	}
	return e, w.To, nil
}

// validate checks the address fields: each valid one is of its family,
// usable as a unicast endpoint, with a non-zero port; at least one is valid.
func (e Endpoints) validate() error {
	if !e.IPv4.IsValid() && !e.IPv6.IsValid() {
		return fmt.Errorf("%w: neither ipv4 nor ipv6 endpoint", ErrMalformed)
	}
	if e.IPv4.IsValid() {
		if !e.IPv4.Addr().Is4() {
			return fmt.Errorf("%w: ipv4 endpoint %v is not IPv4", ErrMalformed, e.IPv4)
		}
		if err := checkEndpoint(e.IPv4); err != nil {
			return fmt.Errorf("%w: ipv4 endpoint %v: %s", ErrMalformed, e.IPv4, err)
		}
	}
	if e.IPv6.IsValid() {
		a := e.IPv6.Addr()
		if !a.Is6() || a.Is4In6() {
			return fmt.Errorf("%w: ipv6 endpoint %v is not IPv6", ErrMalformed, e.IPv6)
		}
		if a.Zone() != "" {
			return fmt.Errorf("%w: ipv6 endpoint %v has a zone", ErrMalformed, e.IPv6)
		}
		if err := checkEndpoint(e.IPv6); err != nil {
			return fmt.Errorf("%w: ipv6 endpoint %v: %s", ErrMalformed, e.IPv6, err)
		}
	}
	return nil
}

func checkEndpoint(ap netip.AddrPort) error {
	switch a := ap.Addr(); {
	case ap.Port() == 0:
		return errors.New("port 0")
	case a.IsUnspecified():
		return errors.New("unspecified address")
	case a.IsMulticast():
		return errors.New("multicast address")
	}
	return nil
}

func validNAT(s string) bool {
	if s == "" {
		return true
	}
	if len(s) > MaxNATLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
