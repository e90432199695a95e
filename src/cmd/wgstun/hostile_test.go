//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run `wgstun check` in a child process of its own,
// where its peak memory can be read.
func TestMain(m *testing.M) {
	if os.Getenv("WGSTUN_TEST_CHECK") == "1" {
		os.Exit(cmdCheck(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestCheckHostileBounded runs `wgstun check` on hostile files, each in a
// child process: every one ends with exit 2 and a short error that names
// the file, within 2 s and 50 MB of peak RSS.
func TestCheckHostileBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	base := "[stun]\nservers = [\"192.0.2.1:3478\"]\n[store.s]\ntype = \"file\"\npath = \"" + dir + "\"\n[[interface]]\nname = \"wg0\"\nstore = \"s\"\n"
	fill := func(unit string) string { return strings.Repeat(unit, (256<<10-len(base))/len(unit)) }
	var keys strings.Builder
	for i := 0; keys.Len() < 256<<10-len(base)-20; i++ {
		fmt.Fprintf(&keys, "k%d = 1\n", i)
	}
	files := map[string]string{
		"deep-inline": base + "x = " + strings.Repeat("{a = ", 20000) + "1" + strings.Repeat("}", 20000) + "\n",
		"deep-array":  base + "x = " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n",
		"long-value":  base + "[daemon]\nsocket = \"" + fill("A")[:256<<10-len(base)-30] + "\"\n",
		"many-keys":   base + keys.String(),
		"many-tables": base + fill("[[interface]]\n"),
		"many-peers":  base + fill("[[interface.peer]]\npublic_key = \"x\"\n"),
		"too-big":     base + strings.Repeat("#", 300<<10),
		"many-arrays": base + "a = [" + fill("[],")[:256<<10-len(base)-10] + "]\n",
	}
	paths := []string{"/dev/zero", fifo}
	for name, data := range files {
		p := filepath.Join(dir, name+".toml")
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-c", p)
			cmd.Env = append(os.Environ(), "WGSTUN_TEST_CHECK=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("check %s still running after 20 s", p)
			}
			took := time.Since(start)
			rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
			t.Logf("%s: exit %d in %v, peak RSS %d KiB, %d bytes of errors", filepath.Base(p), cmd.ProcessState.ExitCode(), took.Round(time.Millisecond), rss, stderr.Len())
			if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(stderr.String(), p) {
				t.Errorf("exit %d (%v), stderr %.300q; want exit 2 and the file named", cmd.ProcessState.ExitCode(), err, stderr.String())
			}
			if stderr.Len() > 8<<10 {
				t.Errorf("%d bytes of errors", stderr.Len())
			}
			if rss > 50<<10 {
				t.Errorf("peak RSS %d KiB, over 50 MB", rss)
			}
			if took > 2*time.Second {
				t.Errorf("took %v, over 2 s", took)
			}
		})
	}
}
