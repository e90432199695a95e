package opendht

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/store"
)

const (
	key1   = "37b7dcf21e0e183a9a86170997df242a84a85ff7"
	key2   = "9c8d8e5a31c9802b093c4116dfb0a23a311b8029"
	value1 = "9f1c2e3d4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0011"
	value2 = "00aa11bb22cc33dd44ee55ff66778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aa"
)

// fakeProxy answers the two routes of the OpenDHT proxy REST API the store
// uses as dhtnode 2.x does: POST /key/{hash} takes a JSON value and
// answers it back with an id; GET /key/{hash} answers every stored value,
// one JSON object per line. It is used where a real dhtnode cannot run
// (no root, other systems) and for faults; dhtnode_linux_test.go runs
// the real one.
type fakeProxy struct {
	srv    *httptest.Server
	mu     sync.Mutex
	values map[string][]string
	posts  []string // bodies
	gets   int
	status int // when set, every request gets this status
}

func newFakeProxy(t *testing.T) *fakeProxy {
	p := &fakeProxy{values: map[string][]string{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.Method {
	case http.MethodPost:
		p.posts = append(p.posts, string(body))
	case http.MethodGet:
		p.gets++
	}
	if p.status != 0 {
		w.WriteHeader(p.status)
		io.WriteString(w, `{"err":"Put failed"}`)
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/key/")
	if !ok || len(key) != 40 {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodPost:
		var v map[string]any
		if json.Unmarshal(body, &v) != nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"err:":"Incorrect JSON"}`)
			return
		}
		v["id"] = fmt.Sprint(len(p.posts) * 7919)
		v["type"] = 0
		line, _ := json.Marshal(v)
		p.values[key] = append(p.values[key], string(line))
		w.Write(append(line, '\n'))
	case http.MethodGet:
		for _, l := range p.values[key] {
			io.WriteString(w, l+"\n")
		}
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (p *fakeProxy) counts() (posts, gets int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.posts), p.gets
}

func (p *fakeProxy) setStatus(s int) {
	p.mu.Lock()
	p.status = s
	p.mu.Unlock()
}

func newStore(t *testing.T, endpoints ...string) (*Store, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	s, err := New(config.Store{Name: "dht", Type: config.StoreOpenDHT, Endpoints: endpoints, Timeout: 2 * time.Second},
		logfmt.New(&syncWriter{w: &buf}, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &buf
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// line is one value as the proxy answers it, holding inner as its data.
func line(inner string) string {
	return `{"data":"` + base64.StdEncoding.EncodeToString([]byte(inner)) + `","id":"123","type":0}`
}

func TestPutBody(t *testing.T) {
	b := PutBody(value1, 1700000000)
	var outer map[string]any
	if err := json.Unmarshal(b, &outer); err != nil {
		t.Fatal(err)
	}
	if len(outer) != 1 {
		t.Errorf("outer object %s: want only data", b)
	}
	raw, err := base64.StdEncoding.DecodeString(outer["data"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"magic":"stunmesh-v1","ts":1700000000,"data":"` + value1 + `"}`; string(raw) != want {
		t.Errorf("inner %s\nwant  %s", raw, want)
	}
	if v, ts, ok := Newest(append(b, '\n')); !ok || v != value1 || ts != 1700000000 {
		t.Errorf("Newest(PutBody) = %q, %d, %v", v, ts, ok)
	}
}

func TestNewest(t *testing.T) {
	rec := func(ts int64, data string) string {
		return line(fmt.Sprintf(`{"magic":"stunmesh-v1","ts":%d,"data":"%s"}`, ts, data))
	}
	for _, tc := range []struct {
		name   string
		lines  []string
		want   string
		wantTS int64
		ok     bool
	}{
		{"empty", nil, "", 0, false},
		{"one", []string{rec(5, "aa")}, "aa", 5, true},
		{"highest ts wins", []string{rec(5, "aa"), rec(9, "bb"), rec(7, "cc")}, "bb", 9, true},
		{"tie goes to the greater value", []string{rec(9, "bb"), rec(9, "cc"), rec(9, "ab")}, "cc", 9, true},
		{"other magic dropped", []string{rec(5, "aa"), line(`{"magic":"other-v1","ts":99,"data":"ff"}`)}, "aa", 5, true},
		{"not base64 dropped", []string{rec(5, "aa"), `{"data":"!!!","id":"1"}`}, "aa", 5, true},
		{"not JSON inside dropped", []string{rec(5, "aa"), line(`hello`)}, "aa", 5, true},
		{"not JSON line dropped", []string{"garbage", rec(5, "aa")}, "aa", 5, true},
		{"float ts dropped", []string{rec(5, "aa"), line(`{"magic":"stunmesh-v1","ts":99.5,"data":"ff"}`)}, "aa", 5, true},
		{"string ts dropped", []string{rec(5, "aa"), line(`{"magic":"stunmesh-v1","ts":"99","data":"ff"}`)}, "aa", 5, true},
		{"no ts dropped", []string{rec(5, "aa"), line(`{"magic":"stunmesh-v1","data":"ff"}`)}, "aa", 5, true},
		{"non-hex data dropped", []string{rec(5, "aa"), rec(99, "zz")}, "aa", 5, true},
		{"empty data dropped", []string{rec(5, "aa"), rec(99, "")}, "aa", 5, true},
		{"unknown fields ignored", []string{line(`{"magic":"stunmesh-v1","ts":3,"data":"ab","x":[1]}`)}, "ab", 3, true},
		{"CRLF and blank lines", []string{rec(5, "aa") + "\r", "", "  "}, "aa", 5, true},
		{"expired listen flag ignored", []string{`{"data":"` + base64.StdEncoding.EncodeToString([]byte(`{"magic":"stunmesh-v1","ts":4,"data":"ab"}`)) + `","expired":true}`}, "ab", 4, true},
		{"only junk", []string{"{}", "[]", `{"data":5}`}, "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(strings.Join(tc.lines, "\n"))
			v, ts, ok := Newest(body)
			if v != tc.want || ts != tc.wantTS || ok != tc.ok {
				t.Errorf("Newest = %q, %d, %v; want %q, %d, %v", v, ts, ok, tc.want, tc.wantTS, tc.ok)
			}
		})
	}
	// A last line cut short (a get answer at the size limit) is skipped.
	full := rec(5, "aa") + "\n" + rec(9, "bb")
	if v, _, _ := Newest([]byte(full[:len(full)-3])); v != "aa" {
		t.Errorf("cut line: %q", v)
	}
}

func TestRoundTripFake(t *testing.T) {
	p := newFakeProxy(t)
	s, _ := newStore(t, p.srv.URL+"/")
	ctx := context.Background()
	if _, err := s.Get(ctx, key1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get before set: %v", err)
	}
	if err := s.Set(ctx, key1, value1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, key1); err != nil || got != value1 {
		t.Fatalf("get = %q, %v", got, err)
	}
	if _, err := s.Get(ctx, key2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other key: %v", err)
	}
	if p.posts[0] != string(PutBody(value1, s.Now().Unix())) && !strings.HasPrefix(p.posts[0], `{"data":"`) {
		t.Errorf("posted %s", p.posts[0])
	}
}

func TestBadInput(t *testing.T) {
	p := newFakeProxy(t)
	s, _ := newStore(t, p.srv.URL)
	ctx := context.Background()
	if _, err := s.Get(ctx, "37B7DCF21E0E183A9A86170997DF242A84A85FF7"); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("upper-case key: %v", err)
	}
	if err := s.Set(ctx, "../x", value1); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("path key: %v", err)
	}
	for _, v := range []string{"", "xy", strings.Repeat("a", MaxValue+1)} {
		if err := s.Set(ctx, key1, v); !errors.Is(err, store.ErrInvalidValue) {
			t.Errorf("set %.8q: %v", v, err)
		}
	}
	if posts, gets := p.counts(); posts+gets != 0 {
		t.Errorf("%d requests for bad input", posts+gets)
	}
}

