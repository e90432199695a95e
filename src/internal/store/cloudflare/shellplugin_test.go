package cloudflare

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/store"
)

// The shell plugin plugins/cloudflare.sh, run by wgstun's own shell store
// (store.NewShell) under dash and under busybox ash with only busybox's
// tools and the real curl on PATH (as on a router), against the same fake
// API as the Go store.

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %s not installed (scripts/deps.sh)", name)
		}
		t.Skipf("%s not installed (scripts/deps.sh)", name)
	}
	return p
}

type shellEnv struct {
	name    string
	command string
	path    string // PATH for the plugin
}

func shells(t *testing.T) []shellEnv {
	curl := needTool(t, "curl")
	dash := needTool(t, "dash")
	bb := needTool(t, "busybox")
	// A PATH of busybox applets and curl, nothing else.
	dir := t.TempDir()
	for _, applet := range []string{"sh", "awk", "sed", "tr", "cat"} {
		if err := os.Symlink(bb, filepath.Join(dir, applet)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(curl, filepath.Join(dir, "curl")); err != nil {
		t.Fatal(err)
	}
	return []shellEnv{
		{"dash", dash, os.Getenv("PATH")},
		{"busybox ash", filepath.Join(dir, "sh"), dir},
	}
}

func scriptPath(t *testing.T) string {
	p, err := filepath.Abs("../../../../plugins/cloudflare.sh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// pluginStore is the plugin as the daemon runs it, configured by a file.
func pluginStore(t *testing.T, sh shellEnv, conf string, logw *bytes.Buffer) *store.Shell {
	t.Helper()
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "cloudflare.conf")
	conf = strings.ReplaceAll(conf, "@TOKENFILE@", tokFile)
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", sh.path)
	lv := new(logfmt.LevelVar)
	lv.Set(logfmt.LevelDebug)
	return store.NewShell(sh.command, []string{scriptPath(t), cf}, store.PluginOptions{Timeout: 20 * time.Second, Log: logfmt.New(logw, lv)})
}

func TestShellPlugin(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			f := newFakeCF(t, token, zones())
			var logw bytes.Buffer
			conf := "# Cloudflare for wgstun\nCF_API_TOKEN_FILE=@TOKENFILE@\nCF_ZONE=\"Example.com\"\n\nCF_SUBDOMAIN=wgstun\nCF_API=" + f.api() + "/\n"
			p := pluginStore(t, sh, conf, &logw)
			ctx := context.Background()
			fqdn := key1 + ".wgstun.example.com"
			zonesReq := want{"GET", "/zones", url.Values{"name": {"example.com"}}, ""}
			list := want{"GET", "/zones/" + zoneID + "/dns_records", url.Values{"type": {"TXT"}, "name": {fqdn}}, ""}

			if _, err := p.Get(ctx, key1); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("get before set: %v", err)
			}
			f.reset()
			if err := p.Set(ctx, key1, value1); err != nil {
				t.Fatal(err)
			}
			checkRequests(t, f.requests(), []want{zonesReq, list,
				{"POST", "/zones/" + zoneID + "/dns_records", nil, `{"type":"TXT","name":"` + fqdn + `","content":"` + value1 + `","ttl":1}`}})
			if got, err := p.Get(ctx, key1); err != nil || got != value1 {
				t.Fatalf("get = %q, %v", got, err)
			}
			f.reset()
			if err := p.Set(ctx, key1, value1); err != nil {
				t.Fatal(err)
			}
			checkRequests(t, f.requests(), []want{zonesReq, list}) // unchanged: no write
			f.reset()
			if err := p.Set(ctx, key1, value2); err != nil {
				t.Fatal(err)
			}
			rid := f.recordsNamed(fqdn)[0].ID
			checkRequests(t, f.requests(), []want{zonesReq, list,
				{"PATCH", "/zones/" + zoneID + "/dns_records/" + rid, nil, `{"content":"` + value2 + `"}`}})
			if recs := f.recordsNamed(fqdn); len(recs) != 1 || recs[0].Content != value2 {
				t.Errorf("records: %+v", recs)
			}

			// The Go store and the plugin read each other's records.
			s := newTestStore(t, f, nil)
			if got, err := s.Get(ctx, key1); err != nil || got != value2 {
				t.Errorf("Go store reads the plugin's record: %q, %v", got, err)
			}
			const key3 = "9c8d8e5a31c9802b093c4116dfb0a23a311b8029"
			if err := s.Set(ctx, key3, value1); err != nil {
				t.Fatal(err)
			}
			if got, err := p.Get(ctx, key3); err != nil || got != value1 {
				t.Errorf("plugin reads the Go store's record: %q, %v", got, err)
			}
			// Long content shown as quoted character-strings is joined.
			long := strings.Repeat("0123456789abcdef", 16) + "00ff"
			const key4 = "4444444444444444444444444444444444444444"
			f.add(fakeRecord{Zone: zoneID, Name: key4 + ".wgstun.example.com", Type: "TXT", Content: `"` + long[:255] + `" "` + long[255:] + `"`, TTL: 1})
			if got, err := p.Get(ctx, key4); err != nil || got != long {
				t.Errorf("split content: %q, %v", got, err)
			}
			if strings.Contains(logw.String(), token) {
				t.Errorf("token in the log: %s", logw.String())
			}
		})
	}
}

