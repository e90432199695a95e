package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/store"
	"github.com/wgstun/wgstun/src/internal/wg"
	"github.com/wgstun/wgstun/src/stun"
)

// closingStore is a file store that counts Close calls, as the opendht
// store (which republishes on its own) needs them.
type closingStore struct {
	store.Store
	closed atomic.Int32
}

func (c *closingStore) Close() error { c.closed.Add(1); return nil }

func TestStoresClosed(t *testing.T) {
	dir := t.TempDir()
	priv, _ := wgtypes.GeneratePrivateKey()
	fw := &fakeWG{devs: map[string]*wg.Device{"wgc": {
		Name: "wgc", Index: 3, PrivateKey: priv, PublicKey: priv.PublicKey(), ListenPort: 51820,
	}}}
	conn := newStunConn("203.0.113.10:40001")
	mk := func(path string) *config.Config {
		doc := "[daemon]\nsocket = \"" + filepath.Join(dir, "s.sock") + "\"\nstate_dir = \"" + dir + "/state\"\n[stun]\nservers = [\"198.51.100.1:3478\"]\n" +
			"[store.s]\ntype = \"file\"\npath = \"" + path + "\"\n[store.t]\ntype = \"file\"\npath = \"" + dir + "/t\"\n" +
			"[[interface]]\nname = \"wgc\"\nstore = \"s\"\n"
		cfg, err := config.Parse(filepath.Join(dir, "x.toml"), []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	made := map[string]*closingStore{}
	d := New(mk(dir+"/a"), "test", logfmt.Discard(), Deps{
		WG:       fw,
		OpenConn: func(uint16, bool, uint32, config.Interface) (stun.Conn, error) { return conn, nil },
		NewStore: func(s config.Store, _ *logfmt.Logger) (store.Store, error) {
			f, err := store.NewFile(s.Path)
			if err != nil {
				return nil, err
			}
			c := &closingStore{Store: f}
			made[s.Path] = c
			return c, nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, "running", func() bool { return len(d.board.snapshot().Interfaces) == 1 })

	// Store s moves: the old one is closed, t (unchanged) is not.
	if err := d.Reload(mk(dir + "/b")); err != nil {
		t.Fatal(err)
	}
	if made[dir+"/a"].closed.Load() != 1 || made[dir+"/t"].closed.Load() != 0 || made[dir+"/b"].closed.Load() != 0 {
		t.Fatalf("after reload: closed a=%d t=%d b=%d, want 1 0 0",
			made[dir+"/a"].closed.Load(), made[dir+"/t"].closed.Load(), made[dir+"/b"].closed.Load())
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	for _, p := range []string{dir + "/a", dir + "/b", dir + "/t"} {
		if got := made[p].closed.Load(); got != 1 {
			t.Errorf("store %s closed %d times at the end, want 1", filepath.Base(p), got)
		}
	}
}

// TestBuildStoresNamesOnce: a store's error that names the store already
// is not wrapped in its name again ("store dns: store dns: ..."); one that
// does not gets it.
func TestBuildStoresNamesOnce(t *testing.T) {
	for _, tc := range []struct{ err, want string }{
		{"store dns: TSIG secret in /k is not base64", "store dns: TSIG secret in /k is not base64"},
		{"store: file: create /x: denied", "store dns: store: file: create /x: denied"},
	} {
		d := New(&config.Config{}, "test", logfmt.Discard(), Deps{
			NewStore: func(config.Store, *logfmt.Logger) (store.Store, error) { return nil, errors.New(tc.err) },
		})
		_, err := d.buildStores(&config.Config{Stores: map[string]config.Store{"dns": {Name: "dns", Type: "rfc2136"}}}, nil, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("buildStores = %v, want %q", err, tc.want)
		}
	}
}
