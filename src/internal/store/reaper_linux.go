package store

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// A plugin that calls setsid (or double-forks into a new session) leaves
// its process group, so killing the group misses it, and as an orphan it
// would be adopted by init and run on. The daemon makes itself a child
// subreaper (prctl PR_SET_CHILD_SUBREAPER, Linux 3.4): orphans of its
// plugins are adopted by the daemon instead. Its only children are plugin
// leaders, started through startPlugin under reaper.mu and listed in
// reaper.running until their Wait returns; any other child is something a
// plugin left behind, and killOrphans kills and reaps it.
var reaper struct {
	once    sync.Once
	on      bool // the subreaper flag is set
	mu      sync.Mutex
	running map[int]bool
}

// startPlugin starts cmd and records it as a running plugin leader.
func startPlugin(cmd *exec.Cmd) error {
	reaper.once.Do(func() {
		reaper.on = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == nil
		reaper.running = map[int]bool{}
	})
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	reaper.running[cmd.Process.Pid] = true
	return nil
}

// pluginDone forgets a plugin leader whose Wait has returned.
func pluginDone(cmd *exec.Cmd) {
	reaper.mu.Lock()
	delete(reaper.running, cmd.Process.Pid)
	reaper.mu.Unlock()
}

// killOrphans kills and reaps every child of the daemon that is not a
// running plugin leader, again for what those leave behind (a few rounds),
// and returns how many it killed. Without the subreaper flag it does
// nothing and returns -1: nothing can be known of escaped descendants.
func killOrphans() int {
	if !reaper.on {
		return -1
	}
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	killed := 0
	for range 4 {
		found := 0
		for _, pid := range childrenOf(os.Getpid()) {
			if reaper.running[pid] {
				continue
			}
			_ = unix.Kill(pid, unix.SIGKILL)
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, 0, nil)
			found++
		}
		if found == 0 {
			break
		}
		killed += found
	}
	return killed
}

// childrenOf lists the processes whose parent is ppid, from /proc.
func childrenOf(ppid int) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	var out []int
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) > 1 && string(f[1]) == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}
