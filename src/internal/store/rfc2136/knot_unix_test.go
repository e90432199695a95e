//go:build unix

package rfc2136

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/e2e"
	"github.com/wgstun/wgstun/src/internal/store"
)

// A real Knot DNS (knotd) in a network namespace of the test's own, on
// its loopback: zone wg.test. with an update ACL for key wgstun-key; a
// second key, other-key, is known to the server but not in the ACL.

const testZone = "wg.test."

// knotServer is a DNS server (knotd, or BIND's named) running in a
// network namespace of the test's own.
type knotServer struct {
	ns, dir, addr string
	secret        string // wgstun-key's, base64
	otherSecret   string // other-key's
	cmd           *exec.Cmd
}

// requireServer skips without root, ip, kdig or the server program,
// except under CI, where it fails: CI installs knot, knot-dnsutils and
// bind9 (scripts/deps.sh).
func requireServer(t testing.TB, server string) {
	t.Helper()
	var why []string
	if os.Geteuid() != 0 {
		why = append(why, "not root (the test makes a network namespace)")
	}
	for _, tool := range []string{"ip", "kdig", server} {
		if _, err := exec.LookPath(tool); err != nil {
			why = append(why, tool+" not found (Debian: apt-get install knot knot-dnsutils bind9 iproute2)")
		}
	}
	if len(why) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("DNS server tests cannot run in CI: %s", strings.Join(why, "; "))
	}
	t.Skipf("DNS server tests skipped: %s", strings.Join(why, "; "))
}

func randomSecret(t testing.TB) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func startKnot(t *testing.T) *knotServer {
	t.Helper()
	requireServer(t, "knotd")
	k := newServerNetns(t)
	conf := writeKnotConf(t, k.dir, "127.0.0.1@53", k.secret, k.otherSecret)
	k.run(t, "knotd", "-c", conf)
	return k
}

// newServerNetns makes a network namespace with loopback up (deleted when
// the test ends) and fresh secrets for a server to run in it.
func newServerNetns(t *testing.T) *knotServer {
	t.Helper()
	return &knotServer{ns: e2e.NewNetns(t, "wgr"), dir: t.TempDir(), addr: "127.0.0.1:53", secret: randomSecret(t), otherSecret: randomSecret(t)}
}

// run starts the server program in the namespace (killed when the test
// ends) and waits up to 10 s until it serves the test zone.
func (k *knotServer) run(t *testing.T, args ...string) {
	t.Helper()
	k.cmd = e2e.StartServer(t, k.ns, k.dir, func() bool {
		out, _ := k.kdig("+short", testZone, "SOA")
		return strings.Contains(out, "ns."+testZone)
	}, args...)
}

// writeKnotConf writes knot.conf and the zone file into dir; knotd listens
// on listen (Knot's addr@port). It returns the configuration's path.
func writeKnotConf(t testing.TB, dir, listen, secret, otherSecret string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`server:
    listen: %[2]s
    rundir: %[1]s
    user: root:root
log:
  - target: stderr
    any: info
database:
    storage: %[1]s/db
key:
  - id: wgstun-key
    algorithm: hmac-sha256
    secret: %[3]s
  - id: other-key
    algorithm: hmac-sha256
    secret: %[4]s
acl:
  - id: wgstun-update
    key: wgstun-key
    action: update
zone:
  - domain: %[5]s
    storage: %[1]s
    file: zone.txt
    zonefile-sync: -1
    acl: wgstun-update
`, dir, listen, secret, otherSecret, testZone)
	zone := "$TTL 60\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n"
	for name, body := range map[string]string{"knot.conf": conf, "zone.txt": zone} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "knot.conf")
}

// kdig queries the server with Knot's own client, bounded to 5 s.
func (k *knotServer) kdig(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	all := append([]string{"netns", "exec", k.ns, "kdig", "@127.0.0.1", "+timeout=1", "+retry=1"}, args...)
	out, err := exec.CommandContext(ctx, "ip", all...).CombinedOutput()
	return string(out), err
}

