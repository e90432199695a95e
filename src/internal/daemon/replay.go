package daemon

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/record"
)

// Replay protection across restarts. The guard remembers, per peer, the
// newest record time it accepted; the daemon keeps that in the state
// directory (daemon.state_dir), in a file named after the configuration
// file (wgstun.toml: wgstun.replay, so that two daemons with their own
// configurations can share the directory), one "public-key
// unix-milliseconds" line per peer, written at most every replaySaveEvery when it changed and at
// shutdown (atomically: a temporary file renamed over the old one), and
// read back at start. A record older than the restored time is refused as
// before the restart. Records are also refused when sealed longer ago than
// daemon.max_record_age plus the longest refresh (guardMaxAge), which
// bounds what a lost or deleted state file lets through.
const (
	maxReplayFile   = 1 << 20
	replaySaveEvery = time.Minute
)

// guardMaxAge is the guard's MaxAge for cfg.
func guardMaxAge(cfg *config.Config) time.Duration {
	longest := time.Duration(0)
	for _, ic := range cfg.Interfaces {
		longest = max(longest, ic.Refresh)
	}
	return cfg.MaxRecordAge + longest
}

// loadReplay restores the guard from the state file. A missing file is
// a first start; a bad line is skipped (and counted in one log line); a
// time further ahead than the guard's skew allowance is skipped too, as it
// would lock the peer out until then.
func (d *Daemon) loadReplay() {
	if d.cfg.StateDir == "" {
		return // not kept (a Config made in code; a loaded one has the default)
	}
	path := filepath.Join(d.cfg.StateDir, replayName(d.cfg))
	b, err := readState(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		d.log.Warn("replay state not read; records are held to max_record_age only until it is written again", "path", path, "err", err)
		return
	}
	limit := d.deps.Now().Add(record.DefaultMaxSkew)
	bad, n := 0, 0
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		k, ms, _ := strings.Cut(line, " ")
		key, err1 := wgtypes.ParseKey(k)
		v, err2 := strconv.ParseInt(ms, 10, 64)
		if err1 != nil || err2 != nil || v <= 0 || time.UnixMilli(v).After(limit) {
			bad++
			continue
		}
		d.guard.Restore(key, time.UnixMilli(v))
		n++
	}
	d.saved = d.guard.Newest()
	if bad > 0 {
		d.log.Warn("replay state: lines not understood were ignored", "path", path, "lines", bad, "kept", n)
	}
}

// readState reads a state file: regular, not a symlink, at most
// maxReplayFile bytes.
func readState(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReplayFile+1))
	if err == nil && len(b) > maxReplayFile {
		err = fmt.Errorf("over %d bytes", maxReplayFile)
	}
	return b, err
}

// saveReplay writes the guard's state when it changed since the last
// write, and logs (once per kind of failure) when it cannot.
func (d *Daemon) saveReplay() {
	if d.cfg.StateDir == "" {
		return
	}
	cur := d.guard.Newest()
	if maps.EqualFunc(cur, d.saved, time.Time.Equal) {
		return
	}
	if err := writeState(d.cfg.StateDir, replayName(d.cfg), cur); err != nil {
		if msg := err.Error(); msg != d.saveErr {
			d.saveErr = msg
			d.log.Warn("replay state not written; a restart will hold records to max_record_age only", "dir", d.cfg.StateDir, "err", err)
		}
		return
	}
	d.saved, d.saveErr = cur, ""
}

// replayName is the state file's name for cfg.
func replayName(cfg *config.Config) string {
	base := strings.TrimSuffix(filepath.Base(cfg.Path), filepath.Ext(cfg.Path))
	if cfg.Path == "" || base == "" || base == "." || strings.HasPrefix(base, ".") {
		base = "wgstun"
	}
	return base + ".replay"
}

func writeState(dir, name string, newest map[wgtypes.Key]time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	lines := make([]string, 0, len(newest))
	for k, t := range newest {
		lines = append(lines, k.String()+" "+strconv.FormatInt(t.UnixMilli(), 10)+"\n")
	}
	slices.Sort(lines)
	tmp, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is there
	_, err = tmp.WriteString(strings.Join(lines, ""))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	return err
}
