//go:build linux

package linuxraw

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

var netnsSeq atomic.Int32

// testNetns is a network namespace created for one test.
type testNetns struct {
	t    *testing.T
	name string
}

// newNetns creates a network namespace with lo up, deleted when the test
// ends. Sockets created in it stay in it; nothing in it routes anywhere else.
func newNetns(t *testing.T) *testNetns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (CAP_SYS_ADMIN) to create a network namespace and CAP_NET_RAW for raw sockets")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: iproute2 'ip' not found")
	}
	ns := &testNetns{t: t, name: fmt.Sprintf("wgstun-linuxraw-%d-%d", os.Getpid(), netnsSeq.Add(1))}
	ns.ip("netns", "add", ns.name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.name, err, out)
		}
	})
	ns.ip("-n", ns.name, "link", "set", "lo", "up")
	return ns
}

// ip runs the ip command and fails the test on error.
func (ns *testNetns) ip(args ...string) {
	ns.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		ns.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// run runs fn on an OS thread switched into the namespace, then switches
// the thread back. If switching back fails the thread stays locked and is
// discarded when its goroutine ends, so no other goroutine inherits the
// namespace.
func (ns *testNetns) run(fn func() error) {
	ns.t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+ns.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", ns.name, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back: %w", err)
			return // thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	if err := <-errc; err != nil {
		ns.t.Fatal(err)
	}
}
