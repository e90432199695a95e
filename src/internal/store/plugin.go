package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/wgstun/wgstun/src/internal/logfmt"
)

// Limits of one plugin call.
const (
	// DefaultPluginTimeout applies when a plugin is configured with a zero
	// or negative timeout.
	DefaultPluginTimeout = 10 * time.Second
	// MaxPluginStdout is how much output a plugin may write; more is an
	// error and the plugin is killed.
	MaxPluginStdout = 64 << 10
	// maxPluginStderr is how much of stderr is kept for the log; the rest
	// is discarded without disturbing the plugin.
	maxPluginStderr = 4 << 10
	// pluginWaitDelay bounds how long we wait for the output pipes to close
	// after the plugin exited or was killed, in case a descendant outside
	// its process group still holds them.
	pluginWaitDelay = time.Second
	// errorExcerpt is how much plugin text goes into an error message.
	errorExcerpt = 256
)

var errOutputTooLarge = errors.New("output too large")

// PluginOptions are what a plugin store takes besides its command.
type PluginOptions struct {
	// Env names the daemon's environment variables the plugin gets
	// besides PATH, HOME and LANG (see pluginEnv); it gets no others.
	Env []string
	// Secrets are values never to show: they are cut out of the plugin's
	// stderr before it is logged or put in an error (the daemon passes
	// every store's configured secret).
	Secrets []string
	// Timeout bounds one call; zero means DefaultPluginTimeout.
	Timeout time.Duration
	// Log gets the plugin's stderr; nil discards it.
	Log *logfmt.Logger
}

// plugin runs one process per call and holds what Exec and Shell share:
// the timeout, the output caps, the environment, the process group that
// is killed as a whole, and stderr logging.
type plugin struct {
	kind    string // "exec" or "shell", for messages
	command string
	args    []string
	env     []string // NAME=value, built once
	secrets []string
	timeout time.Duration
	log     *logfmt.Logger
}

func newPlugin(kind, command string, args []string, o PluginOptions) plugin {
	if o.Timeout <= 0 {
		o.Timeout = DefaultPluginTimeout
	}
	if o.Log == nil {
		o.Log = logfmt.Discard()
	}
	env, secrets := pluginEnv(o.Env)
	return plugin{kind: kind, command: command, args: append([]string(nil), args...), env: env,
		secrets: append(secrets, o.Secrets...), timeout: o.Timeout, log: o.Log}
}

