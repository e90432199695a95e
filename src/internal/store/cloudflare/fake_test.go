package cloudflare

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeCF is a stateful stand-in for the part of Cloudflare's v4 API the
// store and the shell plugin use (zones list and get, dns_records list,
// create and patch), with the documented envelope, Bearer authentication
// and injectable faults. Every request is recorded.
type fakeCF struct {
	srv   *httptest.Server
	token string

	mu      sync.Mutex
	zones   map[string]string // name -> id
	records []*fakeRecord
	seen    []seenReq
	faults  []fault // answered first, in order, instead of the API
	nextID  int
}

type fakeRecord struct {
	ID, Zone, Name, Type, Content string
	TTL                           int
}

type seenReq struct {
	Method, Path, Query, Auth, Body string
}

type fault struct {
	status int
	header map[string]string
	body   string
}

const prefix = "/client/v4"

func newFakeCF(t *testing.T, token string, zones map[string]string) *fakeCF {
	f := &fakeCF{token: token, zones: zones}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCF) api() string { return f.srv.URL + prefix }

func (f *fakeCF) add(r fakeRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	r.ID = fmt.Sprintf("%032x", 0xabc000+f.nextID)
	f.records = append(f.records, &r)
}

func (f *fakeCF) fail(fs ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fs...)
}

func (f *fakeCF) requests() []seenReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenReq(nil), f.seen...)
}

func (f *fakeCF) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = nil
}

func (f *fakeCF) recordsNamed(name string) []fakeRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRecord
	for _, r := range f.records {
		if r.Name == name {
			out = append(out, *r)
		}
	}
	return out
}

type cfError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeEnvelope(w http.ResponseWriter, status int, result any, errs ...cfError) {
	env := map[string]any{"success": len(errs) == 0, "errors": []cfError{}, "messages": []any{}, "result": result}
	if len(errs) > 0 {
		env["errors"] = errs
	}
	if list, ok := result.([]map[string]any); ok {
		env["result_info"] = map[string]int{"page": 1, "per_page": 100, "count": len(list), "total_count": len(list), "total_pages": 1}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(env)
}

func (r *fakeRecord) json(zoneName string) map[string]any {
	return map[string]any{"id": r.ID, "zone_id": r.Zone, "zone_name": zoneName, "name": r.Name, "type": r.Type,
		"content": r.Content, "proxiable": false, "proxied": false, "ttl": r.TTL, "locked": false,
		"meta": map[string]any{"auto_added": false, "source": "primary"}, "comment": nil, "tags": []string{},
		"created_on": "2024-01-01T00:00:00.000000Z", "modified_on": "2024-01-01T00:00:00.000000Z"}
}

func (f *fakeCF) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, seenReq{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), Body: string(body)})
	if len(f.faults) > 0 {
		ft := f.faults[0]
		f.faults = f.faults[1:]
		for k, v := range ft.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(ft.status)
		io.WriteString(w, ft.body)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		writeEnvelope(w, http.StatusUnauthorized, nil, cfError{10000, "Authentication error"})
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		writeEnvelope(w, http.StatusNotFound, nil, cfError{7000, "No route for that URI"})
		return
	}
	q := r.URL.Query()
	parts := strings.Split(strings.Trim(path, "/"), "/")
	zoneName := func(id string) string {
		for n, zid := range f.zones {
			if zid == id {
				return n
			}
		}
		return ""
	}
	noRoute := func() {
		writeEnvelope(w, http.StatusNotFound, nil, cfError{7003, "Could not route to " + path + ", perhaps your object identifier is invalid?"})
	}
	switch {
	case r.Method == http.MethodGet && len(parts) == 1 && parts[0] == "zones":
		list := []map[string]any{}
		for n, id := range f.zones {
			if q.Get("name") == "" || q.Get("name") == n {
				list = append(list, map[string]any{"id": id, "name": n, "status": "active", "paused": false,
					"type": "full", "account": map[string]any{"id": "0123456789abcdef0123456789abcdef", "name": "acct"},
					"owner": map[string]any{"id": nil, "type": "user", "email": nil}})
			}
		}
		writeEnvelope(w, http.StatusOK, list)
	case len(parts) >= 2 && parts[0] == "zones" && zoneName(parts[1]) == "":
		noRoute()
	case r.Method == http.MethodGet && len(parts) == 2:
		writeEnvelope(w, http.StatusOK, map[string]any{"id": parts[1], "name": zoneName(parts[1]), "status": "active"})
	case r.Method == http.MethodGet && len(parts) == 3 && parts[2] == "dns_records":
		list := []map[string]any{}
		for _, rec := range f.records {
			if rec.Zone == parts[1] && (q.Get("type") == "" || q.Get("type") == rec.Type) && (q.Get("name") == "" || q.Get("name") == rec.Name) {
				list = append(list, rec.json(zoneName(parts[1])))
			}
		}
		writeEnvelope(w, http.StatusOK, list)
	case r.Method == http.MethodPost && len(parts) == 3 && parts[2] == "dns_records":
		var in struct {
			Type, Name, Content string
			TTL                 int
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil || in.Type == "" || in.Name == "" || in.Content == "" {
			writeEnvelope(w, http.StatusBadRequest, nil, cfError{9207, "Request body is invalid."})
			return
		}
		if in.TTL == 0 {
			in.TTL = 1
		}
		f.nextID++
		rec := &fakeRecord{ID: fmt.Sprintf("%032x", 0xdef000+f.nextID), Zone: parts[1], Name: in.Name, Type: in.Type, Content: in.Content, TTL: in.TTL}
		f.records = append(f.records, rec)
		writeEnvelope(w, http.StatusOK, rec.json(zoneName(parts[1])))
	case r.Method == http.MethodPatch && len(parts) == 4 && parts[2] == "dns_records":
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			writeEnvelope(w, http.StatusBadRequest, nil, cfError{9207, "Request body is invalid."})
			return
		}
		for _, rec := range f.records {
			if rec.Zone == parts[1] && rec.ID == parts[3] {
				if c, ok := in["content"].(string); ok {
					rec.Content = c
				}
				writeEnvelope(w, http.StatusOK, rec.json(zoneName(parts[1])))
				return
			}
		}
		writeEnvelope(w, http.StatusNotFound, nil, cfError{81044, "Record does not exist."})
	default:
		writeEnvelope(w, http.StatusMethodNotAllowed, nil, cfError{10405, "Method not allowed"})
	}
}
