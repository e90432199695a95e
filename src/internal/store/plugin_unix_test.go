//go:build unix

package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wgstun/wgstun/src/internal/logfmt"
)

// kvExecPlugin is a file-backed key/value plugin in stunmesh-go's exec
// protocol, written as a user would write one: sed pulls the fields out of
// the request line. $1 is its data directory.
const kvExecPlugin = `#!/bin/sh
dir=$1
IFS= read -r line
action=$(printf '%s' "$line" | sed -n 's/.*"action":"\([a-z]*\)".*/\1/p')
key=$(printf '%s' "$line" | sed -n 's/.*"key":"\([0-9a-f]*\)".*/\1/p')
value=$(printf '%s' "$line" | sed -n 's/.*"value":"\([0-9a-fA-F]*\)".*/\1/p')
case $action in
get)
	if [ -f "$dir/$key" ]; then
		printf '{"success":true,"value":"%s"}\n' "$(cat "$dir/$key")"
	else
		printf '{"success":true}\n'
	fi ;;
set)
	printf '%s' "$value" > "$dir/$key" || { printf '{"success":false,"error":"cannot write"}\n'; exit 0; }
	printf '{"success":true}\n' ;;
*)
	printf '{"success":false,"error":"unknown action %s"}\n' "$action" ;;
esac
`

// kvShellPlugin is the same store in stunmesh-go's shell protocol.
const kvShellPlugin = `#!/bin/sh
dir=$1
while IFS='=' read -r k v; do
	case $k in
	STUNMESH_ACTION) action=$v ;;
	STUNMESH_KEY) key=$v ;;
	STUNMESH_VALUE) value=$v ;;
	esac
done
case $action in
get) [ -f "$dir/$key" ] && cat "$dir/$key"; exit 0 ;;
set) printf '%s\n' "$value" > "$dir/$key" ;;
*) echo "unknown action $action" >&2; exit 2 ;;
esac
`

// writeScript writes an executable sh script into a fresh directory.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	if !strings.HasPrefix(body, "#!") {
		body = "#!/bin/sh\n" + body
	}
	path := filepath.Join(t.TempDir(), "plugin.sh")
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a log sink safe to read while a plugin call may log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*logfmt.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	level := new(logfmt.LevelVar)
	level.Set(logfmt.LevelDebug)
	return logfmt.New(buf, level), buf
}

func TestPluginsRoundTrip(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		new  func(cmd string, args []string) Store
		body string
	}{
		{"exec", func(c string, a []string) Store { return NewExec(c, a, PluginOptions{Timeout: 5 * time.Second}) }, kvExecPlugin},
		{"shell", func(c string, a []string) Store { return NewShell(c, a, PluginOptions{Timeout: 5 * time.Second}) }, kvShellPlugin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			s := tt.new(writeScript(t, tt.body), []string{data})
			if _, err := s.Get(ctx, testKey); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get before Set: %v, want ErrNotFound", err)
			}
			if err := s.Set(ctx, testKey, testValue); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, testKey)
			if err != nil || got != testValue {
				t.Fatalf("Get = %q, %v; want %q", got, err, testValue)
			}
			if _, err := s.Get(ctx, testKey2); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get of other key: %v, want ErrNotFound", err)
			}
			// The plugin really stored it where it says.
			raw, err := os.ReadFile(filepath.Join(data, testKey))
			if err != nil || strings.TrimSpace(string(raw)) != testValue {
				t.Errorf("plugin data file = %q, %v", raw, err)
			}
			if err := s.Set(ctx, "../"+testKey[3:], testValue); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Set with bad key: %v, want ErrInvalidKey", err)
			}
			if err := s.Set(ctx, testKey, "ab\nSTUNMESH_ACTION=get"); !errors.Is(err, ErrInvalidValue) {
				t.Errorf("Set with non-hex value: %v, want ErrInvalidValue", err)
			}
		})
	}
}

