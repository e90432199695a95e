//go:build unix

package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// NewNetns makes a network namespace of the test's own, named
// PREFIX-RANDOM, with loopback up; it is deleted when the test ends. It is
// where the tests that need a real server alone (DNS servers for the
// resolver and the rfc2136 store) run it.
func NewNetns(t testing.TB, prefix string) string {
	t.Helper()
	var r [3]byte
	_, _ = rand.Read(r[:])
	ns := fmt.Sprintf("%s-%x", prefix, r)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v: %s", ns, err, out)
	}
	return ns
}

// StartServer runs a server program (args) in namespace ns with its
// output in dir/PROGRAM.log, kills it when the test ends (showing the log
// if the test failed), and waits up to 10 s for ready to report true.
func StartServer(t *testing.T, ns, dir string, ready func() bool, args ...string) *exec.Cmd {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, filepath.Base(args[0])+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", args[0], err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s log:\n%s", args[0], b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("%s not ready within 10s:\n%s", args[0], b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cmd
}
