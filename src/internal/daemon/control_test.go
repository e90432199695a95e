package daemon

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/logfmt"
)

// TestListenControlPath: whatever sits at the socket path is looked at,
// never followed, and only a dead socket is replaced.
func TestListenControlPath(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		setup   func(path string)
		wantErr string // "" for a listening socket
	}{
		{"nothing there", func(string) {}, ""},
		{"missing directory", func(string) {}, ""},
		{"regular file", func(p string) { os.WriteFile(p, []byte("keep me"), 0o600) }, "something else is there (a regular file)"},
		{"directory", func(p string) { os.Mkdir(p, 0o700) }, "(a directory)"},
		{"symlink to a file", func(p string) { os.Symlink(target, p) }, "(a symlink)"},
		{"dead socket", func(p string) {
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			l.SetUnlinkOnClose(false)
			l.Close()
		}, ""},
		{"live socket", func(p string) {
			l, err := net.Listen("unix", p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}, "another wgstun is running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s")
			if tc.name == "missing directory" {
				path = filepath.Join(t.TempDir(), "run", "wgstun", "s")
			}
			tc.setup(path)
			before, _ := os.Lstat(path)
			l, err := listenControl(path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				l.Close()
				if fi, err := os.Stat(filepath.Dir(path)); tc.name == "missing directory" && (err != nil || fi.Mode().Perm() != 0o700) {
					t.Errorf("created directory: %v, %v; want mode 0700", fi.Mode(), err)
				}
				return
			}
			if err == nil {
				l.Close()
				t.Fatalf("listenControl succeeded over %s", tc.name)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q, want it to name %s and say %q", err, path, tc.wantErr)
			}
			after, lerr := os.Lstat(path)
			if lerr != nil || !os.SameFile(before, after) || after.Mode() != before.Mode() {
				t.Errorf("%s was touched: before %v, after %v (%v)", path, before, after, lerr)
			}
		})
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "keep me" {
		t.Errorf("symlink target now %q, %v", b, err)
	}
}

// TestControlSlowClient: a client that connects and never reads holds one
// slot, not the socket: others get their status at once; beyond
// maxControlConns stuck clients a new one is closed unanswered, and the
// socket serves again once their 2 s are up.
func TestControlSlowClient(t *testing.T) {
	d := &Daemon{log: logfmt.New(io.Discard, nil), board: newBoard("t", time.Now())}
	// A snapshot well over a unix socket's buffer, so that a write to a
	// client that does not read blocks.
	d.board.update("wg0", func(s *InterfaceStatus) {
		for range 3000 {
			s.Peers = append(s.Peers, PeerStatus{PublicKey: strings.Repeat("A", 43) + "=", State: StateConnected,
				Reason: "handshake 10s ago via 203.0.113.10:51820"})
		}
	})
	want := len(d.board.marshal())
	path := filepath.Join(t.TempDir(), "s")
	l, err := listenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.serveControl(ctx, l)

	query := func() (int, error) {
		c, err := net.Dial("unix", path)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(1500 * time.Millisecond)) // under the server's 2 s
		b, err := io.ReadAll(c)
		return len(b), err
	}
	var stuck []net.Conn
	defer func() {
		for _, c := range stuck {
			c.Close()
		}
	}()
	for i := range maxControlConns - 1 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		stuck = append(stuck, c)
		if n, err := query(); err != nil || n != want {
			t.Fatalf("with %d clients not reading: status of %d bytes, %v; want %d bytes", i+1, n, err, want)
		}
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stuck = append(stuck, c)
	time.Sleep(100 * time.Millisecond) // the server takes the last slot
	if n, err := query(); n != 0 || err != nil {
		t.Fatalf("over the cap: %d bytes, %v; want the connection closed at once", n, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, _ := query()
		if n == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no status within 5 s once the stuck clients' time was up")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
