// Package cloudflare keeps records as TXT records of a zone on Cloudflare
// DNS, through the v4 API, laid out as stunmesh-go lays them out so that
// both tools read each other's records (shared/spec/stunmesh-compat.md):
// the record for store key K is TXT at K.<subdomain>.<zone> (or K.<zone>)
// and its content is the hex value.
//
// It uses this subset of the API, with the header
// "Authorization: Bearer <token>":
//
//	GET   /zones?name=<zone>                            zone id (first result; cached)
//	GET   /zones/{zone}/dns_records?type=TXT&name=<fqdn> the record (first result)
//	POST  /zones/{zone}/dns_records                      {"type":"TXT","name":...,"content":...,"ttl":...}
//	PATCH /zones/{zone}/dns_records/{id}                 {"content":...}
//
// and reads from every response the envelope's success, errors[].code,
// errors[].message and result (id, name, content of records; id of zones).
package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/store"
	"github.com/wgstun/wgstun/src/internal/store/storehttp"
)

// Errors of the API; check them with errors.Is.
var (
	// ErrTokenRejected: Cloudflare answered 401 or 403 (a wrong or revoked
	// token, or one without DNS edit permission on the zone).
	ErrTokenRejected = errors.New("cloudflare: API token rejected")
	// ErrZoneNotFound: no zone of that name is visible to the token.
	ErrZoneNotFound = errors.New("cloudflare: zone not found")
	// ErrRateLimited: Cloudflare answered 429 and asked to wait longer than
	// the call had left.
	ErrRateLimited = errors.New("cloudflare: rate limited")
	// ErrAPI: any other failure reported by the API or a response that is
	// not the API's JSON.
	ErrAPI = errors.New("cloudflare: API error")
)

// Limits.
const (
	// maxBody is how much of a response is read; the answers used here
	// are a few kilobytes.
	maxBody = 256 << 10
	// MaxContent is the longest TXT content Cloudflare accepts.
	MaxContent = 2048
	// maxAttempts bounds the requests of one operation (retries after 429,
	// 5xx and network errors), besides its timeout.
	maxAttempts = 8
	// firstBackoff doubles after each retry up to maxBackoff.
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = 4 * time.Second
)

// Store is a store on Cloudflare DNS. It is safe for concurrent use.
type Store struct {
	api     string // base URL without trailing slash
	zone    string // zone name, no trailing dot
	suffix  string // "." + subdomain + "." + zone, or "." + zone
	token   string
	ttl     int // seconds; 1 is Cloudflare's "automatic"
	timeout time.Duration
	log     *logfmt.Logger

	// Client sends the requests; New sets a client of its own. Tests may
	// replace it (or its Transport).
	Client *http.Client
	// Now is the clock used for Retry-After dates and for what is left of
	// a call's time; Sleep waits between attempts and returns early with
	// ctx's error. Tests replace both.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu       sync.Mutex
	zoneID   string // cached
	rejected bool   // the token rejection has been logged
}

var _ store.Store = (*Store)(nil)

// New returns the store configured by cfg (type cloudflare), with its
// token read from cfg's token file or environment variable now. The token
// appears in no error and no log line.
func New(cfg config.Store, log *logfmt.Logger) (*Store, error) {
	if cfg.Type != config.StoreCloudflare {
		return nil, fmt.Errorf("cloudflare: store %s has type %q", cfg.Name, cfg.Type)
	}
	if cfg.Zone == "" {
		return nil, fmt.Errorf("cloudflare: store %s: no zone", cfg.Name)
	}
	token, err := cfg.Secret()
	if err != nil {
		return nil, fmt.Errorf("cloudflare: %w", err)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return nil, fmt.Errorf("cloudflare: store %s: the API token contains white space", cfg.Name)
	}
	if log == nil {
		log = logfmt.Discard()
	}
	api := strings.TrimSuffix(cfg.API, "/")
	if api == "" {
		api = config.DefaultCloudflareAPI
	}
	zone := strings.ToLower(strings.TrimSuffix(cfg.Zone, "."))
	suffix := "." + zone
	if sub := strings.ToLower(strings.Trim(cfg.Subdomain, ".")); sub != "" {
		suffix = "." + sub + suffix
	}
	ttl := 1
	if cfg.TTL > 0 {
		ttl = int(cfg.TTL / time.Second)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = config.DefaultNetworkTimeout
	}
	return &Store{
		api: api, zone: zone, suffix: suffix, token: token, ttl: ttl, timeout: timeout, log: log,
		Client: storehttp.Client(),
		Now:    time.Now,
		Sleep:  sleep,
	}, nil
}

// String names the store for logs.
func (s *Store) String() string { return "cloudflare:" + s.zone }

// Name returns the record name (FQDN without trailing dot) of key.
func (s *Store) Name(key string) string { return key + s.suffix }

