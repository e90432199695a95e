package cloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	token  = "cf-T0KEN-must-never-be-logged"
	zoneID = "023e105f4ecef8ad9ca31a8372d0c353"
	key1   = "37b7dcf21e0e183a9a86170997df242a84a85ff7"
	// value1 and value2 are shaped like sealed records (nonce, tag, text).
	value1 = "9f1c2e3d4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0011"
	value2 = "00aa11bb22cc33dd44ee55ff66778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aa"
)

// testStore is a store against f with a clock that does not move and a
// Sleep that records what it was asked to wait.
type testStore struct {
	*Store
	log    *bytes.Buffer
	mu     sync.Mutex
	sleeps []time.Duration
}

func newTestStore(t *testing.T, f *fakeCF, mod func(*config.Store)) *testStore {
	t.Helper()
	t.Setenv("WGSTUN_TEST_CF_TOKEN", token)
	cfg := config.Store{Name: "cf", Type: config.StoreCloudflare, Zone: "example.com", Subdomain: "wgstun",
		TokenEnv: "WGSTUN_TEST_CF_TOKEN", API: f.api(), Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	var buf bytes.Buffer
	lv := new(logfmt.LevelVar)
	lv.Set(logfmt.LevelDebug)
	s, err := New(cfg, logfmt.New(&lockedWriter{w: &buf}, lv))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testStore{Store: s, log: &buf}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	s.Sleep = func(ctx context.Context, d time.Duration) error {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.sleeps = append(ts.sleeps, d)
		return ctx.Err()
	}
	t.Cleanup(func() {
		if strings.Contains(buf.String(), token) {
			t.Errorf("the token is in the log:\n%s", buf.String())
		}
	})
	return ts
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// noToken fails the test when err's text carries the token.
func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), token) {
		t.Errorf("the token is in an error: %v", err)
	}
}

func zones() map[string]string {
	return map[string]string{"example.com": zoneID, "other.org": "99999999999999999999999999999999"}
}

// want is one expected request.
type want struct {
	method, path string
	query        url.Values
	body         string // JSON, compared as values; "" = no body
}

