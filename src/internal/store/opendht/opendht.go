// Package opendht keeps records on the OpenDHT distributed hash table
// through the REST API of OpenDHT HTTP proxies (dhtnode --proxyserver),
// in stunmesh-go's format so both tools read each other's records
// (shared/spec/stunmesh-compat.md):
//
//	POST <endpoint>/key/<store key>   {"data":"<base64 of {"magic":"stunmesh-v1","ts":<unix s>,"data":"<hex>"}>"}
//	GET  <endpoint>/key/<store key>   one JSON value per line, each with base64 "data"
//
// The 40-hex store key is the value's InfoHash. A get drops lines that do
// not decode or carry another magic and returns the newest (highest ts).
// A value lives about ten minutes on the DHT, so the store puts the last
// value of every key again every Republish (4 minutes) from a goroutine of
// its own, until Close or until the value was not set again for
// MaxKeep.
package opendht

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/jsonwire"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/store"
	"github.com/wgstun/wgstun/src/internal/store/storehttp"
)

// Magic marks stunmesh records among whatever else is stored at a key.
const Magic = "stunmesh-v1"

const (
	// DefaultRepublish is how often a kept value is put again; OpenDHT
	// drops a value ten minutes after its last put.
	DefaultRepublish = 4 * time.Minute
	// retryFailed is how soon a republish that failed is tried again.
	retryFailed = time.Minute
	// MaxKeep is how long after its last Set a value is still republished:
	// longer than the longest refresh, so a running daemon's values never
	// lapse, while a store the daemon dropped (a reload) stops by itself.
	MaxKeep = config.MaxRefresh + time.Hour
	// maxBody is how much of a get's answer is read; lines past it are
	// ignored.
	maxBody = 1 << 20
	// MaxValue bounds a value (hex digits); records are a few hundred.
	MaxValue = 8 << 10
)

var (
	// ErrClosed: Set after Close.
	ErrClosed = errors.New("opendht: store closed")
	// ErrProxy: a proxy answered with an error or something unreadable.
	ErrProxy = errors.New("opendht: proxy error")
)

