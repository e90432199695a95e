package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