func TestExecPluginReplies(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		body    string
		set     bool
		want    string
		wantErr error  // sentinel, if any
		errHas  string // substring of the error, if any
	}{
		{"value", `echo '{"success":true,"value":"abcd"}'`, false, "abcd", nil, ""},
		{"leading whitespace, value padded", "printf '\\n  {\"success\":true,\"value\":\" abcd\\\\n\"}'", false, "abcd", nil, ""},
		{"trailing garbage ignored", `echo '{"success":true,"value":"abcd"} and then {"success":false} junk'; echo '[[['`, false, "abcd", nil, ""},
		{"second object ignored", `echo '{"success":true,"value":"aa"}{"success":true,"value":"bb"}'`, false, "aa", nil, ""},
		{"unknown fields ignored", `echo '{"success":true,"value":"ab","extra":[1,2]}'`, false, "ab", nil, ""},
		{"empty value not found", `echo '{"success":true,"value":""}'`, false, "", ErrNotFound, ""},
		{"null value not found", `echo '{"success":true,"value":null}'`, false, "", ErrNotFound, ""},
		{"set ignores value", `cat >/dev/null; echo '{"success":true,"value":"zz"}'`, true, "", nil, ""},
		{"success false", `echo '{"success":false,"error":"bucket is read-only"}'`, false, "", nil, "plugin reported failure: bucket is read-only"},
		{"success false no text", `echo '{"success":false}'`, true, "", nil, "no error text"},
		{"missing success", `echo '{"value":"abcd"}'`, false, "", nil, "plugin reported failure"},
		{"success not bool", `echo '{"success":"true"}'`, false, "", nil, "plugin output object"},
		{"not json", `echo 'hello world'`, false, "", nil, "plugin output is not JSON"},
		{"array", `echo '["success"]'`, false, "", nil, "does not begin with a JSON object"},
		{"truncated json", `printf '{"success":tr'`, false, "", nil, "not JSON"},
		{"no output", `exit 0`, false, "", nil, "no output"},
		{"exit status", `echo 'disk on fire' >&2; echo '{"success":true,"value":"ab"}'; exit 3`, false, "", nil, "exit status 3: disk on fire"},
		{"exit status no stderr", `exit 4`, true, "", nil, "exit status 4 (no stderr)"},
		{"killed by signal", `kill -TERM $$`, false, "", nil, "signal: terminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewExec(writeScript(t, tt.body), nil, PluginOptions{Timeout: 5 * time.Second})
			var got string
			var err error
			if tt.set {
				err = s.Set(ctx, testKey, testValue)
			} else {
				got, err = s.Get(ctx, testKey)
			}
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
			case tt.errHas != "":
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error = %v, want one containing %q", err, tt.errHas)
				}
				if errors.Is(err, ErrNotFound) {
					t.Errorf("failure %v matches ErrNotFound", err)
				}
			case err != nil:
				t.Fatalf("error = %v", err)
			}
			if got != tt.want {
				t.Errorf("value = %q, want %q", got, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), testValue) {
				t.Errorf("error %q contains the value", err)
			}
		})
	}
}