func checkRequests(t *testing.T, got []seenReq, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Errorf("%d requests, want %d:", len(got), len(wants))
		for _, r := range got {
			t.Logf("  %s %s?%s %s", r.Method, r.Path, r.Query, r.Body)
		}
		return
	}
	for i, w := range wants {
		g := got[i]
		if g.Method != w.method || g.Path != prefix+w.path {
			t.Errorf("request %d: %s %s, want %s %s", i, g.Method, g.Path, w.method, prefix+w.path)
		}
		q, _ := url.ParseQuery(g.Query)
		if w.query == nil {
			w.query = url.Values{}
		}
		if q.Encode() != w.query.Encode() {
			t.Errorf("request %d: query %q, want %q", i, g.Query, w.query.Encode())
		}
		if g.Auth != "Bearer "+token {
			t.Errorf("request %d: Authorization %q", i, g.Auth)
		}
		if (g.Body == "") != (w.body == "") {
			t.Errorf("request %d: body %q, want %q", i, g.Body, w.body)
			continue
		}
		if w.body != "" {
			var gv, wv any
			if err := json.Unmarshal([]byte(g.Body), &gv); err != nil {
				t.Errorf("request %d: body %q: %v", i, g.Body, err)
			}
			_ = json.Unmarshal([]byte(w.body), &wv)
			gb, _ := json.Marshal(gv)
			wb, _ := json.Marshal(wv)
			if !bytes.Equal(gb, wb) {
				t.Errorf("request %d: body %s, want %s", i, gb, wb)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, subdomain, fqdn string
		ttl                   time.Duration
		wantTTL               int
	}{
		{"subdomain, automatic ttl", "wgstun", key1 + ".wgstun.example.com", 0, 1},
		{"no subdomain, ttl 5m", "", key1 + ".example.com", 5 * time.Minute, 300},
		{"nested subdomain", "mesh.wgstun", key1 + ".mesh.wgstun.example.com", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCF(t, token, zones())
			s := newTestStore(t, f, func(c *config.Store) { c.Subdomain, c.TTL = tc.subdomain, tc.ttl })
			ctx := context.Background()
			_, err := s.Get(ctx, key1)
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("get before set: %v, want ErrNotFound", err)
			}
			if err := s.Set(ctx, key1, value1); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, key1)
			if err != nil || got != value1 {
				t.Fatalf("get = %q, %v", got, err)
			}
			list := want{"GET", "/zones/" + zoneID + "/dns_records", url.Values{"type": {"TXT"}, "name": {tc.fqdn}}, ""}
			checkRequests(t, f.requests(), []want{
				{"GET", "/zones", url.Values{"name": {"example.com"}}, ""},
				list,
				list, // zone id cached from here on
				{"POST", "/zones/" + zoneID + "/dns_records", nil,
					`{"type":"TXT","name":"` + tc.fqdn + `","content":"` + value1 + `","ttl":` + itoa(tc.wantTTL) + `}`},
				list,
			})
			if recs := f.recordsNamed(tc.fqdn); len(recs) != 1 || recs[0].Type != "TXT" || recs[0].Content != value1 {
				t.Errorf("records at %s: %+v", tc.fqdn, recs)
			}
			if raw := f.requests()[1].Query; !strings.HasPrefix(raw, "type=TXT&name=") {
				t.Errorf("list query %q: want type=TXT&name=<fqdn> as stunmesh-go sends it", raw)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestSetUnchangedAndPatch(t *testing.T) {
	f := newFakeCF(t, token, zones())
	s := newTestStore(t, f, nil)
	ctx := context.Background()
	fqdn := key1 + ".wgstun.example.com"
	if err := s.Set(ctx, key1, value1); err != nil {
		t.Fatal(err)
	}
	rid := f.recordsNamed(fqdn)[0].ID
	f.reset()
	if err := s.Set(ctx, key1, value1); err != nil {
		t.Fatal(err)
	}
	list := want{"GET", "/zones/" + zoneID + "/dns_records", url.Values{"type": {"TXT"}, "name": {fqdn}}, ""}
	checkRequests(t, f.requests(), []want{list}) // identical content: no write
	f.reset()
	if err := s.Set(ctx, key1, value2); err != nil {
		t.Fatal(err)
	}
	checkRequests(t, f.requests(), []want{
		list,
		{"PATCH", "/zones/" + zoneID + "/dns_records/" + rid, nil, `{"content":"` + value2 + `"}`},
	})
	recs := f.recordsNamed(fqdn)
	if len(recs) != 1 || recs[0].Content != value2 || recs[0].ID != rid {
		t.Errorf("records after patch: %+v", recs)
	}
	if got, err := s.Get(ctx, key1); err != nil || got != value2 {
		t.Errorf("get = %q, %v", got, err)
	}
}

// Records as stunmesh-go writes them (unquoted hex at <key>.<sub>.<zone>
// or <key>.<zone>), and as Cloudflare may show long or quoted TXT content.
func TestReadsStunmeshRecords(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 16) + "00ff" // 260 hex digits, over one character-string
	for _, tc := range []struct {
		name, subdomain, recName, content, want string
	}{
		{"with subdomain", "wgstun", key1 + ".wgstun.example.com", value1, value1},
		{"without subdomain", "", key1 + ".example.com", value1, value1},
		{"quoted", "", key1 + ".example.com", `"` + value1 + `"`, value1},
		{"split in character-strings", "wgstun", key1 + ".wgstun.example.com", `"` + long[:255] + `" "` + long[255:] + `"`, long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCF(t, token, zones())
			f.add(fakeRecord{Zone: zoneID, Name: tc.recName, Type: "TXT", Content: tc.content, TTL: 1})
			f.add(fakeRecord{Zone: zoneID, Name: tc.recName, Type: "A", Content: "192.0.2.1", TTL: 1})
			s := newTestStore(t, f, func(c *config.Store) { c.Subdomain = tc.subdomain })
			got, err := s.Get(context.Background(), key1)
			if err != nil || got != tc.want {
				t.Fatalf("get = %q, %v; want %q", got, err, tc.want)
			}
			// Setting the same value again writes nothing.
			f.reset()
			if err := s.Set(context.Background(), key1, tc.want); err != nil {
				t.Fatal(err)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests for an unchanged value, want 1 (the lookup)", n)
			}
		})
	}
}

func TestTokenRejected(t *testing.T) {
	f := newFakeCF(t, "another-token", zones())
	s := newTestStore(t, f, nil)
	for i := 0; i < 3; i++ {
		_, err := s.Get(context.Background(), key1)
		if !errors.Is(err, ErrTokenRejected) || !strings.Contains(err.Error(), "token rejected") {
			t.Fatalf("get: %v, want ErrTokenRejected", err)
		}
		noToken(t, err)
		err = s.Set(context.Background(), key1, value1)
		if !errors.Is(err, ErrTokenRejected) {
			t.Fatalf("set: %v", err)
		}
		noToken(t, err)
	}
	if n := strings.Count(s.log.String(), "rejected the API token"); n != 1 {
		t.Errorf("token rejection logged %d times, want once:\n%s", n, s.log)
	}
	if n := len(f.requests()); n != 6 {
		t.Errorf("%d requests: 401 must not be retried", n)
	}
	// A 403 (a token without the permission) is the same error.
	f.token = token
	f.fail(fault{status: 403, body: `{"success":false,"errors":[{"code":9109,"message":"Unauthorized to access requested resource"}],"messages":[],"result":null}`})
	_, err := s.Get(context.Background(), key1)
	if !errors.Is(err, ErrTokenRejected) || !strings.Contains(err.Error(), "Unauthorized to access") {
		t.Errorf("403: %v", err)
	}
}

func TestZoneNotFound(t *testing.T) {
	f := newFakeCF(t, token, zones())
	s := newTestStore(t, f, func(c *config.Store) { c.Zone = "missing.example" })
	_, err := s.Get(context.Background(), key1)
	if !errors.Is(err, ErrZoneNotFound) || !strings.Contains(err.Error(), "missing.example") {
		t.Fatalf("get: %v, want ErrZoneNotFound naming the zone", err)
	}
	err = s.Set(context.Background(), key1, value1)
	if !errors.Is(err, ErrZoneNotFound) {
		t.Fatalf("set: %v", err)
	}
	checkRequests(t, f.requests(), []want{
		{"GET", "/zones", url.Values{"name": {"missing.example"}}, ""},
		{"GET", "/zones", url.Values{"name": {"missing.example"}}, ""},
	})
}

// A cached zone id that stops routing (zone deleted and added again) is
// looked up afresh once.
func TestZoneIDRefreshed(t *testing.T) {
	f := newFakeCF(t, token, zones())
	s := newTestStore(t, f, nil)
	ctx := context.Background()
	if err := s.Set(ctx, key1, value1); err != nil {
		t.Fatal(err)
	}
	const newID = "11111111111111111111111111111111"
	f.mu.Lock()
	f.zones["example.com"] = newID
	f.records = nil
	f.mu.Unlock()
	f.reset()
	if _, err := s.Get(ctx, key1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get: %v, want ErrNotFound from the new zone", err)
	}
	fqdn := key1 + ".wgstun.example.com"
	checkRequests(t, f.requests(), []want{
		{"GET", "/zones/" + zoneID + "/dns_records", url.Values{"type": {"TXT"}, "name": {fqdn}}, ""},
		{"GET", "/zones", url.Values{"name": {"example.com"}}, ""},
		{"GET", "/zones/" + newID + "/dns_records", url.Values{"type": {"TXT"}, "name": {fqdn}}, ""},
	})
}

func TestRateLimited(t *testing.T) {
	limited := `{"success":false,"errors":[{"code":10000,"message":"Rate limited. Please wait and consider throttling your request speed"}],"messages":[],"result":null}`
	t.Run("Retry-After seconds, then success", func(t *testing.T) {
		f := newFakeCF(t, token, zones())
		s := newTestStore(t, f, nil)
		f.fail(fault{status: 429, header: map[string]string{"Retry-After": "2"}, body: limited})
		if err := s.Set(context.Background(), key1, value1); err != nil {
			t.Fatal(err)
		}
		if len(s.sleeps) != 1 || s.sleeps[0] != 2*time.Second {
			t.Errorf("slept %v, want [2s]", s.sleeps)
		}
		if n := len(f.requests()); n != 4 { // 429, zones, list, post
			t.Errorf("%d requests, want 4", n)
		}
	})
	t.Run("Retry-After date", func(t *testing.T) {
		f := newFakeCF(t, token, zones())
		s := newTestStore(t, f, nil)
		at := s.Now().Add(3 * time.Second).Format(http.TimeFormat)
		f.fail(fault{status: 429, header: map[string]string{"Retry-After": at}, body: limited})
		if _, err := s.Get(context.Background(), key1); !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if len(s.sleeps) != 1 || s.sleeps[0] != 3*time.Second {
			t.Errorf("slept %v, want [3s]", s.sleeps)
		}
	})
	t.Run("Retry-After beyond the timeout", func(t *testing.T) {
		f := newFakeCF(t, token, zones())
		s := newTestStore(t, f, nil)
		s.Sleep = sleep // the real one: it must not be reached
		f.fail(fault{status: 429, header: map[string]string{"Retry-After": "300"}, body: limited})
		start := time.Now()
		err := s.Set(context.Background(), key1, value1)
		if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "5m0s") {
			t.Fatalf("set: %v, want ErrRateLimited naming the wait", err)
		}
		if time.Since(start) > 4*time.Second {
			t.Errorf("waited %v for an answer that could not come in time", time.Since(start))
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
	t.Run("caller's deadline is shorter", func(t *testing.T) {
		f := newFakeCF(t, token, zones())
		s := newTestStore(t, f, nil)
		f.fail(fault{status: 429, header: map[string]string{"Retry-After": "3"}, body: limited})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := s.Get(ctx, key1); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("get: %v, want ErrRateLimited", err)
		}
		if len(s.sleeps) != 0 {
			t.Errorf("slept %v", s.sleeps)
		}
	})
}

func TestServerErrorsRetried(t *testing.T) {
	f := newFakeCF(t, token, zones())
	s := newTestStore(t, f, nil)
	f.fail(fault{status: 502, body: "<html>bad gateway</html>"},
		fault{status: 503, body: `{"success":false,"errors":[{"code":10001,"message":"service temporarily unavailable"}],"messages":[],"result":null}`})
	if err := s.Set(context.Background(), key1, value1); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}; len(s.sleeps) != 2 || s.sleeps[0] != want[0] || s.sleeps[1] != want[1] {
		t.Errorf("slept %v, want %v", s.sleeps, want)
	}
	if got, err := s.Get(context.Background(), key1); err != nil || got != value1 {
		t.Errorf("get = %q, %v", got, err)
	}
	// Always failing: bounded by maxAttempts, and the API's message shows.
	for i := 0; i < maxAttempts; i++ {
		f.fail(fault{status: 500, body: `{"success":false,"errors":[{"code":10002,"message":"internal trouble"}],"messages":[],"result":null}`})
	}
	_, err := s.Get(context.Background(), key1)
	if !errors.Is(err, ErrAPI) || !strings.Contains(err.Error(), "internal trouble") || !strings.Contains(err.Error(), "gave up") {
		t.Errorf("get: %v", err)
	}
}

func TestBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"garbage", 200, "<html><body>hello</body></html>", "not the API's JSON"},
		{"truncated", 200, `{"success":true,"result":[{"id":"`, "not the API's JSON"},
		{"success false", 200, `{"success":false,"errors":[{"code":1004,"message":"DNS Validation Error"}],"messages":[],"result":null}`, "1004 DNS Validation Error"},
		{"400 with messages", 400, `{"success":false,"errors":[{"code":9005,"message":"Content for TXT record is invalid."},{"code":1,"message":"second"}],"result":null}`, "9005 Content for TXT record is invalid.; 1 second"},
		{"result not a list", 200, `{"success":true,"errors":[],"messages":[],"result":{"id":"x"}}`, "not a list"},
		{"record without id", 200, `{"success":true,"errors":[],"messages":[],"result":[{"content":"ab"}]}`, "usable id"},
		{"id with a slash", 200, `{"success":true,"errors":[],"messages":[],"result":[{"id":"../x","content":"ab"}]}`, "usable id"},
		{"too long", 200, `{"success":true,"result":[],"x":"` + strings.Repeat("a", maxBody) + `"}`, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCF(t, token, zones())
			s := newTestStore(t, f, nil)
			s.zoneID = zoneID
			f.fail(fault{status: tc.status, body: tc.body})
			_, err := s.Get(context.Background(), key1)
			if err == nil || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("get: %v, want an error with %q", err, tc.want)
			}
			noToken(t, err)
		})
	}
}