func TestFailover(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // a closed port: connection refused
	broken := newFakeProxy(t)
	broken.setStatus(http.StatusBadGateway)
	live := newFakeProxy(t)
	s, log := newStore(t, deadURL, broken.srv.URL, live.srv.URL)
	ctx := context.Background()
	if err := s.Set(ctx, key1, value1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, key1); err != nil || got != value1 {
		t.Fatalf("get = %q, %v", got, err)
	}
	if p, _ := broken.counts(); p != 1 {
		t.Errorf("broken proxy got %d posts, want 1 (tried once, then the live one is remembered)", p)
	}
	if _, g := broken.counts(); g != 0 {
		t.Errorf("broken proxy got %d gets, want 0", g)
	}
	if !strings.Contains(log.String(), "now used first") {
		t.Errorf("switch not logged: %s", log)
	}
	// The remembered one fails: the others are tried from there on,
	// wrapping around; the error names every endpoint.
	live.setStatus(http.StatusServiceUnavailable)
	_, err := s.Get(ctx, key1)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("all failing: %v", err)
	}
	for _, ep := range []string{deadURL, broken.srv.URL, live.srv.URL, "Put failed", "HTTP 502", "HTTP 503"} {
		if !strings.Contains(err.Error(), ep) {
			t.Errorf("error %q does not mention %s", err, ep)
		}
	}
}