func TestShellPluginReplies(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		body    string
		set     bool
		want    string
		wantErr error
		errHas  string
	}{
		{"trimmed stdout", `printf '\n  abcd \n\n'`, false, "abcd", nil, ""},
		{"empty stdout not found", `exit 0`, false, "", ErrNotFound, ""},
		{"whitespace stdout not found", `echo '   '`, false, "", ErrNotFound, ""},
		{"set succeeds on exit 0", `cat >/dev/null`, true, "", nil, ""},
		{"failure carries stderr", `echo 'no such bucket' >&2; exit 1`, false, "", nil, "exit status 1: no such bucket"},
		{"set failure", `echo 'read-only' >&2; exit 5`, true, "", nil, "exit status 5: read-only"},
		{"stdout ignored on failure", `echo abcd; exit 1`, false, "", nil, "exit status 1 (no stderr)"},
		{"stdin is exactly the protocol", `in=$(cat); [ "$in" = "$(printf 'STUNMESH_ACTION=set\nSTUNMESH_KEY=` + testKey + `\nSTUNMESH_VALUE=` + testValue + `')" ] || { echo "bad stdin: $in" >&2; exit 1; }`, true, "", nil, ""},
		{"get stdin is exactly the protocol", `in=$(cat); [ "$in" = "$(printf 'STUNMESH_ACTION=get\nSTUNMESH_KEY=` + testKey + `')" ] && echo ok || { echo "bad stdin" >&2; exit 1; }`, false, "ok", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewShell(writeScript(t, tt.body), nil, PluginOptions{Timeout: 5 * time.Second})
			var got string
			var err error
			if tt.set {
				err = s.Set(ctx, testKey, testValue)
			} else {
				got, err = s.Get(ctx, testKey)
			}
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
			case tt.errHas != "":
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error = %v, want one containing %q", err, tt.errHas)
				}
			case err != nil:
				t.Fatalf("error = %v", err)
			}
			if got != tt.want {
				t.Errorf("value = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExecRequestLine(t *testing.T) {
	// The request is exactly one JSON line, as stunmesh-go sends it.
	dir := t.TempDir()
	body := `cat > "` + dir + `/stdin"; echo '{"success":true}'`
	s := NewExec(writeScript(t, body), nil, PluginOptions{Timeout: 5 * time.Second})
	if err := s.Set(context.Background(), testKey, testValue); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "stdin"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"set","key":"` + testKey + `","value":"` + testValue + `"}` + "\n"
	if string(got) != want {
		t.Errorf("stdin = %q, want %q", got, want)
	}
}

// readPid reads a pid a plugin wrote, waiting (bounded) for the write.
func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin did not write a pid to %s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processGone reports whether pid no longer runs. kill(pid, 0) failing
// with ESRCH is the answer; a zombie whose parent is not this process also
// counts, because an orphan is reparented to init, which may not reap
// (in this container PID 1 does not), and a zombie runs nothing.
func processGone(pid int) bool {
	if err := unix.Kill(pid, 0); err == unix.ESRCH {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(stat), ") ")
	if !ok {
		return false
	}
	fields := strings.Fields(rest)
	return len(fields) > 1 && (fields[0] == "Z" || fields[0] == "X") && fields[1] != strconv.Itoa(os.Getpid())
}

// waitGone waits (bounded) for pid to be gone; SIGKILL is asynchronous.
func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			_ = unix.Kill(pid, unix.SIGKILL) // do not leave it behind
			t.Fatalf("%s (pid %d) still running", what, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPluginHangKillsGroup(t *testing.T) {
	// The plugin starts a subshell that starts sleep 1000, and waits.
	// Leader, subshell and sleep must all be gone after the timeout.
	tests := []struct {
		name string
		new  func(cmd string) Store
	}{
		{"exec", func(c string) Store { return NewExec(c, nil, PluginOptions{Timeout: 300 * time.Millisecond}) }},
		{"shell", func(c string) Store { return NewShell(c, nil, PluginOptions{Timeout: 300 * time.Millisecond}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// On a loaded machine the timeout may fire before the plugin
			// got as far as starting sleep; such an attempt proves nothing
			// about the grandchild, so it is repeated (bounded).
			for attempt := 1; ; attempt++ {
				dir := t.TempDir()
				body := `( sleep 1000 & echo $! > "` + dir + `/grandchild"; wait )
echo '{"success":true}'
`
				s := tt.new(writeScript(t, body))
				start := time.Now()
				_, err := s.Get(context.Background(), testKey)
				elapsed := time.Since(start)
				if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 300ms") {
					t.Fatalf("error = %v, want a timeout", err)
				}
				if elapsed > 5*time.Second {
					t.Errorf("call took %v despite a 300ms timeout", elapsed)
				}
				b, err := os.ReadFile(filepath.Join(dir, "grandchild"))
				grandchild, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				if err != nil || grandchild <= 0 {
					if attempt == 5 {
						t.Fatalf("plugin never started its grandchild within 300ms in %d attempts", attempt)
					}
					t.Logf("attempt %d: killed before sleep started; again", attempt)
					continue
				}
				waitGone(t, "grandchild sleep", grandchild)
				return
			}
		})
	}
}

// TestPluginReaped checks that the plugin process itself is reaped (we are
// its parent, so it must vanish, not linger as a zombie), on success, on
// failure and on timeout.
func TestPluginReaped(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		timeout time.Duration
	}{
		{"success", `echo $$ > "$1/pid"; echo ab`, 5 * time.Second},
		{"failure", `echo $$ > "$1/pid"; exit 1`, 5 * time.Second},
		{"timeout", `echo $$ > "$1/pid"; exec sleep 1000`, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := NewShell(writeScript(t, tt.body), []string{dir}, PluginOptions{Timeout: tt.timeout})
			_, _ = s.Get(context.Background(), testKey)
			b, err := os.ReadFile(filepath.Join(dir, "pid"))
			if err != nil {
				t.Skipf("plugin was killed before it wrote its pid (loaded machine): %v", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Kill(pid, 0); err != unix.ESRCH {
				t.Errorf("plugin pid %d: kill(0) = %v, want ESRCH (reaped)", pid, err)
			}
		})
	}
}

func TestPluginLeftoversKilledAfterSuccess(t *testing.T) {
	tests := []struct {
		name string
		body string // writes the leftover's pid to $dir/pid
		want string
	}{
		{"background with closed output", `sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > "$1/pid"; echo '{"success":true,"value":"ab"}'`, "ab"},
		{"background holding stdout", `sleep 1000 & echo $! > "$1/pid"; echo '{"success":true,"value":"cd"}'`, "cd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			log, logs := testLogger()
			s := NewExec(writeScript(t, tt.body), []string{dir}, PluginOptions{Timeout: 5 * time.Second, Log: log})
			got, err := s.Get(context.Background(), testKey)
			if err != nil || got != tt.want {
				t.Fatalf("Get = %q, %v; want %q", got, err, tt.want)
			}
			waitGone(t, "leftover sleep", readPid(t, filepath.Join(dir, "pid")))
			if strings.Contains(tt.name, "holding") && !strings.Contains(logs.String(), "holding its output open") {
				t.Errorf("no warning about the held output; log: %s", logs)
			}
		})
	}
}

func TestPluginOutputCap(t *testing.T) {
	tests := []struct {
		name string
		new  func(cmd string) Store
		body string
	}{
		{"exec just over the cap", func(c string) Store { return NewExec(c, nil, PluginOptions{Timeout: 10 * time.Second}) }, `head -c 65537 /dev/zero | tr '\0' a`},
		{"exec endless", func(c string) Store { return NewExec(c, nil, PluginOptions{Timeout: 10 * time.Second}) }, `yes '{"success":true}'`},
		{"shell endless", func(c string) Store { return NewShell(c, nil, PluginOptions{Timeout: 10 * time.Second}) }, `while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.new(writeScript(t, tt.body))
			start := time.Now()
			_, err := s.Get(context.Background(), testKey)
			if err == nil || !strings.Contains(err.Error(), "stdout exceeds 65536 bytes") {
				t.Fatalf("error = %v, want output cap", err)
			}
			if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
				t.Errorf("cap enforced by the timeout, not at once (%v)", time.Since(start))
			}
		})
	}
	// Exactly at the cap is fine (shell: the whole output is the value).
	s := NewShell(writeScript(t, `head -c 65536 /dev/zero | tr '\0' a`), nil, PluginOptions{Timeout: 10 * time.Second})
	if got, err := s.Get(context.Background(), testKey); err != nil || len(got) != 65536 {
		t.Errorf("output at the cap: len %d, %v", len(got), err)
	}
}