func TestBadInput(t *testing.T) {
	f := newFakeCF(t, token, zones())
	s := newTestStore(t, f, nil)
	ctx := context.Background()
	if _, err := s.Get(ctx, "ABC"); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("get bad key: %v", err)
	}
	for _, v := range []string{"", "xyz", "ab cd", strings.Repeat("a", MaxContent+1)} {
		if err := s.Set(ctx, key1, v); !errors.Is(err, store.ErrInvalidValue) {
			t.Errorf("set %.10q: %v", v, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests for bad input", n)
	}
	_, err := New(config.Store{Name: "x", Type: config.StoreCloudflare, Zone: "example.com", TokenEnv: "WGSTUN_TEST_UNSET_VAR"}, nil)
	if !errors.Is(err, config.ErrNoSecret) {
		t.Errorf("New without token: %v", err)
	}
}

// No error and no log line carries the token, whatever goes wrong; the
// log is checked by newTestStore's cleanup.
func TestTokenNeverShown(t *testing.T) {
	f := newFakeCF(t, token, zones())
	s := newTestStore(t, f, nil)
	ctx := context.Background()
	echo := `{"success":false,"errors":[{"code":1,"message":"bad"}],"messages":[],"result":null}`
	for _, ft := range []fault{
		{status: 401, body: echo}, {status: 500, body: echo}, {status: 429, header: map[string]string{"Retry-After": "999"}},
		{status: 200, body: "not json"}, {status: 404, body: echo},
	} {
		for i := 0; i < maxAttempts; i++ {
			f.fail(ft)
		}
		_, err := s.Get(ctx, key1)
		if err == nil {
			t.Fatalf("fault %d: no error", ft.status)
		}
		noToken(t, err)
		f.mu.Lock()
		f.faults = nil
		f.mu.Unlock()
	}
	if err := s.Set(ctx, key1, value1); err != nil {
		t.Fatal(err)
	}
	if got := s.String(); strings.Contains(got, token) {
		t.Errorf("String() = %q", got)
	}
	// A server that is not there: the transport's error names the URL only.
	s2 := newTestStore(t, f, func(c *config.Store) { c.API = "http://127.0.0.1:1/client/v4"; c.Timeout = time.Second })
	_, err := s2.Get(ctx, key1)
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	noToken(t, err)
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, h string
		want    time.Duration
		ok      bool
	}{
		{"seconds", "7", 7 * time.Second, true},
		{"zero", "0", 0, true},
		{"spaces", " 3 ", 3 * time.Second, true},
		{"date", "Sat, 01 Mar 2025 12:00:10 GMT", 10 * time.Second, true},
		{"date past", "Sat, 01 Mar 2025 11:00:00 GMT", 0, true},
		{"empty", "", 0, false},
		{"negative", "-1", 0, false},
		{"fraction", "1.5", 0, false},
		{"junk", "soon", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := retryAfter(tc.h, now)
			if got != tc.want || ok != tc.ok {
				t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.h, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestTXTContent(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"bare", "abc", "abc"},
		{"quoted", `"abc"`, "abc"},
		{"split", `"ab" "cd"`, "abcd"},
		{"escapes", `"a\"b\\c"`, `a"b\c`},
		{"unterminated", `"abc`, `"abc`},
		{"text between", `"ab" x "cd"`, `"ab" x "cd"`},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := txtContent(tc.in); got != tc.want {
				t.Errorf("txtContent(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzParseEnvelope: any answer is read without panicking, and what is
// read agrees with encoding/json.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"success":true,"errors":[],"messages":[],"result":[{"id":"023e105f4ecef8ad9ca31a8372d0c353","name":"a.example.com","content":"abcd"}],"result_info":{"page":1}}`))
	f.Add([]byte(`{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := parseEnvelope(data)
		if err != nil {
			return
		}
		var ref struct {
			Success bool
			Errors  []json.RawMessage
		}
		if json.Unmarshal(data, &ref) == nil && ref.Success != env.success {
			t.Errorf("success %v, encoding/json %v", env.success, ref.Success)
		}
		_ = env.text()
		if rec, ok, err := firstRecord(env.result); err == nil && ok {
			if !validID(rec.id) {
				t.Errorf("record id %q accepted", rec.id)
			}
			_ = rec.value()
		}
		if id, ok, err := firstID(env.result); err == nil && ok && !validID(id) {
			t.Errorf("zone id %q accepted", id)
		}
	})
}

// TestRedirectRefused: an API that redirects gets no second request, and
// the token goes nowhere else.
func TestRedirectRefused(t *testing.T) {
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer elsewhere.Close()
	f := newFakeCF(t, token, zones())
	s := newTestStore(t, f, func(c *config.Store) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}))
		t.Cleanup(srv.Close)
		c.API = srv.URL + "/client/v4"
	})
	if _, err := s.Get(context.Background(), key1); err == nil || !strings.Contains(err.Error(), "redirects are not followed") {
		t.Fatalf("Get = %v", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}