// Get returns the content of the TXT record of key, or an error matching
// store.ErrNotFound when there is none.
func (s *Store) Get(ctx context.Context, key string) (string, error) {
	if err := store.CheckKey(key); err != nil {
		return "", fmt.Errorf("cloudflare: get: %w", err)
	}
	c := s.newCall(ctx)
	defer c.cancel()
	name := s.Name(key)
	rec, found, err := s.lookup(c, name)
	if err != nil {
		return "", fmt.Errorf("cloudflare: get %s: %w", name, err)
	}
	if !found || rec.value() == "" {
		return "", fmt.Errorf("cloudflare: get %s: %w", name, store.ErrNotFound)
	}
	return rec.value(), nil
}

// Set writes value as the content of key's TXT record: nothing when it
// already holds value, a PATCH of the record when it holds another, a POST
// creating it otherwise.
func (s *Store) Set(ctx context.Context, key, value string) error {
	if err := store.CheckKey(key); err != nil {
		return fmt.Errorf("cloudflare: set: %w", err)
	}
	if !store.IsHex(value) || len(value) > MaxContent {
		return fmt.Errorf("cloudflare: set %s: %w: want 1 to %d hex digits", key, store.ErrInvalidValue, MaxContent)
	}
	c := s.newCall(ctx)
	defer c.cancel()
	name := s.Name(key)
	rec, found, err := s.lookup(c, name)
	if err != nil {
		return fmt.Errorf("cloudflare: set %s: %w", name, err)
	}
	switch {
	case found && rec.value() == value:
		s.log.Debug("cloudflare record unchanged", "name", name)
		return nil
	case found:
		err = s.withZone(c, func(zid string) error {
			_, err := s.do(c, http.MethodPatch, "/zones/"+zid+"/dns_records/"+rec.id, "", patchBody(value))
			return err
		})
	default:
		err = s.withZone(c, func(zid string) error {
			_, err := s.do(c, http.MethodPost, "/zones/"+zid+"/dns_records", "", postBody(name, value, s.ttl))
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("cloudflare: set %s: %w", name, err)
	}
	return nil
}

// lookup finds the first TXT record named name.
func (s *Store) lookup(c *call, name string) (record, bool, error) {
	var rec record
	var found bool
	err := s.withZone(c, func(zid string) error {
		env, err := s.do(c, http.MethodGet, "/zones/"+zid+"/dns_records", "type=TXT&name="+queryEscape(name), nil)
		if err != nil {
			return err
		}
		rec, found, err = firstRecord(env.result)
		return err
	})
	return rec, found, err
}

// withZone runs fn with the zone's id, looking it up when not cached. When
// fn finds a cached id gone (the zone was deleted or re-added), the id is
// looked up again and fn runs once more.
func (s *Store) withZone(c *call, fn func(zid string) error) error {
	s.mu.Lock()
	zid := s.zoneID
	s.mu.Unlock()
	cached := zid != ""
	for {
		if zid == "" {
			var err error
			if zid, err = s.lookupZone(c); err != nil {
				return err
			}
		}
		err := fn(zid)
		if !errors.Is(err, errGone) {
			return err
		}
		s.mu.Lock()
		if s.zoneID == zid {
			s.zoneID = ""
		}
		s.mu.Unlock()
		if !cached {
			return fmt.Errorf("%w: %s (zone id %s: %w)", ErrZoneNotFound, s.zone, zid, err)
		}
		cached, zid = false, ""
	}
}

func (s *Store) lookupZone(c *call) (string, error) {
	env, err := s.do(c, http.MethodGet, "/zones", "name="+queryEscape(s.zone), nil)
	if err != nil {
		return "", fmt.Errorf("zone %s: %w", s.zone, err)
	}
	zid, ok, err := firstID(env.result)
	if err != nil {
		return "", fmt.Errorf("zone %s: %w", s.zone, err)
	}
	if !ok {
		return "", fmt.Errorf("%w: %s (or the token may not read it)", ErrZoneNotFound, s.zone)
	}
	s.mu.Lock()
	s.zoneID = zid
	s.mu.Unlock()
	return zid, nil
}

// call is one Get or Set: its context and its time budget.
type call struct {
	ctx    context.Context
	cancel context.CancelFunc
	parent context.Context
	end    time.Time // by s.Now
}

func (s *Store) newCall(ctx context.Context) *call {
	c := &call{parent: ctx, end: s.Now().Add(s.timeout)}
	c.ctx, c.cancel = context.WithTimeout(ctx, s.timeout)
	return c
}

// left is how much of the call's time remains.
func (s *Store) left(c *call) time.Duration {
	left := c.end.Sub(s.Now())
	if d, ok := c.parent.Deadline(); ok {
		left = min(left, time.Until(d))
	}
	return left
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
