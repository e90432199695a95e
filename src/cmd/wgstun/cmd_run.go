package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/wgstun/wgstun/src/internal/capture"
	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/daemon"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/ping"
	"github.com/wgstun/wgstun/src/internal/portmap"
	"github.com/wgstun/wgstun/src/internal/wg"
	"github.com/wgstun/wgstun/src/stun"
)

// applyMemory sets the runtime's soft memory limit and collector target
// from the configuration, except what the operator set in the environment
// (GOMEMLIMIT, GOGC), which the runtime read at start and which wins.
func applyMemory(limit int64, gcPercent int) {
	if os.Getenv("GOMEMLIMIT") == "" {
		if limit == 0 {
			limit = math.MaxInt64 // the runtime's "no limit"
		}
		debug.SetMemoryLimit(limit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

func cmdRun(args []string, stderr io.Writer) int {
	path, ok := configFlag("run", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	level := new(logfmt.LevelVar)
	level.Set(daemon.ParseLevel(cfg.LogLevel))
	log := logfmt.New(stderr, level)
	wgc, err := wg.Open()
	if err != nil {
		log.Error("cannot reach WireGuard", "err", err)
		return 1
	}
	defer wgc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	d := daemon.New(cfg, version, log, daemon.Deps{
		WG:        wgc,
		OpenConn:  openConn(log),
		NewStore:  newStore,
		NewPinger: newPinger,
		Level:     level,
		Memory:    applyMemory,

		NewPortMapper: newPortMapper,
	})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go d.WatchConfig(ctx, path, hup)
	if err := d.Run(ctx); err != nil {
		log.Error("wgstun failed", "err", err)
		return 1
	}
	return 0
}

// openConn returns the opener of an interface's packet path with its
// configured options; the BSD capture path logs interface changes to log.
func openConn(log *logfmt.Logger) func(port uint16, ipv6 bool, mark uint32, ic config.Interface) (stun.Conn, error) {
	return func(port uint16, ipv6 bool, mark uint32, ic config.Interface) (stun.Conn, error) {
		return capture.OpenWith(port, ipv6, mark, capture.Options{
			Capture: ic.Capture, FIB: ic.FIB, BindInterface: ic.BindInterface,
			Log: log,
		})
	}
}

func newPinger(iface string, interval time.Duration) (daemon.Pinger, error) {
	p, err := ping.NewProber(iface, interval)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// newPortMapper maps WireGuard's port on the interface's gateway: the
// configured one, else the default route's next hop, else the next hop
// toward the STUN server that answered last.
func newPortMapper(ic config.Interface, port uint16, hint func() netip.Addr, log *logfmt.Logger) (daemon.PortMapper, error) {
	protos := []portmap.Protocol{portmap.PCP, portmap.NATPMP}
	switch ic.PortMapping {
	case config.PortMapPCP:
		protos = protos[:1]
	case config.PortMapNATPMP:
		protos = protos[1:]
	}
	find := func() (netip.Addr, error) {
		gw, err := portmap.FindGateway(netip.Addr{})
		if err != nil {
			if h := hint(); h.IsValid() {
				if gw, err2 := portmap.FindGateway(h); err2 == nil {
					return gw, nil
				}
			}
			return netip.Addr{}, fmt.Errorf("find the gateway: %w (set gateway in the interface's configuration)", err)
		}
		return gw, nil
	}
	return portmap.NewMapper(portmap.Config{
		Protocols: protos, Gateway: ic.Gateway, FindGateway: find, Internal: port,
		Lifetime: ic.MappingLifetime, Retry: ic.Refresh, Log: log,
	}), nil
}