// Store is a store on OpenDHT. It is safe for concurrent use.
type Store struct {
	endpoints []string
	timeout   time.Duration
	log       *logfmt.Logger

	// Client sends the requests; New sets a client of its own.
	Client *http.Client
	// Now stamps values (ts) and schedules republishing.
	Now func() time.Time
	// Republish is the interval between puts of a kept value. Change it
	// before the first Set.
	Republish time.Duration

	mu      sync.Mutex
	first   int // endpoint tried first: the last that answered
	kept    map[string]*kept
	running bool          // the republish goroutine runs
	wake    chan struct{} // tells it that kept changed
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// kept is the last value set under a key.
type kept struct {
	body    []byte    // the POST body, republished unchanged (same ts)
	set     time.Time // when Set stored it
	next    time.Time // when to put it again
	failing bool      // the last republish failed (logged once)
}

var _ store.Store = (*Store)(nil)

// New returns the store configured by cfg (type opendht).
func New(cfg config.Store, log *logfmt.Logger) (*Store, error) {
	if cfg.Type != config.StoreOpenDHT {
		return nil, fmt.Errorf("opendht: store %s has type %q", cfg.Name, cfg.Type)
	}
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("opendht: store %s: no endpoints", cfg.Name)
	}
	if log == nil {
		log = logfmt.Discard()
	}
	eps := make([]string, len(cfg.Endpoints))
	for i, e := range cfg.Endpoints {
		eps[i] = strings.TrimSuffix(e, "/")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = config.DefaultNetworkTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Store{
		endpoints: eps, timeout: timeout, log: log,
		Client: storehttp.Client(), Now: time.Now, Republish: DefaultRepublish,
		kept: map[string]*kept{}, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
	}, nil
}

// String names the store for logs.
func (s *Store) String() string { return "opendht:" + s.endpoints[0] }

// Get returns the newest stunmesh value stored under key, or an error
// matching store.ErrNotFound. Endpoints are asked in turn, starting with
// the last that answered, until one has a value.
func (s *Store) Get(ctx context.Context, key string) (string, error) {
	vals, err := s.GetAll(ctx, key)
	if err != nil {
		return "", err
	}
	return vals[0], nil // All orders them as Newest chooses
}

// GetAll returns the stunmesh values at key, newest first by their
// unauthenticated ts (ties: greater value first), at most
// store.MaxValues; see store.Multi. Endpoints are tried as by Get.
func (s *Store) GetAll(ctx context.Context, key string) ([]string, error) {
	if err := store.CheckKey(key); err != nil {
		return nil, fmt.Errorf("opendht: get: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var values []string
	answered := false
	err := s.each(ctx, func(ctx context.Context, ep string) error {
		body, err := s.send(ctx, http.MethodGet, ep+"/key/"+key, nil)
		if err != nil {
			return err
		}
		answered = true
		if values = All(body); len(values) == 0 {
			return store.ErrNotFound // ask the next endpoint
		}
		return nil
	})
	switch {
	case err == nil:
		return values, nil
	case answered:
		return nil, fmt.Errorf("opendht: get %s: %w", key, store.ErrNotFound)
	}
	return nil, fmt.Errorf("opendht: get %s: %w", key, err)
}

// All reads a proxy's get answer as Newest does and returns every distinct
// stunmesh value, ordered as Newest would choose them, at most
// store.MaxValues.
func All(body []byte) []string {
	type tv struct {
		v  string
		ts int64
	}
	var all []tv
	eachValue(body, func(v string, t int64) { all = append(all, tv{v, t}) })
	sort.Slice(all, func(i, j int) bool { return all[i].ts > all[j].ts || all[i].ts == all[j].ts && all[i].v > all[j].v })
	var out []string
	for _, x := range all {
		if !slices.Contains(out, x.v) && len(out) < store.MaxValues {
			out = append(out, x.v)
		}
	}
	return out
}

// Set puts value under key with the current time as ts, and keeps it to
// put again every Republish. The value is kept even when the put fails,
// so the republisher retries it.
func (s *Store) Set(ctx context.Context, key, value string) error {
	if err := store.CheckKey(key); err != nil {
		return fmt.Errorf("opendht: set: %w", err)
	}
	if !store.IsHex(value) || len(value) > MaxValue {
		return fmt.Errorf("opendht: set %s: %w: want 1 to %d hex digits", key, store.ErrInvalidValue, MaxValue)
	}
	now := s.Now()
	body := PutBody(value, now.Unix())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("opendht: set %s: %w", key, ErrClosed)
	}
	s.kept[key] = &kept{body: body, set: now, next: now.Add(s.interval())}
	if !s.running {
		s.running = true
		s.wg.Add(1)
		go s.loop()
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.put(ctx, key, body); err != nil {
		return fmt.Errorf("opendht: set %s: %w", key, err)
	}
	return nil
}

// Close stops republishing and waits for the republisher to end. Values
// already put stay on the DHT until they expire.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Store) interval() time.Duration {
	if s.Republish > 0 {
		return s.Republish
	}
	return DefaultRepublish
}

func (s *Store) put(ctx context.Context, key string, body []byte) error {
	return s.each(ctx, func(ctx context.Context, ep string) error {
		_, err := s.send(ctx, http.MethodPost, ep+"/key/"+key, body)
		return err
	})
}

// each calls fn with each endpoint in turn, starting with the last that
// answered, until fn returns nil. Each endpoint gets an equal share of
// what is left of ctx's time. It returns nil, or the errors of all.
func (s *Store) each(ctx context.Context, fn func(ctx context.Context, ep string) error) error {
	s.mu.Lock()
	first := s.first
	s.mu.Unlock()
	n := len(s.endpoints)
	var errs []error
	for i := 0; i < n; i++ {
		idx := (first + i) % n
		actx, cancel := ctx, context.CancelFunc(func() {})
		if d, ok := ctx.Deadline(); ok {
			actx, cancel = context.WithTimeout(ctx, time.Until(d)/time.Duration(n-i))
		}
		err := fn(actx, s.endpoints[idx])
		cancel()
		if err == nil {
			s.mu.Lock()
			changed := s.first != idx
			s.first = idx
			s.mu.Unlock()
			if changed {
				s.log.Info("OpenDHT proxy now used first", "endpoint", s.endpoints[idx])
			}
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, fmt.Errorf("%s: %w", s.endpoints[idx], err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return store.ErrNotFound
	}
	return errors.Join(errs...)
}

// send makes one request; an answer other than 200 is an error.
func (s *Store) send(ctx context.Context, method, u string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "wgstun")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: HTTP %d%s", ErrProxy, method, resp.StatusCode, proxyError(b))
	}
	if err != nil && method == http.MethodGet && len(b) > 0 {
		// A get answer is streamed line by line: use the lines that came.
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", method, err)
	}
	return b, nil
}

// proxyError is ": " and the proxy's {"err":"..."} message, if any.
func proxyError(b []byte) string {
	v, err := jsonwire.Parse(b)
	if err != nil || v.Kind() != jsonwire.Object {
		return ""
	}
	var msg string
	_ = v.Members([]string{"err"}, func(_ int, m jsonwire.Value) error {
		msg, _ = m.Str()
		return nil
	})
	if msg == "" {
		return ""
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return ": " + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
}

// loop republishes kept values until Close, or until none is left.
func (s *Store) loop() {
	defer s.wg.Done()
	for {
		wait, ok := s.republishDue(s.ctx)
		if !ok {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// republishDue puts every kept value that is due, forgets those not set
// for MaxKeep, and returns how long until the next is due; ok is false
// (and the loop is marked stopped) when nothing is kept or the store is
// closed.
func (s *Store) republishDue(ctx context.Context) (wait time.Duration, ok bool) {
	now := s.Now()
	type job struct {
		key  string
		k    *kept
		body []byte
	}
	var due []job
	s.mu.Lock()
	for key, k := range s.kept {
		switch {
		case now.Sub(k.set) > MaxKeep:
			delete(s.kept, key)
		case !now.Before(k.next):
			due = append(due, job{key, k, k.body})
		}
	}
	s.mu.Unlock()
	for _, j := range due {
		if ctx.Err() != nil {
			break
		}
		pctx, cancel := context.WithTimeout(ctx, s.timeout)
		err := s.put(pctx, j.key, j.body)
		cancel()
		next := s.Now()
		s.mu.Lock()
		if s.kept[j.key] == j.k { // not replaced by a Set meanwhile
			if err != nil {
				j.k.next = next.Add(min(retryFailed, s.interval()))
			} else {
				j.k.next = next.Add(s.interval())
			}
			switch {
			case err != nil && !j.k.failing && ctx.Err() == nil:
				s.log.Warn("OpenDHT republish failed; retrying", "key", j.key, "in", min(retryFailed, s.interval()), "err", err)
			case err == nil && j.k.failing:
				s.log.Info("OpenDHT republish works again", "key", j.key)
			}
			j.k.failing = err != nil
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.kept) == 0 {
		s.running = false
		return 0, false
	}
	now = s.Now()
	first := true
	for _, k := range s.kept {
		if d := k.next.Sub(now); first || d < wait {
			wait, first = d, false
		}
	}
	return max(wait, 0), true
}

// PutBody is the POST body that stores value with timestamp ts:
// {"data": base64 of {"magic":"stunmesh-v1","ts":ts,"data":value}}.
func PutBody(value string, ts int64) []byte {
	w := jsonwire.NewWriter(nil, "")
	w.BeginObject()
	w.Key("magic")
	w.String(Magic)
	w.Key("ts")
	w.Int(ts)
	w.Key("data")
	w.String(value)
	w.EndObject()
	out := jsonwire.NewWriter(nil, "")
	out.BeginObject()
	out.Key("data")
	out.String(base64.StdEncoding.EncodeToString(w.Bytes()))
	out.EndObject()
	return out.Bytes()
}

// Newest reads a proxy's get answer (one JSON value per line) and returns
// the stunmesh value with the highest ts; ties go to the greater value so
// the answer does not depend on line order. Lines that are not JSON
// objects, whose data is not base64 of a JSON object with magic
// "stunmesh-v1", an integer ts and a hex data string, are skipped, as is
// a last line cut short.
func Newest(body []byte) (value string, ts int64, ok bool) {
	eachValue(body, func(v string, t int64) {
		if !ok || t > ts || t == ts && v > value {
			value, ts, ok = v, t, true
		}
	})
	return value, ts, ok
}

// eachValue calls f with every stunmesh value of a get answer and its ts,
// in line order; lines that are not such values are skipped.
func eachValue(body []byte, f func(v string, ts int64)) {
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if v, t, ok := parseLine(line); ok {
			f(v, t)
		}
	}
}

func parseLine(line []byte) (string, int64, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return "", 0, false
	}
	outer, err := jsonwire.Parse(line)
	if err != nil || outer.Kind() != jsonwire.Object {
		return "", 0, false
	}
	var b64 string
	var hasData bool
	_ = outer.Members([]string{"data"}, func(_ int, m jsonwire.Value) error {
		b64, err = m.Str()
		hasData = err == nil
		return nil
	})
	if !hasData {
		return "", 0, false
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", 0, false
	}
	inner, err := jsonwire.Parse(raw)
	if err != nil || inner.Kind() != jsonwire.Object {
		return "", 0, false
	}
	var magic, data string
	var ts int64
	var haveTS bool
	bad := inner.Members([]string{"magic", "ts", "data"}, func(i int, m jsonwire.Value) error {
		var err error
		switch i {
		case 0:
			magic, err = m.Str()
		case 1:
			ts, err = m.Int()
			haveTS = err == nil
		case 2:
			data, err = m.Str()
		}
		return err
	})
	if bad != nil || magic != Magic || !haveTS || !store.IsHex(data) || len(data) > MaxValue {
		return "", 0, false
	}
	return data, ts, true
}
