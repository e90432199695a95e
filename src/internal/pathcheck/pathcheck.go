// Package pathcheck holds what path checks between two wgstun peers
// agree on, beside the STUN messages themselves (stun.AppendCheckRequest):
// the per-pair key, the USERNAME that names the sender and binds a check
// to the receiver's current records, the receiver's replay filter, and the
// per-source answer limit that keeps wgstun from being a reflector.
//
// A path check is a STUN Binding request from one peer's WireGuard port to
// a candidate address of the other's, authenticated with
// MESSAGE-INTEGRITY-SHA256 under a key derived from the two WireGuard keys
// (X25519, then HKDF-SHA256 with a fixed label, so the raw shared secret
// is never a MAC key). The receiver answers with a Binding success
// response from its WireGuard port, authenticated the same way; an answer
// proves the path works both ways, for UDP on WireGuard's port.
package pathcheck

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/curve25519"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// label is HKDF's info: it ties the key to this use and version.
const label = "wgstun path check v1"

// ErrWeakKey is returned by Key for a peer key whose shared secret is all
// zeros (a point of small order).
var ErrWeakKey = errors.New("pathcheck: peer public key gives an all-zero shared secret")

// Key returns the check key of the pair (priv's owner, peer): the same on
// both sides.
func Key(priv, peer wgtypes.Key) ([]byte, error) {
	shared, err := curve25519.X25519(priv[:], peer[:])
	if err != nil {
		return nil, ErrWeakKey
	}
	return hkdf.Key(sha256.New, shared, nil, label, 32)
}

// Tag is the part of a public key a USERNAME names its sender by: the
// first 4 bytes in hex, as a record's "to" field names its receiver.
func Tag(k wgtypes.Key) string { return hex.EncodeToString(k[:4]) }

// Username is what a check's USERNAME carries: "wgs1 TAG EPOCH SEQ".
// TAG names the sender (Tag). EPOCH is the sealed time, in unix
// milliseconds, of the receiver's record the sender last read: the
// receiver refuses checks naming a record older than its own start, so a
// check recorded before the receiver restarted is never answered. SEQ
// increases with every check the sender sends (Seq) and feeds the
// receiver's replay filter.
type Username struct {
	Tag   string
	Epoch int64
	Seq   int64
}

func (u Username) String() string {
	return "wgs1 " + u.Tag + " " + strconv.FormatInt(u.Epoch, 10) + " " + strconv.FormatInt(u.Seq, 10)
}

// ParseUsername reads a USERNAME written by Username.String.
func ParseUsername(s string) (Username, bool) {
	f := strings.Split(s, " ")
	if len(f) != 4 || f[0] != "wgs1" || len(f[1]) != 8 {
		return Username{}, false
	}
	if _, err := hex.DecodeString(f[1]); err != nil || strings.ToLower(f[1]) != f[1] {
		return Username{}, false
	}
	epoch, err1 := strconv.ParseInt(f[2], 10, 64)
	seq, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || epoch <= 0 || seq <= 0 {
		return Username{}, false
	}
	return Username{Tag: f[1], Epoch: epoch, Seq: seq}, true
}

// Seq hands out increasing sequence numbers: microseconds since the unix
// epoch at the process's start plus the monotonic time since, never
// repeating, so a restarted sender (whose clock moved on) starts above
// where it left off.
type Seq struct {
	mu    sync.Mutex
	start time.Time
	last  int64
}

// Next returns the next sequence number.
func (s *Seq) Next() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.start.IsZero() {
		s.start = time.Now()
	}
	n := s.start.UnixMicro() + int64(time.Since(s.start)/time.Microsecond)
	s.last = max(n, s.last+1)
	return s.last
}

// replayWindow is how far below the highest sequence number seen a check
// may still come (retransmissions and checks to several candidates
// cross); replayKeep how many recent numbers are remembered within it.
const (
	replayWindow = int64(30 * time.Second / time.Microsecond)
	replayKeep   = 64
)

// Replay refuses a sequence number it has seen, or one too old to tell:
// below the highest seen minus a 30 s window, or below the oldest number
// it had to forget. The zero Replay accepts anything once.
type Replay struct {
	highest, floor int64
	seen           [replayKeep]int64
	next           int // ring position
}

// Accept reports whether seq is new, and remembers it if so.
func (r *Replay) Accept(seq int64) bool {
	if seq <= r.floor || seq <= r.highest-replayWindow {
		return false
	}
	for _, s := range r.seen {
		if s == seq {
			return false
		}
	}
	if old := r.seen[r.next]; old > r.floor {
		r.floor = old // forgotten from now on: refuse it and everything older
	}
	r.seen[r.next] = seq
	r.next = (r.next + 1) % replayKeep
	r.highest = max(r.highest, seq)
	return true
}

// Limiter bounds the answers sent to each source address: a token bucket
// of Burst answers refilled at Rate per second, for at most MaxSources
// addresses (the longest idle is forgotten to make room), and Global
// answers per second in all. The zero value is unusable; use NewLimiter.
type Limiter struct {
	Rate, Burst, Global float64
	MaxSources          int

	buckets map[netip.Addr]*bucket
	global  bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns the limiter the daemon uses: 10 answers a second to
// one address, bursts of 20, 200 a second in all, 256 addresses.
func NewLimiter() *Limiter {
	return &Limiter{Rate: 10, Burst: 20, Global: 200, MaxSources: 256, buckets: map[netip.Addr]*bucket{}}
}

// Allow reports whether an answer to src may go now, and takes a token if
// so.
func (l *Limiter) Allow(src netip.Addr, now time.Time) bool {
	if !l.global.take(now, l.Global, l.Global) {
		return false
	}
	b := l.buckets[src]
	if b == nil {
		if len(l.buckets) >= l.MaxSources {
			var oldest netip.Addr
			var at time.Time
			for a, o := range l.buckets {
				if at.IsZero() || o.at.Before(at) {
					oldest, at = a, o.at
				}
			}
			delete(l.buckets, oldest)
		}
		b = &bucket{tokens: l.Burst, at: now}
		l.buckets[src] = b
	}
	return b.take(now, l.Rate, l.Burst)
}

func (b *bucket) take(now time.Time, rate, burst float64) bool {
	if b.at.IsZero() {
		b.tokens = burst
	} else if d := now.Sub(b.at); d > 0 {
		b.tokens = min(burst, b.tokens+d.Seconds()*rate)
	}
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