func TestPluginStderrLogged(t *testing.T) {
	// The plugins echo their whole stdin to stderr, value included, as a
	// careless debug line would; the log must name the plugin and action
	// and show the text, but never the value.
	tests := []struct {
		name string
		new  func(cmd string, log *logfmt.Logger) Store
		body string
	}{
		{"exec", func(c string, l *logfmt.Logger) Store {
			return NewExec(c, nil, PluginOptions{Timeout: 5 * time.Second, Log: l})
		},
			`in=$(cat); echo "debug: request $in" >&2; echo '{"success":true,"value":"` + testValue + `"}'`},
		{"shell", func(c string, l *logfmt.Logger) Store {
			return NewShell(c, nil, PluginOptions{Timeout: 5 * time.Second, Log: l})
		},
			`in=$(cat); echo "debug: request $in" >&2; echo "` + testValue + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := testLogger()
			cmd := writeScript(t, tt.body)
			s := tt.new(cmd, log)
			if err := s.Set(context.Background(), testKey, testValue); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(context.Background(), testKey); err != nil || got != testValue {
				t.Fatalf("Get = %q, %v", got, err)
			}
			out := logs.String()
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Fatalf("want 2 log lines, got %d:\n%s", len(lines), out)
			}
			for i, action := range []string{"set", "get"} {
				for _, want := range []string{"level=WARN", "plugin=" + tt.name, "command=" + cmd, "action=" + action, "key=" + testKey, "debug: request"} {
					if !strings.Contains(lines[i], want) {
						t.Errorf("log line %d lacks %q: %s", i, want, lines[i])
					}
				}
			}
			if strings.Contains(out, testValue) || strings.Contains(out, testValue[:80]) {
				t.Errorf("log contains the value:\n%s", out)
			}
		})
	}
}

