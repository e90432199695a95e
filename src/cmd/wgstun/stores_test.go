package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
)

func TestNewStoreNotBuilt(t *testing.T) {
	for typ, tag := range storeTags {
		if _, built := storeTypes[typ]; built {
			continue // this test binary was built with the tag
		}
		_, err := newStore(config.Store{Name: "n", Type: typ}, logfmt.Discard())
		if !errors.Is(err, errNotBuilt) || !strings.Contains(err.Error(), "-tags "+tag) || !strings.Contains(err.Error(), "store n:") {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if _, err := newStore(config.Store{Name: "n", Type: "etcd"}, logfmt.Discard()); err == nil || errors.Is(err, errNotBuilt) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestCheckStores(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "tsig.key")
	if err := os.WriteFile(key, []byte("c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := `[stun]
servers = ["s:3478"]
[store.good]
type = "rfc2136"
server = "192.0.2.53"
zone = "z.example"
tsig_key = "k"
tsig_secret_file = "` + key + `"
[store.nofile]
type = "rfc2136"
server = "192.0.2.53"
zone = "z.example"
tsig_key = "k"
tsig_secret_file = "` + filepath.Join(dir, "missing") + `"
[store.env]
type = "cloudflare"
zone = "example.com"
token_env = "WGSTUN_TEST_SURELY_UNSET"
[store.f]
type = "file"
path = "/x"
[[interface]]
name = "wg0"
store = "f"
`
	cfg, err := config.Parse("x.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	errs, warnings := checkStores(cfg)
	joined := strings.Join(errs, "\n")
	if !strings.Contains(joined, "store nofile: secret not available") {
		t.Errorf("missing secret file not an error:\n%s", joined)
	}
	if strings.Contains(joined, "store good: secret") || strings.Contains(joined, "store f") {
		t.Errorf("good stores reported:\n%s", joined)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "WGSTUN_TEST_SURELY_UNSET is not set here; the daemon's environment must have it") {
		t.Errorf("warnings %q", warnings)
	}
	for _, typ := range []string{config.StoreRFC2136, config.StoreCloudflare} {
		if _, built := storeTypes[typ]; !built && !strings.Contains(joined, "type "+typ+" is not in this build") {
			t.Errorf("%s not built but not reported:\n%s", typ, joined)
		}
	}
}

// TestCheckRejectsWhatRunRejects: `wgstun check` refuses a file store
// whose path is a file and a TSIG secret that is not base64, as `wgstun
// run` does, and never calls such a configuration valid; a good one gets
// its plan, network stores named by their type.
func TestCheckRejectsWhatRunRejects(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	bad := filepath.Join(dir, "bad.key")
	for p, b := range map[string]string{plain: "x", bad: "not base64!\n"} {
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write := func(stores string) string {
		p := filepath.Join(dir, "c.toml")
		doc := "[stun]\nservers = [\"192.0.2.1:3478\"]\n" + stores + "[[interface]]\nname = \"wg0\"\nstore = \"f\"\n"
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ stores, want string }{
		{"[store.f]\ntype = \"file\"\npath = \"" + plain + "\"\n", "store f: " + plain + " is not a directory"},
		{"[store.f]\ntype = \"file\"\npath = \"" + dir + "\"\n[store.dns]\ntype = \"rfc2136\"\nserver = \"192.0.2.53\"\nzone = \"z.example\"\ntsig_key = \"k\"\ntsig_secret_file = \"" + bad + "\"\n",
			"store dns: TSIG secret in " + bad + " is not base64"},
	} {
		var out, errb strings.Builder
		if rc := cmdCheck([]string{"-c", write(tc.stores)}, &out, &errb); rc != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("check: exit %d, stderr %q; want 2 and %q", rc, errb.String(), tc.want)
		}
		if strings.Contains(out.String(), "valid") {
			t.Errorf("check called it valid:\n%s", out.String())
		}
	}
	var b strings.Builder
	printPlan(&b, &config.Config{Stores: map[string]config.Store{
		"dns": {Type: config.StoreRFC2136, Zone: "z.example", Server: "192.0.2.53:53", TSIGKey: "k", Timeout: time.Second},
		"cf":  {Type: config.StoreCloudflare, Zone: "example.com", Timeout: time.Second},
		"dht": {Type: config.StoreOpenDHT, Endpoints: []string{"http://192.0.2.9:8080"}, Timeout: time.Second},
	}})
	for _, want := range []string{"  dns: rfc2136, zone z.example on server 192.0.2.53:53, TSIG key k", "  cf: cloudflare, zone example.com", "  dht: opendht, endpoints http://192.0.2.9:8080"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "plugin") {
		t.Errorf("network stores shown as plugins:\n%s", b.String())
	}
}