// An endpoint that answers but has nothing does not end the search: a
// proxy whose node is cut off from the DHT answers empty.
func TestEmptyAnswerAsksNext(t *testing.T) {
	empty, full := newFakeProxy(t), newFakeProxy(t)
	s, _ := newStore(t, empty.srv.URL, full.srv.URL)
	s2, _ := newStore(t, full.srv.URL)
	ctx := context.Background()
	if err := s2.Set(ctx, key1, value1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, key1); err != nil || got != value1 {
		t.Fatalf("get = %q, %v", got, err)
	}
	if _, err := s.Get(ctx, key2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("absent everywhere: %v", err)
	}
	// One endpoint down, the other answers empty: not found.
	empty.setStatus(http.StatusInternalServerError)
	if _, err := s.Get(ctx, key2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("down + empty: %v", err)
	}
}

// The republish schedule, driven by a clock that only moves when told.
func TestRepublishSchedule(t *testing.T) {
	p := newFakeProxy(t)
	s, log := newStore(t, p.srv.URL)
	now := time.Unix(1700000000, 0)
	s.Now = func() time.Time { return now }
	s.running = true // the test drives republishDue itself; no goroutine
	ctx := context.Background()
	if err := s.Set(ctx, key1, value1); err != nil {
		t.Fatal(err)
	}
	step := func(d time.Duration, wantPosts int, wantWait time.Duration) {
		t.Helper()
		now = now.Add(d)
		wait, ok := s.republishDue(ctx)
		if !ok || wait != wantWait {
			t.Errorf("at +%v: wait %v, %v; want %v", d, wait, ok, wantWait)
		}
		if n, _ := p.counts(); n != wantPosts {
			t.Errorf("at +%v: %d posts, want %d", d, n, wantPosts)
		}
	}
	step(time.Minute, 1, 3*time.Minute)
	step(3*time.Minute, 2, DefaultRepublish)
	if p.posts[1] != p.posts[0] {
		t.Errorf("republished %s, want the same body (same ts) %s", p.posts[1], p.posts[0])
	}
	// A failing proxy: retried after a minute, the failure logged once.
	p.setStatus(http.StatusBadGateway)
	step(DefaultRepublish, 3, retryFailed)
	step(retryFailed, 4, retryFailed)
	if n := strings.Count(log.String(), "republish failed"); n != 1 {
		t.Errorf("failure logged %d times:\n%s", n, log)
	}
	p.setStatus(0)
	step(retryFailed, 5, DefaultRepublish)
	if !strings.Contains(log.String(), "works again") {
		t.Errorf("recovery not logged:\n%s", log)
	}
	// A new Set replaces the kept value and its schedule.
	if err := s.Set(ctx, key1, value2); err != nil {
		t.Fatal(err)
	}
	step(0, 6, DefaultRepublish)
	// Not set again for MaxKeep: forgotten, and the loop would end.
	now = now.Add(MaxKeep + time.Second)
	if _, ok := s.republishDue(ctx); ok {
		t.Error("a value not set for MaxKeep is still kept")
	}
	if n, _ := p.counts(); n != 6 {
		t.Errorf("%d posts after expiry, want 6", n)
	}
}

