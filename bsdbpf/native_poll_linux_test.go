package bsdbpf

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestPollSys runs the poller-backed Sys that NativeSys uses on the BSDs
// against a FIFO on Linux: Read waits in the poller for data, Ioctl reaches
// the descriptor, and Close ends a pending Read with net.ErrClosed.
func TestPollSys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	sys := newPollSys()
	fd, err := sys.Open(path, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	// Hold a writer so an empty FIFO reads as "would block", not EOF.
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	type result struct {
		n   int
		err error
	}
	reads := make(chan result, 1)
	buf := make([]byte, 64)
	read := func() {
		n, err := sys.Read(fd, buf)
		reads <- result{n, err}
	}
	go read()
	select {
	case r := <-reads:
		t.Fatalf("Read returned %+v before any data", r)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reads:
		if r.err != nil || string(buf[:r.n]) != "hello" {
			t.Fatalf("Read = %q, %v", buf[:r.n], r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after a write")
	}

	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	var pending int32
	if err := sys.Ioctl(fd, unix.TIOCINQ, unsafe.Pointer(&pending)); err != nil || pending != 3 {
		t.Fatalf("TIOCINQ (FIONREAD) = %d, %v; want 3", pending, err)
	}
	if err := sys.Ioctl(fd, 0x7fff, unsafe.Pointer(&pending)); !errors.Is(err, unix.ENOTTY) {
		t.Errorf("bad ioctl error = %v, want ENOTTY", err)
	}
	if _, err := sys.Read(fd, buf); err != nil {
		t.Fatal(err)
	}

	go read()
	time.Sleep(20 * time.Millisecond)
	if err := sys.Close(fd); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reads:
		if !errors.Is(r.err, net.ErrClosed) {
			t.Errorf("pending Read after Close = %v, want net.ErrClosed", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the pending Read")
	}
	if _, err := sys.Read(fd, buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v, want net.ErrClosed", err)
	}
	if err := sys.Close(fd); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
	if _, err := sys.Open(filepath.Join(t.TempDir(), "missing"), unix.O_RDONLY); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Open of a missing path = %v, want ENOENT", err)
	}
}
