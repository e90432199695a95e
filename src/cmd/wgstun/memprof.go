//go:build memprof

package main

// Built only with -tags memprof (scripts/soak-profile.sh): on SIGUSR2 the
// daemon writes its heap profile, with every allocation since start
// (alloc_space, alloc_objects), to $WGSTUN_MEMPROF (default
// /tmp/wgstun.heap). Release builds never contain it.

import (
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

func init() {
	runtime.MemProfileRate = 4096
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	go func() {
		for range c {
			path := os.Getenv("WGSTUN_MEMPROF")
			if path == "" {
				path = "/tmp/wgstun.heap"
			}
			f, err := os.Create(path)
			if err != nil {
				continue
			}
			runtime.GC()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}()
}
