// Package rfc2136 is a store in DNS: each value is one TXT record at
// <record_name>.<zone>, written with DNS UPDATE (RFC 2136) and read with a
// TXT query, both signed with TSIG (RFC 8945) and sent to one server, the
// zone's primary.
//
// A value longer than 255 bytes is cut into several character-strings of
// one TXT record and joined on reading. Set replaces the TXT RRset at the
// name (delete it, add the one record, in one UPDATE), so the name holds
// exactly one TXT record afterwards.
//
// Queries are signed too: a server that restricts queries to the key (BIND
// allow-query { key ...; }) can keep the zone hidden, and every reply this
// store acts on carries a MAC over our request's MAC, so a forged reply is
// refused: a reply that fails to verify is discarded while waiting on UDP
// and refused on TCP. Error replies are taken as they come: one with a
// TSIG error (BADKEY, BADSIG, BADTIME; RFC 8945 5.3.2 has the server send
// those with an empty MAC), and an unsigned one with an error rcode other
// than NXDOMAIN (a server that does not know TSIG, or refuses before
// looking at it). Such a reply can only make a call fail, which dropping
// the reply could too: a TSIG error fails the call whatever the rcode
// beside it (RFC 8945 5.3), and NOERROR and NXDOMAIN otherwise must be
// signed and verify.
//
// The daemon links this package only when built with -tags rfc2136.
package rfc2136

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/dnswire"
	"github.com/wgstun/wgstun/src/internal/egress"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/store"
)

var _ store.Store = (*Store)(nil)

var (
	// ErrTSIG: the server rejected our TSIG key (BADKEY, BADSIG, BADTIME,
	// BADTRUNC in the TSIG error field).
	ErrTSIG = errors.New("the server rejected our TSIG key")
	// ErrRefused: the server refused the update or query (REFUSED), usually
	// its ACL or update-policy.
	ErrRefused = errors.New("refused")
	// ErrNotZone: the server is not authoritative for the zone (NOTAUTH
	// without a TSIG error, NOTZONE).
	ErrNotZone = errors.New("not authoritative")
	// ErrServer: any other error rcode (SERVFAIL, FORMERR, NOTIMP ...).
	ErrServer = errors.New("server error")
	// ErrNoAnswer: no usable reply within the timeout, or the server's
	// port is closed.
	ErrNoAnswer = errors.New("no answer")
	// ErrBadReply: the reply is malformed or its TSIG does not verify.
	ErrBadReply = errors.New("bad reply")
	// ErrSeveralRecords: the name holds more than one TXT record, which
	// this store never writes; the peer's next Set replaces them all.
	ErrSeveralRecords = errors.New("more than one TXT record")
)

// MaxValue bounds a value's length: records are a few hundred bytes and
// one TXT record's data is at most 65535 bytes.
const MaxValue = 8192

// Store is an RFC 2136 store. It is safe for concurrent use.
type Store struct {
	name       string // the store's name in the configuration
	server     string // host:port
	zone       string // absolute, lower case
	recordName string // template with {key}
	key        *tsigKey
	ttl        uint32
	timeout    time.Duration
	log        *logfmt.Logger

	// now is the clock for TSIG time signed and for checking the reply's.
	now func() time.Time
	// dial opens the UDP or TCP connection to the server.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// retry is how long to wait for a UDP reply before sending again.
	retry time.Duration
}