func TestPluginStderrCapped(t *testing.T) {
	log, logs := testLogger()
	s := NewShell(writeScript(t, `head -c 100000 /dev/zero | tr '\0' e >&2; echo ab`), nil, PluginOptions{Timeout: 5 * time.Second, Log: log})
	if got, err := s.Get(context.Background(), testKey); err != nil || got != "ab" {
		t.Fatalf("Get = %q, %v (a chatty stderr must not fail the call)", got, err)
	}
	out := logs.String()
	if !strings.Contains(out, "stderr_truncated=true") || len(out) > maxPluginStderr+1000 {
		t.Errorf("stderr not capped (log %d bytes)", len(out))
	}
}

func TestPluginStartAndCancel(t *testing.T) {
	t.Run("missing command", func(t *testing.T) {
		s := NewExec(filepath.Join(t.TempDir(), "nope"), nil, PluginOptions{})
		if _, err := s.Get(context.Background(), testKey); err == nil || !strings.Contains(err.Error(), "start:") {
			t.Errorf("error = %v, want a start error", err)
		}
	})
	t.Run("empty command", func(t *testing.T) {
		s := NewShell("", nil, PluginOptions{})
		if _, err := s.Get(context.Background(), testKey); err == nil || !strings.Contains(err.Error(), "no command") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("default timeout", func(t *testing.T) {
		if s := NewExec("x", nil, PluginOptions{}); s.p.timeout != DefaultPluginTimeout {
			t.Errorf("timeout = %v", s.p.timeout)
		}
		if s := NewShell("x", nil, PluginOptions{Timeout: -time.Second}); s.p.timeout != DefaultPluginTimeout {
			t.Errorf("timeout = %v", s.p.timeout)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		dir := t.TempDir()
		s := NewShell(writeScript(t, `sleep 1000 & echo $! > "$1/pid"; wait`), []string{dir}, PluginOptions{Timeout: 10 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		_, err := s.Get(ctx, testKey)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
		waitGone(t, "sleep", readPid(t, filepath.Join(dir, "pid")))
	})
	t.Run("string", func(t *testing.T) {
		if got := NewExec("/usr/lib/p", nil, PluginOptions{}).String(); got != "exec:/usr/lib/p" {
			t.Errorf("String = %q", got)
		}
		if got := NewShell("/usr/lib/p", nil, PluginOptions{}).String(); got != "shell:/usr/lib/p" {
			t.Errorf("String = %q", got)
		}
	})
}

// TestPluginEnvironment: a plugin gets PATH, HOME, LANG and what its env
// names, nothing else of the daemon's environment (the TSIG secret the
// daemon holds stays out), and a named secret it prints is cut out of the
// log and of the error.
func TestPluginEnvironment(t *testing.T) {
	t.Setenv("WGSTUN_TSIG", "c3VwZXJzZWNyZXQ=")
	t.Setenv("CF_API_TOKEN", "tok-123456789")
	t.Setenv("CF_ZONE", "example.com")
	t.Setenv("UNRELATED", "x")
	t.Setenv("LANG", "C.UTF-8")
	for _, tc := range []struct {
		kind string
		new  func(cmd string, o PluginOptions) Store
	}{
		{"exec", func(c string, o PluginOptions) Store { return NewExec(c, nil, o) }},
		{"shell", func(c string, o PluginOptions) Store { return NewShell(c, nil, o) }},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			log, logs := testLogger()
			s := tc.new(writeScript(t, `env | sort | tr '\n' ' ' >&2; exit 1`),
				PluginOptions{Env: []string{"CF_API_TOKEN", "CF_ZONE", "NOT_SET"}, Timeout: 5 * time.Second, Log: log})
			_, err := s.Get(context.Background(), testKey)
			if err == nil {
				t.Fatal("Get succeeded")
			}
			for what, text := range map[string]string{"error": err.Error(), "log": logs.String()} {
				for _, want := range []string{"PATH=", "LANG=C.UTF-8", "CF_ZONE=example.com", "CF_API_TOKEN=<redacted>"} {
					if !strings.Contains(text, want) {
						t.Errorf("%s lacks %q: %s", what, want, text)
					}
				}
				for _, not := range []string{"c3VwZXJzZWNyZXQ=", "WGSTUN_TSIG", "tok-123456789", "UNRELATED", "NOT_SET"} {
					if strings.Contains(text, not) {
						t.Errorf("%s has %q: %s", what, not, text)
					}
				}
			}
		})
	}
}
