package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPluginSetsidEscapeKilled: a plugin that starts a process in a new
// session (out of its process group) does not leave it running, whether
// the plugin exits or times out, and the log says what was killed.
func TestPluginSetsidEscapeKilled(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		timeout    time.Duration
	}{
		{"plugin exits", `setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > "$1/pid"; echo ab`, 5 * time.Second},
		{"plugin times out", `setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > "$1/pid"; sleep 1000`, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log, logs := testLogger()
			s := NewShell(writeScript(t, tc.body), []string{dir}, PluginOptions{Timeout: tc.timeout, Log: log})
			_, _ = s.Get(context.Background(), testKey)
			pid := readPid(t, filepath.Join(dir, "pid"))
			waitGone(t, "the setsid sleep", pid)
			if !strings.Contains(logs.String(), "left processes outside its process group; killed them") {
				t.Errorf("log does not say so:\n%s", logs.String())
			}
		})
	}
}
