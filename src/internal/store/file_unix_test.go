//go:build unix

package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFileHostileEntries: what sits under a key's name in the directory is
// read only if it is a regular file of a trusted owner; a symlink is not
// followed (nothing of its target reaches the error), a FIFO or a
// directory does not block, and none of them is removed.
func TestFileHostileEntries(t *testing.T) {
	dir := t.TempDir()
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:SECRETHASH:19000::::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, testKey)
	for _, tc := range []struct {
		name  string
		plant func() error
		want  string
	}{
		{"symlink to a secret", func() error { return os.Symlink(secret, path) }, "a symlink; refusing to follow it"},
		{"FIFO", func() error { return syscall.Mkfifo(path, 0o600) }, "not a regular file"},
		{"directory", func() error { return os.Mkdir(path, 0o700) }, "not a regular file"},
		{"over 64 KiB", func() error { return os.WriteFile(path, make([]byte, maxFileSize+1), 0o600) }, "larger than 65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(path)
			if err := tc.plant(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := f.Get(ctx, testKey)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Get = %v, want an error naming %s and saying %q", err, path, tc.want)
			}
			if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("Get = %v", err)
			}
			if _, err := os.Lstat(path); err != nil {
				t.Errorf("the planted entry is gone: %v", err)
			}
		})
	}
}

// TestFileOwner: a record file owned by someone else than the daemon's user
// or the directory's owner is refused; one owned by the directory's owner
// (a sync tool writing as itself) is read.
func TestFileOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away (make test runs as root)")
	}
	const stranger = 54321
	dir := t.TempDir()
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, testKey)
	if err := os.WriteFile(path, []byte(testValue), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, stranger, stranger); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(context.Background(), testKey); err == nil || !strings.Contains(err.Error(), "owned by uid 54321") {
		t.Fatalf("Get of a stranger's file = %v", err)
	}
	if err := os.Chown(dir, stranger, stranger); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Get(context.Background(), testKey); err != nil || got != testValue {
		t.Fatalf("Get of the directory owner's file = %q, %v", got, err)
	}
}

// TestFileAbandonable: a file system call that hangs (a dead NFS server)
// is left behind at the context's end, and after maxStuck of them further
// calls fail at once instead of piling up; when they come back, the store
// works again.
func TestFileAbandonable(t *testing.T) {
	f, err := NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	hang := func() error { <-release; return nil }
	for i := range maxStuck {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := f.abandonable(ctx, hang)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not answer") {
			t.Fatalf("hanging call %d = %v, want the deadline", i, err)
		}
	}
	start := time.Now()
	err = f.abandonable(context.Background(), hang)
	if err == nil || !strings.Contains(err.Error(), "8 calls to") || time.Since(start) > time.Second {
		t.Fatalf("call with every slot hanging = %v after %v; want an error at once", err, time.Since(start))
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for f.Set(context.Background(), testKey, testValue) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store did not recover once the hanging calls returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