// New returns the store configured by cfg (type rfc2136). It reads and
// decodes the TSIG secret now; errors name the store and where the secret
// comes from, never the secret. A nil log discards.
func New(cfg config.Store, log *logfmt.Logger) (*Store, error) {
	if cfg.Type != config.StoreRFC2136 {
		return nil, fmt.Errorf("store %s: type %q is not %s", cfg.Name, cfg.Type, config.StoreRFC2136)
	}
	secret, err := cfg.TSIGSecret()
	if err != nil {
		return nil, err
	}
	alg := cfg.TSIGAlgorithm
	if alg == "" {
		alg = config.DefaultTSIGAlgorithm
	}
	key, err := newKey(cfg.TSIGKey, alg, secret)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", cfg.Name, err)
	}
	s := &Store{
		name: cfg.Name, server: cfg.Server, zone: lowerFQDN(cfg.Zone), recordName: strings.ToLower(cfg.RecordName),
		key: key, ttl: uint32(cfg.TTL / time.Second), timeout: cfg.Timeout, log: log,
		now: time.Now, dial: egress.Dialer().DialContext, retry: time.Second,
	}
	if _, _, err := net.SplitHostPort(s.server); err != nil {
		s.server = net.JoinHostPort(strings.Trim(s.server, "[]"), "53")
	}
	if s.recordName == "" {
		s.recordName = config.DefaultRecordName
	}
	if strings.Count(s.recordName, "{key}") != 1 {
		return nil, fmt.Errorf("store %s: record name %q must contain {key} exactly once", cfg.Name, cfg.RecordName)
	}
	if s.ttl == 0 {
		s.ttl = uint32(config.DefaultDNSTTL / time.Second)
	}
	if s.timeout <= 0 {
		s.timeout = config.DefaultNetworkTimeout
	}
	if s.log == nil {
		s.log = logfmt.Discard()
	}
	if _, err := dnswire.AppendName(nil, s.fqdn(strings.Repeat("0", store.KeyLen))); err != nil {
		return nil, fmt.Errorf("store %s: record name: %w", cfg.Name, err)
	}
	return s, nil
}

// String names the store for logs.
func (s *Store) String() string {
	return fmt.Sprintf("rfc2136 store %s (zone %s at %s, key %s)", s.name, s.zone, s.server, strings.TrimSuffix(s.key.name, "."))
}

// fqdn is the absolute name of key's record.
func (s *Store) fqdn(key string) string {
	n := strings.Replace(s.recordName, "{key}", key, 1)
	if s.zone == "." {
		return n + "."
	}
	return n + "." + s.zone
}

// Get reads the TXT record at key's name and returns its strings joined.
// No such name, or no TXT record there, is store.ErrNotFound; more than
// one TXT record is ErrSeveralRecords.
func (s *Store) Get(ctx context.Context, key string) (string, error) {
	if err := store.CheckKey(key); err != nil {
		return "", fmt.Errorf("store %s: get: %w", s.name, err)
	}
	name := s.fqdn(key)
	v, err := s.get(ctx, name)
	if err != nil {
		return "", fmt.Errorf("store %s: get %s: %w", s.name, name, err)
	}
	return v, nil
}

func (s *Store) get(ctx context.Context, name string) (string, error) {
	q, err := buildQuery(newID(), name)
	if err != nil {
		return "", err
	}
	m, err := s.exchange(ctx, q)
	if err != nil {
		return "", err
	}
	switch m.rcode() {
	case dnswire.RcodeNoError:
	case dnswire.RcodeNXDomain:
		return "", store.ErrNotFound
	default:
		return "", s.rcodeError(m, "query", "for name "+name)
	}
	var vals []string
	for _, r := range m.answers {
		if r.Name != name || r.Type != dnswire.TypeTXT || r.Class != dnswire.ClassIN {
			continue
		}
		v, err := joinTXT(r.Data)
		if err != nil {
			return "", fmt.Errorf("%w from %s: %w", ErrBadReply, s.server, err)
		}
		vals = append(vals, v)
	}
	switch {
	case len(vals) > 1:
		return "", fmt.Errorf("%w: %d at the name (this store writes one; the next set replaces them)", ErrSeveralRecords, len(vals))
	case len(vals) == 0 || vals[0] == "":
		return "", store.ErrNotFound
	}
	return vals[0], nil
}

// Set replaces the TXT RRset at key's name with one record holding value,
// in one signed UPDATE of the zone.
func (s *Store) Set(ctx context.Context, key, value string) error {
	if err := store.CheckKey(key); err != nil {
		return fmt.Errorf("store %s: set: %w", s.name, err)
	}
	name := s.fqdn(key)
	if value == "" || len(value) > MaxValue {
		return fmt.Errorf("store %s: set %s: %w: %d bytes (want 1 to %d)", s.name, name, store.ErrInvalidValue, len(value), MaxValue)
	}
	u, err := buildUpdate(newID(), s.zone, name, s.ttl, value)
	if err != nil {
		return fmt.Errorf("store %s: set %s: %w", s.name, name, err)
	}
	m, err := s.exchange(ctx, u)
	if err == nil && m.rcode() != dnswire.RcodeNoError {
		err = s.rcodeError(m, "update", "for zone "+s.zone)
	}
	if err != nil {
		return fmt.Errorf("store %s: set %s: %w", s.name, name, err)
	}
	s.log.Debug("dns update done", "name", name, "server", s.server)
	return nil
}