// pluginEnv is a plugin's whole environment: PATH (a default one when
// the daemon has none), HOME and LANG, then the named variables, each as
// the daemon has it (an unset one is left out). It also returns the
// values of named variables whose names say they hold a secret (TOKEN,
// SECRET, PASS, KEY, AUTH, CREDENTIAL), for redaction.
func pluginEnv(names []string) (env, secrets []string) {
	if _, ok := os.LookupEnv("PATH"); !ok {
		env = append(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	}
	for _, n := range append([]string{"PATH", "HOME", "LANG"}, names...) {
		v, ok := os.LookupEnv(n)
		if !ok || slices.Contains(env, n+"="+v) {
			continue
		}
		env = append(env, n+"="+v)
		u := strings.ToUpper(n)
		for _, w := range []string{"TOKEN", "SECRET", "PASS", "KEY", "AUTH", "CREDENTIAL"} {
			if strings.Contains(u, w) && len(v) >= 4 {
				secrets = append(secrets, v)
				break
			}
		}
	}
	return env, secrets
}

func (p *plugin) String() string { return p.kind + ":" + p.command }

// errorf wraps an error of one call, naming plugin, command and action.
func (p *plugin) errorf(action, format string, a ...any) error {
	return fmt.Errorf("store: %s plugin %s %s: "+format, append([]any{p.kind, p.command, action}, a...)...)
}

// run starts the plugin with stdin, waits for it and returns its stdout
// when it exits with status 0. The process is always reaped, and its whole
// process group is killed on timeout, on cancellation, when stdout exceeds
// MaxPluginStdout, and after it exits (so nothing it started lingers).
// stderr, if any, is logged at warn level with secrets redacted; secrets
// are also kept out of error messages.
func (p *plugin) run(ctx context.Context, action, key string, stdin []byte, secrets ...string) ([]byte, error) {
	if p.command == "" {
		return nil, p.errorf(action, "no command configured")
	}
	runCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	stdout := &cappedBuffer{max: MaxPluginStdout, onOverflow: cancel}
	stderr := &cappedBuffer{max: maxPluginStderr}
	cmd := exec.CommandContext(runCtx, p.command, p.args...)
	cmd.Env = p.env
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = pluginWaitDelay
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return killProcessGroup(cmd.Process) }

	if err := startPlugin(cmd); err != nil {
		return nil, p.errorf(action, "start: %w", err)
	}
	waitErr := cmd.Wait()
	pluginDone(cmd)
	// The leader is reaped; kill whatever it left behind in its group.
	// The group id cannot belong to anyone else while a member lives, and
	// if none does the kill finds nothing. Then what left the group
	// (setsid) and was orphaned to the daemon (see reaper_linux.go).
	_ = killProcessGroup(cmd.Process)
	if n := killOrphans(); n > 0 {
		p.log.Warn("store plugin left processes outside its process group; killed them",
			"plugin", p.kind, "command", p.command, "action", action, "key", key, "processes", n)
	}

	// stdout and stderr are complete: Wait has returned.
	errText := redact(string(bytes.TrimSpace(stderr.buf)), append(secrets, p.secrets...))
	if errText != "" {
		p.log.Warn("store plugin wrote to stderr",
			"plugin", p.kind, "command", p.command, "action", action, "key", key,
			"stderr", errText, "stderr_truncated", stderr.overflow)
	}

	switch {
	case stdout.overflow:
		return nil, p.errorf(action, "stdout exceeds %d bytes; plugin killed", MaxPluginStdout)
	case waitErr == nil:
		return stdout.buf, nil
	case errors.Is(waitErr, exec.ErrWaitDelay):
		// It exited with status 0, but something it started kept the
		// output open; that has been killed and the output is complete.
		p.log.Warn("store plugin left a process holding its output open; killed it",
			"plugin", p.kind, "command", p.command, "action", action, "key", key)
		return stdout.buf, nil
	case runCtx.Err() != nil:
		if ctx.Err() != nil {
			return nil, p.errorf(action, "canceled, plugin killed: %w", ctx.Err())
		}
		return nil, p.errorf(action, "timed out after %v, plugin killed: %w", p.timeout, runCtx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(waitErr, &exitErr) {
		if errText != "" {
			return nil, p.errorf(action, "%v: %s", exitErr, truncate(errText, errorExcerpt))
		}
		return nil, p.errorf(action, "%v (no stderr)", exitErr)
	}
	return nil, p.errorf(action, "%w", waitErr)
}

// cappedBuffer keeps at most max bytes. On overflow it calls onOverflow
// and fails the write (so the copy stops), or, without onOverflow,
// silently drops the excess.
type cappedBuffer struct {
	buf        []byte
	max        int
	overflow   bool
	onOverflow func()
}

func (c *cappedBuffer) Write(b []byte) (int, error) {
	room := c.max - len(c.buf)
	if len(b) <= room {
		c.buf = append(c.buf, b...)
		return len(b), nil
	}
	c.buf = append(c.buf, b[:room]...)
	if !c.overflow {
		c.overflow = true
		if c.onOverflow != nil {
			c.onOverflow()
		}
	}
	if c.onOverflow != nil {
		return room, errOutputTooLarge
	}
	return len(b), nil
}

// minRedactHex is the shortest hex run treated as a record value: a sealed
// record is at least a 24-byte nonce and a 16-byte tag (80 hex digits).
// Keys (40) stay readable.
const minRedactHex = 80

// redact removes the given secrets and every long hex run (a record value,
// whichever call it came from) from plugin text before it is logged.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "<redacted>")
		}
	}
	var out strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && isHexDigit(s[j]) {
			j++
		}
		if j-i >= minRedactHex {
			out.WriteString("<redacted>")
		} else {
			out.WriteString(s[i:j])
		}
		if j < len(s) {
			out.WriteByte(s[j])
			j++
		}
		i = j
	}
	return out.String()
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
