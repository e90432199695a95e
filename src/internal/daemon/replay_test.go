package daemon

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/record"
)

// TestReplayAcrossRestart: the newest record time accepted from a peer is
// written to the state directory and read back by the next daemon, which
// then refuses an older record as the first one did.
func TestReplayAcrossRestart(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	dir := filepath.Join(t.TempDir(), "state")
	cfg := &config.Config{Path: "/etc/wgstun/home.toml", StateDir: dir, MaxRecordAge: 24 * time.Hour}
	peer := wgtypes.Key{7}
	d1 := New(cfg, "t", logfmt.Discard(), Deps{Now: func() time.Time { return now }})
	d1.loadReplay() // nothing there yet
	if _, err := d1.guard.Accept(peer, record.Endpoints{Time: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	d1.saveReplay()
	fi, err := os.Stat(filepath.Join(dir, "home.replay"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v", fi, err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v", di.Mode())
	}

	d2 := New(cfg, "t", logfmt.Discard(), Deps{Now: func() time.Time { return now }})
	d2.loadReplay()
	if _, err := d2.guard.Accept(peer, record.Endpoints{Time: now.Add(-2 * time.Minute)}); !errors.Is(err, record.ErrStale) {
		t.Fatalf("an older record after the restart: %v, want ErrStale", err)
	}
	if _, err := d2.guard.Accept(peer, record.Endpoints{Time: now.Add(-time.Minute)}); err != nil {
		t.Fatalf("the same record after the restart: %v", err)
	}
}

// TestReplayHostileState: garbage lines and a time from the future are
// skipped (one log line), the good lines kept; a state file that is a
// symlink is not read.
func TestReplayHostileState(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	dir := t.TempDir()
	good, future := wgtypes.Key{1}, wgtypes.Key{2}
	body := good.String() + " " + "1799999000000\n" + "garbage\n" + "x 12\n" +
		future.String() + " " + "1900000000000\n" + strings.Repeat("z", 300) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "wgstun.replay"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg := &config.Config{StateDir: dir, MaxRecordAge: 24 * time.Hour}
	d := New(cfg, "t", logfmt.New(&logs, nil), Deps{Now: func() time.Time { return now }})
	d.loadReplay()
	got := d.guard.Newest()
	if len(got) != 1 || !got[good].Equal(time.UnixMilli(1799999000000)) {
		t.Fatalf("restored %v", got)
	}
	if !strings.Contains(logs.String(), "lines=4 kept=1") {
		t.Errorf("log: %s", logs.String())
	}

	link := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "wgstun.replay"), filepath.Join(link, "wgstun.replay")); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	d = New(&config.Config{StateDir: link, MaxRecordAge: time.Hour}, "t", logfmt.New(&logs, nil), Deps{Now: func() time.Time { return now }})
	d.loadReplay()
	if len(d.guard.Newest()) != 0 || !strings.Contains(logs.String(), "not a regular file") {
		t.Fatalf("a symlinked state file was read: %v\n%s", d.guard.Newest(), logs.String())
	}
}