// store returns a Store for the server with key keyName and secret, dialing
// from inside the namespace.
func (k *knotServer) store(t *testing.T, keyName, secret string, timeout time.Duration) *Store {
	t.Helper()
	f := filepath.Join(t.TempDir(), "tsig.key")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(config.Store{
		Name: "dns", Type: config.StoreRFC2136, Server: k.addr, Zone: testZone, RecordName: "{key}.peers",
		TSIGKey: keyName, TSIGAlgorithm: "hmac-sha256", TSIGSecretFile: f, TTL: 30 * time.Second, Timeout: timeout,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := e2e.InNetns(k.ns, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)[:n]
}

// txtLines returns the TXT records at name as kdig prints them, one line
// each ("abc" "def").
func (k *knotServer) txtLines(t *testing.T, name string) []string {
	t.Helper()
	out, err := k.kdig("+short", "+tcp", name, "TXT")
	if err != nil {
		t.Fatalf("kdig %s TXT: %v: %s", name, err, out)
	}
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(out), "\" \"", "\"+\""))
}

func TestKnot(t *testing.T) {
	k := startKnot(t)
	s := k.store(t, "wgstun-key", k.secret, 2*time.Second)
	ctx := context.Background()
	key := func() string { return randomHex(40) }

	t.Run("round trip", func(t *testing.T) {
		kk, v := key(), randomHex(120)
		if err := s.Set(ctx, kk, v); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, kk)
		if err != nil || got != v {
			t.Fatalf("Get = %q, %v; want %q", got, err, v)
		}
		if lines := k.txtLines(t, kk+".peers."+testZone); len(lines) != 1 || lines[0] != `"`+v+`"` {
			t.Errorf("kdig sees %q, want one record \"%s\"", lines, v)
		}
	})

	t.Run("value over 255 bytes is several strings", func(t *testing.T) {
		for _, n := range []int{256, 400, 3000} { // 3000: the reply is over 1232 bytes, truncated on UDP
			kk, v := key(), randomHex(n)
			if err := s.Set(ctx, kk, v); err != nil {
				t.Fatalf("%d bytes: %v", n, err)
			}
			got, err := s.Get(ctx, kk)
			if err != nil || got != v {
				t.Fatalf("%d bytes: Get = %.20q... (%d bytes), %v", n, got, len(got), err)
			}
			lines := k.txtLines(t, kk+".peers."+testZone)
			if len(lines) != 1 {
				t.Fatalf("%d bytes: kdig sees %d records, want 1", n, len(lines))
			}
			parts := strings.Split(lines[0], "+")
			want := (n + 254) / 255
			if len(parts) != want {
				t.Errorf("%d bytes: record has %d strings, want %d", n, len(parts), want)
			}
			var joined string
			for i, p := range parts {
				p = strings.Trim(p, `"`)
				if i < len(parts)-1 && len(p) != 255 {
					t.Errorf("%d bytes: string %d is %d bytes, want 255", n, i, len(p))
				}
				joined += p
			}
			if joined != v {
				t.Errorf("%d bytes: kdig's strings do not join to the value", n)
			}
		}
	})

	t.Run("overwrite leaves one record", func(t *testing.T) {
		kk, v1, v2 := key(), randomHex(300), randomHex(200)
		for _, v := range []string{v1, v2, v2} {
			if err := s.Set(ctx, kk, v); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Get(ctx, kk)
		if err != nil || got != v2 {
			t.Fatalf("Get = %q, %v; want the second value", got, err)
		}
		if lines := k.txtLines(t, kk+".peers."+testZone); len(lines) != 1 {
			t.Errorf("kdig sees %d records, want 1: %q", len(lines), lines)
		}
	})

	t.Run("missing name is not found", func(t *testing.T) {
		_, err := s.Get(ctx, key())
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get = %v, want ErrNotFound", err)
		}
	})

	t.Run("name without TXT is not found", func(t *testing.T) {
		kk := key()
		if err := s.Set(ctx, kk, "ab"); err != nil {
			t.Fatal(err)
		}
		// ns.wg.test. has an A record only: NOERROR, no answer.
		_, err := s.get(ctx, "ns."+testZone)
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get ns = %v, want ErrNotFound", err)
		}
	})

	// One value every rejected writer below must leave alone.
	kk, v := key(), randomHex(260)
	if err := s.Set(ctx, kk, v); err != nil {
		t.Fatal(err)
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		if got, err := s.Get(ctx, kk); err != nil || got != v {
			t.Errorf("value changed: Get = %.20q, %v", got, err)
		}
	}

	for _, tc := range []struct {
		name, key, secret string
		want              error
		text              string
	}{
		{"wrong secret", "wgstun-key", randomSecret(t), ErrTSIG, "the server rejected our TSIG key wgstun-key: BADSIG"},
		{"unknown key", "nobody-key", k.secret, ErrTSIG, "the server rejected our TSIG key nobody-key: BADKEY"},
		// Knot answers a known key that the zone's ACL does not allow
		// with NOTAUTH and BADKEY, not REFUSED (BIND's answer; the
		// REFUSED path is a unit test).
		{"key not in the ACL", "other-key", k.otherSecret, ErrTSIG,
			"the server rejected our TSIG key other-key: BADKEY (the server does not know"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := k.store(t, tc.key, tc.secret, 2*time.Second)
			err := bad.Set(ctx, kk, randomHex(100))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("Set = %v\nwant %v containing %q", err, tc.want, tc.text)
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Error("the error holds the secret")
			}
			unchanged(t)
			if tc.want == ErrTSIG {
				_, err := bad.Get(ctx, kk)
				if !errors.Is(err, ErrTSIG) {
					t.Errorf("Get = %v, want ErrTSIG", err)
				}
			}
		})
	}

	t.Run("zone not on the server", func(t *testing.T) {
		other := k.store(t, "wgstun-key", k.secret, 2*time.Second)
		other.zone = "other.test."
		err := other.Set(ctx, key(), "ab")
		if !errors.Is(err, ErrNotZone) || !strings.Contains(err.Error(), "127.0.0.1:53 is not authoritative for zone other.test. (NOTAUTH)") {
			t.Errorf("Set = %v, want not authoritative for other.test.", err)
		}
	})

	t.Run("server stopped times out within the bound", func(t *testing.T) {
		short := k.store(t, "wgstun-key", k.secret, time.Second)
		if err := k.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// kill(2) returns before every thread has stopped; knotd answered
		// once within that window in CI.
		waitStopped(t, k.cmd.Process.Pid)
		defer k.cmd.Process.Signal(syscall.SIGCONT)
		late := randomHex(100) // small: UDP, resent
		for _, op := range []string{"get", "set"} {
			start := time.Now()
			var err error
			if op == "get" {
				_, err = short.Get(ctx, kk)
			} else {
				err = short.Set(ctx, kk, late)
			}
			took := time.Since(start)
			if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "no answer from 127.0.0.1:53 within 1s") {
				t.Errorf("%s = %v, want no answer within 1s", op, err)
			}
			if took < time.Second || took > 1500*time.Millisecond {
				t.Errorf("%s took %v, want about the 1s timeout", op, took)
			}
		}
		if err := k.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		// The timed-out UPDATE sat in the stopped server's socket buffer and
		// may be applied once it runs again, as with any DNS server: a
		// timeout means "unknown", not "not done". The value must be the old
		// one or the one sent, nothing else; the next Set settles it. The
		// pause lets the server drain its queue first.
		time.Sleep(300 * time.Millisecond)
		if got, err := s.Get(ctx, kk); err != nil || (got != v && got != late) {
			t.Errorf("after the stopped server resumed: Get = %.20q, %v; want the old value or the late one", got, err)
		}
		if err := s.Set(ctx, kk, v); err != nil {
			t.Fatalf("Set after resume: %v", err)
		}
		unchanged(t)
	})

	t.Run("server killed", func(t *testing.T) {
		short := k.store(t, "wgstun-key", k.secret, time.Second)
		_ = k.cmd.Process.Kill()
		_ = k.cmd.Wait()
		for _, v := range []string{randomHex(100), randomHex(400)} { // UDP, TCP
			start := time.Now()
			err := short.Set(ctx, kk, v)
			if !errors.Is(err, ErrNoAnswer) {
				t.Errorf("Set of %d bytes = %v, want ErrNoAnswer", len(v), err)
			}
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Errorf("Set took %v, over the 1s timeout", took)
			}
		}
	})
}

// waitStopped waits (at most 2 s) until every thread of pid is in the
// stopped state, as /proc shows it.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	if _, err := os.Stat("/proc/self/task"); err != nil {
		time.Sleep(200 * time.Millisecond) // no Linux /proc: give the signal time
		return
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := len(tasks) > 0
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			// The state follows the command name in parentheses: "pid (comm) S ...".
			i := strings.LastIndexByte(string(b), ')')
			if err != nil || i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("knotd (pid %d) did not stop within 2 s", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