// The goroutine republishes on its own with the real clock, and Close
// stops it.
func TestRepublishLoop(t *testing.T) {
	p := newFakeProxy(t)
	s, _ := newStore(t, p.srv.URL)
	s.Republish = 50 * time.Millisecond
	if err := s.Set(context.Background(), key1, value1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n, _ := p.counts(); n < 4; n, _ = p.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("only %d puts in 10s with a 50ms republish interval", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	n, _ := p.counts()
	time.Sleep(200 * time.Millisecond)
	if m, _ := p.counts(); m != n {
		t.Errorf("%d puts after Close", m-n)
	}
	if err := s.Set(context.Background(), key1, value1); !errors.Is(err, ErrClosed) {
		t.Errorf("set after close: %v", err)
	}
	got := slices.Compact(slices.Clone(p.posts))
	if len(got) != 1 {
		t.Errorf("republished bodies differ: %q", got)
	}
}

// FuzzNewest: any answer is read without panicking; the result is a valid
// value, does not depend on line order, and agrees with a reading of each
// line by encoding/json.
func FuzzNewest(f *testing.F) {
	f.Add([]byte(line(`{"magic":"stunmesh-v1","ts":5,"data":"aa"}`) + "\n" + line(`{"magic":"stunmesh-v1","ts":7,"data":"bb"}`)))
	f.Add([]byte("junk\n" + line(`{"magic":"x","ts":1,"data":"aa"}`)))
	f.Fuzz(func(t *testing.T, body []byte) {
		v, ts, ok := Newest(body)
		if ok && (!store.IsHex(v) || len(v) > MaxValue) {
			t.Fatalf("value %q", v)
		}
		lines := bytes.Split(body, []byte("\n"))
		slices.Reverse(lines)
		v2, ts2, ok2 := Newest(bytes.Join(lines, []byte("\n")))
		if v2 != v || ts2 != ts || ok2 != ok {
			t.Errorf("line order changes the answer: %q %d %v / %q %d %v", v, ts, ok, v2, ts2, ok2)
		}
		var rv string
		var rts int64
		var rok bool
		for _, l := range bytes.Split(body, []byte("\n")) {
			var outer struct{ Data *string }
			if json.Unmarshal(l, &outer) != nil || outer.Data == nil {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(*outer.Data)
			if err != nil {
				continue
			}
			var in struct {
				Magic *string
				TS    *int64
				Data  *string
			}
			if json.Unmarshal(raw, &in) != nil || in.Magic == nil || *in.Magic != Magic || in.TS == nil || in.Data == nil ||
				!store.IsHex(*in.Data) || len(*in.Data) > MaxValue {
				continue
			}
			if !rok || *in.TS > rts || *in.TS == rts && *in.Data > rv {
				rv, rts, rok = *in.Data, *in.TS, true
			}
		}
		if rv != v || rts != ts || rok != ok {
			t.Errorf("Newest = %q %d %v; encoding/json reading %q %d %v", v, ts, ok, rv, rts, rok)
		}
	})
}

// TestRedirectRefused: a proxy that redirects is a failed endpoint; the
// redirect is not followed.
func TestRedirectRefused(t *testing.T) {
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusFound)
	}))
	defer srv.Close()
	s, _ := newStore(t, srv.URL)
	if _, err := s.Get(context.Background(), key1); err == nil || !strings.Contains(err.Error(), "redirects are not followed") {
		t.Fatalf("Get = %v", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

// TestAll: every distinct value, ordered as Newest chooses (ts, then the
// greater value), junk dropped, at most store.MaxValues; GetAll asks a
// proxy for them.
func TestAll(t *testing.T) {
	rec := func(ts int64, data string) string {
		return line(fmt.Sprintf(`{"magic":"stunmesh-v1","ts":%d,"data":"%s"}`, ts, data))
	}
	body := strings.Join([]string{rec(5, "aa"), "junk", rec(9, "bb"), rec(9, "cc"), rec(7, "aa"), rec(99, "zz")}, "\n")
	if got := All([]byte(body)); !slices.Equal(got, []string{"cc", "bb", "aa"}) {
		t.Errorf("All = %q", got)
	}
	var many []string
	for i := range store.MaxValues + 5 {
		many = append(many, rec(int64(i), fmt.Sprintf("%04x", i)))
	}
	if got := All([]byte(strings.Join(many, "\n"))); len(got) != store.MaxValues || got[0] != fmt.Sprintf("%04x", store.MaxValues+4) {
		t.Errorf("All of %d = %d values, first %q", len(many), len(got), got)
	}

	p := newFakeProxy(t)
	s, _ := newStore(t, p.srv.URL)
	ctx := context.Background()
	if err := s.Set(ctx, key1, value1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAll(ctx, key1); err != nil || !slices.Equal(got, []string{value1}) {
		t.Fatalf("GetAll = %q, %v", got, err)
	}
	if _, err := s.GetAll(ctx, key2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetAll of an empty key = %v", err)
	}
}
