package cloudflare

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wgstun/wgstun/src/internal/jsonwire"
)

// errGone: a zone-scoped request found no such zone (HTTP 404, or
// Cloudflare's codes 7000/7003 for an identifier that routes nowhere).
var errGone = errors.New("no such zone id")

// errTooLong: an answer exceeds maxBody; not retried.
var errTooLong = errors.New("answer too long")

// do sends one API request, retrying within the call's time after a
// network error, a 5xx answer and a 429 (honouring Retry-After), and
// returns the envelope of a successful answer.
func (s *Store) do(c *call, method, path, query string, body []byte) (envelope, error) {
	u := s.api + path
	if query != "" {
		u += "?" + query
	}
	op := method + " " + path
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		status, hdr, resp, err := s.send(c, method, u, body)
		var wait time.Duration
		var retryErr error
		switch {
		case err != nil:
			if c.ctx.Err() != nil || errors.Is(err, errTooLong) {
				return envelope{}, fmt.Errorf("%s: %w", op, err)
			}
			retryErr, wait = fmt.Errorf("%s: %w", op, err), backoff
		case status == http.StatusTooManyRequests:
			d, ok := retryAfter(hdr.Get("Retry-After"), s.Now())
			if !ok {
				d = backoff
			}
			if left := s.left(c); d > left {
				return envelope{}, fmt.Errorf("%s: %w: Cloudflare asks to retry after %v, more than the %v left of this call",
					op, ErrRateLimited, d, left.Round(time.Millisecond))
			}
			retryErr, wait = fmt.Errorf("%s: %w (HTTP 429)", op, ErrRateLimited), d
		case status >= 500:
			retryErr, wait = fmt.Errorf("%s: %w: HTTP %d%s", op, ErrAPI, status, errorText(resp)), backoff
		default:
			env, err := s.answer(status, resp)
			if err != nil {
				return envelope{}, fmt.Errorf("%s: %w", op, err)
			}
			return env, nil
		}
		if attempt >= maxAttempts {
			return envelope{}, fmt.Errorf("%w (gave up after %d attempts)", retryErr, attempt)
		}
		if left := s.left(c); wait > left {
			return envelope{}, fmt.Errorf("%w (no time left to retry)", retryErr)
		}
		s.log.Debug("cloudflare request failed; retrying", "op", op, "in", wait, "err", retryErr)
		if err := s.Sleep(c.ctx, wait); err != nil {
			return envelope{}, fmt.Errorf("%w (then %w)", retryErr, err)
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// send makes one request and reads at most maxBody bytes of the answer.
func (s *Store) send(c *call, method, u string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, u, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wgstun")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(b) > maxBody {
		return 0, nil, nil, fmt.Errorf("%w: HTTP %d answer longer than %d bytes", errTooLong, resp.StatusCode, maxBody)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// answer interprets a final (non-retried) response.
func (s *Store) answer(status int, body []byte) (envelope, error) {
	env, perr := parseEnvelope(body)
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		s.mu.Lock()
		first := !s.rejected
		s.rejected = true
		s.mu.Unlock()
		if first {
			s.log.Error("Cloudflare rejected the API token: check token_file/token_env and that the token may edit DNS of the zone",
				"zone", s.zone, "status", status)
		}
		return env, fmt.Errorf("%w (HTTP %d%s)", ErrTokenRejected, status, env.text())
	case status == http.StatusNotFound || status == http.StatusBadRequest && env.hasCode(7000, 7003):
		return env, fmt.Errorf("%w: HTTP %d%s", errGone, status, env.text())
	case perr != nil:
		return env, fmt.Errorf("%w: HTTP %d, not the API's JSON: %w", ErrAPI, status, perr)
	case status < 200 || status > 299 || !env.success:
		return env, fmt.Errorf("%w: HTTP %d%s", ErrAPI, status, env.text())
	}
	s.mu.Lock()
	s.rejected = false
	s.mu.Unlock()
	return env, nil
}

// errorText is ": " and the API's error messages in body, if any.
func errorText(body []byte) string {
	env, err := parseEnvelope(body)
	if err != nil {
		return ""
	}
	return env.text()
}

// envelope is the frame of every v4 API answer:
// {"success":..., "errors":[{"code":..,"message":..}], "messages":[...], "result":..., "result_info":{...}}.
type envelope struct {
	success bool
	errors  []apiError
	result  jsonwire.Value // Invalid when absent
}

type apiError struct {
	code    int64
	message string
}

// maxErrors bounds the errors kept from one answer.
const maxErrors = 8

// parseEnvelope reads an API answer. Members other than success, errors
// and result are ignored, as are error entries that are not objects and
// error fields of other types.
func parseEnvelope(body []byte) (envelope, error) {
	var env envelope
	v, err := jsonwire.Parse(body)
	if err != nil {
		return env, err
	}
	if v.Kind() != jsonwire.Object {
		return env, fmt.Errorf("%w: the answer is a JSON %s, not an object", ErrAPI, v.Kind())
	}
	err = v.Members([]string{"success", "errors", "result"}, func(i int, m jsonwire.Value) error {
		switch i {
		case 0:
			b, err := m.Bool()
			if err != nil {
				return fmt.Errorf("success: %w", err)
			}
			env.success = b
		case 1:
			if m.Kind() != jsonwire.Array {
				return nil
			}
			return m.Elems(func(e jsonwire.Value) error {
				if e.Kind() != jsonwire.Object || len(env.errors) >= maxErrors {
					return nil
				}
				var ae apiError
				_ = e.Members([]string{"code", "message"}, func(j int, f jsonwire.Value) error {
					if j == 0 {
						ae.code, _ = f.Int()
					} else {
						ae.message, _ = f.Str()
					}
					return nil
				})
				env.errors = append(env.errors, ae)
				return nil
			})
		case 2:
			env.result = m
		}
		return nil
	})
	return env, err
}

func (e envelope) hasCode(codes ...int64) bool {
	for _, ae := range e.errors {
		for _, c := range codes {
			if ae.code == c {
				return true
			}
		}
	}
	return false
}

// text is ": " followed by the API's errors, "code message; ...".
func (e envelope) text() string {
	if len(e.errors) == 0 {
		return ""
	}
	parts := make([]string, len(e.errors))
	for i, ae := range e.errors {
		parts[i] = truncate(strings.Map(printable, ae.message), 200)
		if ae.code != 0 {
			parts[i] = strconv.FormatInt(ae.code, 10) + " " + parts[i]
		}
	}
	return ": " + strings.Join(parts, "; ")
}

func printable(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return ' '
	}
	return r
}

// record is what is used of a DNS record.
type record struct {
	id, content string
}

// value is the record's content as one string: TXT content may come back
// as quoted character-strings ("abc" "def", as Cloudflare shows a long or
// quoted record), which are joined.
func (r record) value() string { return txtContent(r.content) }

// firstRecord reads the first element of a dns_records list result.
func firstRecord(v jsonwire.Value) (record, bool, error) {
	var rec record
	el, ok, err := first(v)
	if err != nil || !ok {
		return rec, ok, err
	}
	err = el.Members([]string{"id", "content"}, func(i int, m jsonwire.Value) error {
		s, err := m.Str()
		if err != nil {
			return err
		}
		if i == 0 {
			rec.id = s
		} else {
			rec.content = s
		}
		return nil
	})
	if err != nil {
		return rec, false, fmt.Errorf("%w: DNS record: %w", ErrAPI, err)
	}
	if !validID(rec.id) {
		return rec, false, fmt.Errorf("%w: DNS record without a usable id (%q)", ErrAPI, truncate(rec.id, 64))
	}
	return rec, true, nil
}

// firstID reads the id of the first element of a list result (zones).
func firstID(v jsonwire.Value) (string, bool, error) {
	el, ok, err := first(v)
	if err != nil || !ok {
		return "", ok, err
	}
	var id string
	err = el.Members([]string{"id"}, func(_ int, m jsonwire.Value) error {
		var err error
		id, err = m.Str()
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("%w: zone: %w", ErrAPI, err)
	}
	if !validID(id) {
		return "", false, fmt.Errorf("%w: zone without a usable id (%q)", ErrAPI, truncate(id, 64))
	}
	return id, true, nil
}

// first returns the first element of the array result, which must be an
// object; ok is false for an empty array.
func first(v jsonwire.Value) (el jsonwire.Value, ok bool, err error) {
	if v.Kind() != jsonwire.Array {
		return el, false, fmt.Errorf("%w: result is a JSON %s, not a list", ErrAPI, v.Kind())
	}
	done := errors.New("done")
	err = v.Elems(func(e jsonwire.Value) error {
		el, ok = e, true
		return done
	})
	if err != nil && err != done {
		return el, false, err
	}
	if ok && el.Kind() != jsonwire.Object {
		return el, false, fmt.Errorf("%w: list element is a JSON %s, not an object", ErrAPI, el.Kind())
	}
	return el, ok, nil
}

// validID accepts the identifiers Cloudflare uses (32 hex digits), and
// more generally anything safe as one path segment.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// txtContent joins TXT content given as quoted character-strings
// ("ab" "cd" is abcd, with \" and \\ unescaped); other content is as is.
func txtContent(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, `"`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(t); {
		switch t[i] {
		case ' ', '\t':
			i++
			continue
		case '"':
		default:
			return s // not a list of quoted strings: leave it alone
		}
		j := i + 1
		for ; j < len(t) && t[j] != '"'; j++ {
			if t[j] == '\\' && j+1 < len(t) {
				j++
			}
			b.WriteByte(t[j])
		}
		if j >= len(t) {
			return s // unterminated
		}
		i = j + 1
	}
	return b.String()
}

func patchBody(value string) []byte {
	w := jsonwire.NewWriter(nil, "")
	w.BeginObject()
	w.Key("content")
	w.String(value)
	w.EndObject()
	return w.Bytes()
}

func postBody(name, value string, ttl int) []byte {
	w := jsonwire.NewWriter(nil, "")
	w.BeginObject()
	w.Key("type")
	w.String("TXT")
	w.Key("name")
	w.String(name)
	w.Key("content")
	w.String(value)
	w.Key("ttl")
	w.Int(int64(ttl))
	w.EndObject()
	return w.Bytes()
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(h, 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

func queryEscape(s string) string { return url.QueryEscape(s) }