// rcodeError explains an error reply to an update or query; what names the
// zone or name asked about.
func (s *Store) rcodeError(m *message, op, what string) error {
	if m.tsig != nil && m.tsig.err != 0 {
		extra := ""
		switch m.tsig.err {
		case dnswire.TSIGBadKey:
			extra = " (the server does not know a key of this name and algorithm, or its ACL does not allow the key here: Knot answers so)"
		case dnswire.TSIGBadSig:
			extra = " (our secret is not the server's)"
		}
		if m.tsig.err == dnswire.TSIGBadTime && len(m.tsig.other) == 6 {
			st := int64(binary.BigEndian.Uint16(m.tsig.other))<<32 | int64(binary.BigEndian.Uint32(m.tsig.other[2:]))
			extra = fmt.Sprintf(" (the server's clock says %s, ours %s: set the clock, e.g. with NTP)",
				time.Unix(st, 0).UTC().Format(time.RFC3339), s.now().UTC().Format(time.RFC3339))
		}
		return fmt.Errorf("%w %s: %s%s", ErrTSIG, strings.TrimSuffix(s.key.name, "."), dnswire.RcodeName(m.tsig.err), extra)
	}
	rc := m.rcode()
	switch rc {
	case dnswire.RcodeRefused:
		if op == "update" {
			return fmt.Errorf("update %w by %s %s (check the zone's update ACL or update-policy for key %s)",
				ErrRefused, s.server, what, strings.TrimSuffix(s.key.name, "."))
		}
		return fmt.Errorf("query %w by %s %s (check the server's query ACL for key %s)",
			ErrRefused, s.server, what, strings.TrimSuffix(s.key.name, "."))
	case dnswire.RcodeNotAuth, dnswire.RcodeNotZone:
		return fmt.Errorf("%s is %w %s (%s): check server and zone", s.server, ErrNotZone, what, dnswire.RcodeName(rc))
	}
	return fmt.Errorf("%w: %s answered the %s %s with %s", ErrServer, s.server, op, what, dnswire.RcodeName(rc))
}

// newID returns a random message ID.
func newID() uint16 {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint16(b[:])
}

// buildQuery is an unsigned TXT query for name with an EDNS OPT record
// offering a 1232-byte UDP payload (a signed reply with a 400-byte value
// is over 512).
func buildQuery(id uint16, name string) ([]byte, error) {
	b := dnswire.AppendHeader(make([]byte, 0, 512), id, dnswire.OpQuery<<11, 1, 0, 0, 1)
	b, err := dnswire.AppendName(b, name)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, dnswire.TypeTXT)
	b = binary.BigEndian.AppendUint16(b, dnswire.ClassIN)
	return dnswire.AppendRR(b, []byte{0}, dnswire.TypeOPT, dnswire.EDNSSize, 0, nil), nil
}

// buildUpdate is an unsigned UPDATE of zone (RFC 2136 2.5): no
// prerequisites; delete the TXT RRset at name; add one TXT record holding
// value with the ttl.
func buildUpdate(id uint16, zone, name string, ttl uint32, value string) ([]byte, error) {
	b := dnswire.AppendHeader(make([]byte, 0, 512+len(value)), id, dnswire.OpUpdate<<11, 1, 0, 2, 0)
	b, err := dnswire.AppendName(b, zone)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, dnswire.TypeSOA)
	b = binary.BigEndian.AppendUint16(b, dnswire.ClassIN)
	owner, err := dnswire.AppendName(nil, name)
	if err != nil {
		return nil, err
	}
	b = dnswire.AppendRR(b, owner, dnswire.TypeTXT, dnswire.ClassANY, 0, nil) // delete an RRset (RFC 2136 2.5.2)
	return dnswire.AppendRR(b, owner, dnswire.TypeTXT, dnswire.ClassIN, ttl, txtRData(value)), nil
}