func TestShellPluginErrors(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			ctx := context.Background()
			for _, tc := range []struct {
				name, conf string
				setup      func(f *fakeCF)
				want       string
			}{
				{"token rejected", "CF_API_TOKEN=wrongtoken\nCF_ZONE=example.com\n", nil, "rejected the API token"},
				{"unknown zone", "CF_API_TOKEN_FILE=@TOKENFILE@\nCF_ZONE=missing.example\n", nil, "zone missing.example not found"},
				{"server error", "CF_API_TOKEN_FILE=@TOKENFILE@\nCF_ZONE=example.com\n", func(f *fakeCF) {
					f.fail(fault{status: 500, body: `{"success":false,"errors":[{"code":10002,"message":"internal trouble"}],"messages":[],"result":null}`})
				}, "HTTP 500: internal trouble"},
				{"rate limited", "CF_API_TOKEN_FILE=@TOKENFILE@\nCF_ZONE=example.com\n", func(f *fakeCF) {
					f.fail(fault{status: 429, header: map[string]string{"Retry-After": "30"}})
				}, "rate limited"},
				{"garbage", "CF_API_TOKEN_FILE=@TOKENFILE@\nCF_ZONE=example.com\n", func(f *fakeCF) {
					f.fail(fault{status: 200, body: "<html>hello</html>"})
				}, "not an API answer"},
				{"no token", "CF_ZONE=example.com\n", nil, "no API token"},
				{"unknown key", "CF_API_TOKEN_FILE=@TOKENFILE@\nCF_ZONE=example.com\nCF_ZONEID=x\n", nil, "unknown key CF_ZONEID"},
				{"bad zone", "CF_API_TOKEN_FILE=@TOKENFILE@\nCF_ZONE=exa mple.com\n", nil, "CF_ZONE and CF_SUBDOMAIN take"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					f := newFakeCF(t, token, zones())
					if tc.setup != nil {
						tc.setup(f)
					}
					var logw bytes.Buffer
					p := pluginStore(t, sh, tc.conf+"CF_API="+f.api()+"\n", &logw)
					_, err := p.Get(ctx, key1)
					if err == nil || !strings.Contains(err.Error(), tc.want) {
						t.Fatalf("get: %v; want an error with %q", err, tc.want)
					}
					noToken(t, err)
					if strings.Contains(logw.String(), token) {
						t.Errorf("token in the log: %s", logw.String())
					}
				})
			}
		})
	}
}

// CF_ZONE_ID alone: the zone's name is asked for once per call; the
// environment configures the plugin when no file is given, through the
// variables the store's env names (a variable it does not name, CF_TTL
// here, does not reach the plugin).
func TestShellPluginZoneID(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			f := newFakeCF(t, token, zones())
			t.Setenv("CF_API_TOKEN", token)
			t.Setenv("CF_ZONE_ID", zoneID)
			t.Setenv("CF_API", f.api())
			t.Setenv("CF_TTL", "300")
			t.Setenv("PATH", sh.path)
			p := store.NewShell(sh.command, []string{scriptPath(t)}, store.PluginOptions{Timeout: 20 * time.Second,
				Env: []string{"CF_API_TOKEN", "CF_ZONE_ID", "CF_API"}})
			ctx := context.Background()
			if err := p.Set(ctx, key1, value1); err != nil {
				t.Fatal(err)
			}
			fqdn := key1 + ".example.com"
			checkRequests(t, f.requests(), []want{
				{"GET", "/zones/" + zoneID, nil, ""},
				{"GET", "/zones/" + zoneID + "/dns_records", url.Values{"type": {"TXT"}, "name": {fqdn}}, ""},
				{"POST", "/zones/" + zoneID + "/dns_records", nil, `{"type":"TXT","name":"` + fqdn + `","content":"` + value1 + `","ttl":1}`},
			})
			s := newTestStore(t, f, func(c *config.Store) { c.Subdomain = "" })
			if got, err := s.Get(ctx, key1); err != nil || got != value1 {
				t.Errorf("Go store reads it: %q, %v", got, err)
			}
		})
	}
}
