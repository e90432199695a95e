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
// maxControlConns stuck clients a new one is closed unanswered; the socket
// serves again when they go away, and when their time is up.
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
	serve := func(timeout time.Duration) string {
		path := filepath.Join(t.TempDir(), "s")
		l, err := listenControl(path)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go d.serveControlWithin(ctx, l, timeout)
		return path
	}
	query := func(path string) (int, error) {
		c, err := net.Dial("unix", path)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		// The memory figures change between snapshots, and the length
		// with them: a whole status is one that parses with every peer.
		if st, perr := ParseStatus(b); perr == nil && len(st.Interfaces) == 1 && len(st.Interfaces[0].Peers) == 3000 {
			return want, err
		}
		return len(b), err
	}
	stick := func(path string, n int) []net.Conn {
		var cs []net.Conn
		for range n {
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		t.Cleanup(func() {
			for _, c := range cs {
				c.Close()
			}
		})
		return cs
	}
	waitServed := func(path string, what string) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if n, _ := query(path); n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no status within 10 s %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Stuck clients far longer than the test (a minute each).
	path := serve(time.Minute)
	var stuck []net.Conn
	for i := range maxControlConns - 1 {
		stuck = append(stuck, stick(path, 1)...)
		if n, err := query(path); err != nil || n != want {
			t.Fatalf("with %d clients not reading: status of %d bytes, %v; want %d bytes", i+1, n, err, want)
		}
	}
	stuck = append(stuck, stick(path, 1)...)
	// Once the server has taken the last stuck client (when is up to the
	// scheduler), a new one is closed unanswered; a slot freed by mistake
	// would keep answering.
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, err := query(path)
		if n == 0 && err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("over the cap: still %d bytes (%v) after 10 s; want the connection closed at once", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range stuck {
		c.Close()
	}
	waitServed(path, "once the stuck clients went away")

	// Stuck clients that stay: their time runs out.
	path = serve(300 * time.Millisecond)
	stick(path, maxControlConns)
	waitServed(path, "once the stuck clients' time was up")
}
