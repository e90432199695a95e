// Package daemon runs wgstun's loop for each configured WireGuard interface:
// discover the NAT mapping of WireGuard's port, publish it sealed for each
// peer, read each peer's record and set its endpoint.
package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/egress"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/ping"
	"github.com/wgstun/wgstun/src/internal/portmap"
	"github.com/wgstun/wgstun/src/internal/resolve"
	"github.com/wgstun/wgstun/src/internal/store"
	"github.com/wgstun/wgstun/src/internal/wg"
	"github.com/wgstun/wgstun/src/record"
	"github.com/wgstun/wgstun/src/stun"
)

// WireGuard is the part of the wg package the daemon uses.
type WireGuard interface {
	Device(name string) (wg.Device, error)
	SetEndpoint(iface string, peer wgtypes.Key, ep netip.AddrPort) error
	// Recreate removes the peer and adds it back with ep unless it
	// received packets since seen (wg.Client.Recreate); it reports
	// whether it re-created the peer.
	Recreate(iface string, peer wgtypes.Key, ep netip.AddrPort, seen wg.Peer) (bool, error)
}

// Pinger is the ping watch of one interface (ping.Prober).
type Pinger interface {
	SetTargets(ts []netip.Addr)
	Run(ctx context.Context)
	Reopen()
	Result(t netip.Addr) ping.Result
	Changed() <-chan struct{}
}

// PortMapper keeps WireGuard's port mapped on the gateway
// (portmap.Mapper): Run maps and renews until ctx ends, then deletes the
// mapping before it returns.
type PortMapper interface {
	Run(ctx context.Context)
	Status() portmap.Status
	Changed() <-chan struct{}
	Check() // look again now (a tunnel went down)
}

var _ PortMapper = (*portmap.Mapper)(nil)

// Deps are the daemon's ties to the outside world, wired in main.
type Deps struct {
	WG WireGuard
	// OpenConn opens the packet path for WireGuard's port (capture.OpenWith
	// with the interface's capture, fib and bind_interface settings).
	OpenConn func(port uint16, ipv6 bool, mark uint32, ic config.Interface) (stun.Conn, error)
	// NewStore builds a store from its configuration.
	NewStore func(s config.Store, log *logfmt.Logger) (store.Store, error)
	// NewPinger builds the ping watch of an interface; nil disables it.
	NewPinger func(iface string, interval time.Duration) (Pinger, error)
	// NewPortMapper builds the port mapper of an interface whose
	// port_mapping is not off, for WireGuard's listen port; hint returns
	// the STUN server that answered last (zero until one did), toward
	// which the gateway may be looked up. nil disables port mapping.
	NewPortMapper func(ic config.Interface, port uint16, hint func() netip.Addr, log *logfmt.Logger) (PortMapper, error)
	// Resolve turns a STUN server's host:port into addresses of one family.
	Resolve func(ctx context.Context, hostport string, ipv6 bool) ([]netip.AddrPort, error)
	// LANAddrs returns this host's LAN addresses for path-check
	// candidates (lanAddrs when nil).
	LANAddrs func(wgIface string, v4, v6 bool) []netip.Addr
	// Level is the log level a reload may change; nil keeps it fixed.
	Level *logfmt.LevelVar
	// Memory applies daemon.memory_limit (bytes, 0: none) and
	// daemon.gc_percent at start and when a reload changes either; nil
	// leaves the runtime alone.
	Memory func(limit int64, gcPercent int)
	Now    func() time.Time
	Rand   io.Reader
}

// Daemon is a running wgstun.
type Daemon struct {
	log     *logfmt.Logger
	deps    Deps
	cfg     *config.Config
	board   *board
	guard   *record.Guard
	saved   map[wgtypes.Key]time.Time // the guard's state as last written (replay.go)
	saveErr string                    // the last failure to write it, logged once
	egMu    sync.Mutex
	egress  map[string]egress.Policy // per interface, as its runner last read it
	workers int                      // store operations in flight per interface

	reloads chan reloadReq
	done    chan struct{}

	// owned by Run's goroutine
	stores  map[string]store.Store
	runners map[string]*handle
	ctlStop context.CancelFunc
	wg      sync.WaitGroup
}

// handle is a started runner.
type handle struct {
	r      *runner
	cancel context.CancelFunc
	done   chan struct{}
}

type reloadReq struct {
	cfg *config.Config
	err chan error
}

// New prepares a daemon; Run starts it.
func New(cfg *config.Config, version string, log *logfmt.Logger, deps Deps) *Daemon {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Rand == nil {
		deps.Rand = rand.Reader
	}
	if deps.Resolve == nil {
		deps.Resolve = resolve.HostPort
	}
	if deps.LANAddrs == nil {
		deps.LANAddrs = lanAddrs
	}
	if deps.Memory != nil {
		deps.Memory(cfg.MemoryLimit, cfg.GCPercent)
	}
	return &Daemon{
		log:     log,
		deps:    deps,
		cfg:     cfg,
		board:   newBoard(version, deps.Now()),
		guard:   &record.Guard{Now: deps.Now, MaxAge: guardMaxAge(cfg)},
		workers: 8,
		reloads: make(chan reloadReq),
		done:    make(chan struct{}),
		runners: map[string]*handle{},
	}
}

// Run serves until ctx ends. Errors of one interface never stop another;
// only a failure to start (control socket, store) is returned.
func (d *Daemon) Run(ctx context.Context) error {
	defer close(d.done)
	stores, err := d.buildStores(d.cfg, nil, nil)
	if err != nil {
		return err
	}
	d.stores = stores
	l, err := listenControl(d.cfg.Socket)
	if err != nil {
		return err
	}
	d.loadReplay()
	save := time.NewTicker(replaySaveEvery)
	defer save.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.serve(ctx, l)
	for _, ic := range d.cfg.Interfaces {
		d.start(ctx, d.settingsFor(d.cfg, ic))
	}
	d.log.Info("wgstun started", "interfaces", len(d.cfg.Interfaces), "socket", d.cfg.Socket)
	for {
		select {
		case <-ctx.Done():
			for _, h := range d.runners {
				h.cancel()
			}
			d.ctlStop()
			d.wg.Wait()
			closeStores(d.stores, nil)
			d.saveReplay()
			d.log.Info("wgstun stopped")
			return nil
		case <-save.C:
			d.saveReplay()
		case req := <-d.reloads:
			req.err <- d.apply(ctx, req.cfg)
		}
	}
}

// Reload replaces the running configuration with cfg, which the caller has
// loaded and validated. When a part of it cannot be put in place (a store
// that does not start, a control socket that cannot be bound) nothing
// changes and the error says why.
func (d *Daemon) Reload(cfg *config.Config) error {
	req := reloadReq{cfg: cfg, err: make(chan error, 1)}
	select {
	case d.reloads <- req:
		return <-req.err
	case <-d.done:
		return errors.New("daemon is not running")
	}
}

// apply is Reload in Run's goroutine.
func (d *Daemon) apply(ctx context.Context, cfg *config.Config) error {
	stores, err := d.buildStores(cfg, d.cfg, d.stores)
	if err != nil {
		return err
	}
	var l net.Listener
	if cfg.Socket != d.cfg.Socket {
		if l, err = listenControl(cfg.Socket); err != nil {
			closeStores(stores, d.stores)
			return err
		}
	}
	old, oldStores := d.cfg, d.stores
	d.cfg, d.stores = cfg, stores
	d.guard.SetMaxAge(guardMaxAge(cfg))
	if cfg.StateDir != old.StateDir {
		d.saved = nil // write the state in the new place at the next tick
	}
	// Stores the new configuration replaced or dropped stop their own
	// work (the opendht store's republishing). A runner still holding one
	// gets the new store with its reconfiguration below.
	defer closeStores(oldStores, stores)
	if l != nil {
		d.ctlStop()
		d.serve(ctx, l)
		d.log.Info("control socket moved", "socket", cfg.Socket, "was", old.Socket)
	}
	if d.deps.Level != nil && cfg.LogLevel != old.LogLevel {
		d.deps.Level.Set(ParseLevel(cfg.LogLevel))
	}
	if d.deps.Memory != nil && (cfg.MemoryLimit != old.MemoryLimit || cfg.GCPercent != old.GCPercent) {
		d.deps.Memory(cfg.MemoryLimit, cfg.GCPercent)
		d.log.Info("memory settings changed", "memory_limit", cfg.MemoryLimit, "gc_percent", cfg.GCPercent)
	}
	keep := map[string]bool{}
	for _, ic := range cfg.Interfaces {
		keep[ic.Name] = true
		s := d.settingsFor(cfg, ic)
		h, ok := d.runners[ic.Name]
		if !ok {
			d.log.Info("interface added by reload", "iface", ic.Name)
			d.start(ctx, s)
			continue
		}
		if !sameSettings(h.r.set, s) {
			h.r.reconf <- s
		}
	}
	for name, h := range d.runners {
		if !keep[name] {
			d.log.Info("interface removed by reload; its WireGuard peers are left as they are", "iface", name)
			h.cancel()
			<-h.done
			delete(d.runners, name)
		}
	}
	d.log.Info("configuration reloaded", "path", cfg.Path)
	return nil
}

// buildStores makes the stores of cfg, reusing those of the running
// configuration whose settings did not change.
func (d *Daemon) buildStores(cfg, old *config.Config, running map[string]store.Store) (map[string]store.Store, error) {
	out := map[string]store.Store{}
	for name, sc := range cfg.Stores {
		if old != nil {
			if osc, ok := old.Stores[name]; ok && osc.Equal(sc) && running[name] != nil {
				out[name] = running[name]
				continue
			}
		}
		s, err := d.deps.NewStore(sc, d.log.With("store", name))
		if err != nil {
			closeStores(out, running)
			if !strings.HasPrefix(err.Error(), "store "+name+":") {
				err = fmt.Errorf("store %s: %w", name, err)
			}
			return nil, err
		}
		out[name] = s
	}
	return out, nil
}

// closeStores closes every store of stores that has a Close method and is
// not also in keep.
func closeStores(stores, keep map[string]store.Store) {
	for _, s := range stores {
		kept := false
		for _, k := range keep {
			kept = kept || k == s
		}
		if c, ok := s.(io.Closer); ok && !kept {
			c.Close()
		}
	}
}

func (d *Daemon) settingsFor(cfg *config.Config, ic config.Interface) settings {
	return settings{ic: ic, store: d.stores[ic.Store], stun: cfg.STUN}
}

func sameSettings(a, b settings) bool {
	return a.ic.Equal(b.ic) && a.store == b.store && slices.Equal(a.stun, b.stun)
}

func (d *Daemon) start(ctx context.Context, s settings) {
	rctx, cancel := context.WithCancel(ctx)
	h := &handle{r: newRunner(d, s), cancel: cancel, done: make(chan struct{})}
	d.runners[s.ic.Name] = h
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(h.done)
		h.r.run(rctx)
	}()
}

func (d *Daemon) serve(ctx context.Context, l net.Listener) {
	cctx, cancel := context.WithCancel(ctx)
	d.ctlStop = cancel
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.serveControl(cctx, l)
	}()
}

// ParseLevel turns a configured log level into the logger's; anything
// unknown is info (config validation has refused it already).
func ParseLevel(s string) logfmt.Level {
	l, err := logfmt.ParseLevel(s)
	if err != nil {
		return logfmt.LevelInfo
	}
	return l
}

// egressFrom takes in the routing an interface asks for (WireGuard's
// fwmark, the configured fib or bind_interface) and puts in force, for the
// daemon's own sockets other than STUN's (package egress), that of the
// first interface by name that asks for any: one policy for the process,
// the same whichever runner reads last.
func (d *Daemon) egressFrom(iface string, p egress.Policy) {
	d.egMu.Lock()
	defer d.egMu.Unlock()
	if d.egress == nil {
		d.egress = map[string]egress.Policy{}
	}
	d.egress[iface] = p
	var pick egress.Policy
	for _, name := range slices.Sorted(maps.Keys(d.egress)) {
		if q := d.egress[name]; q != (egress.Policy{}) {
			pick = q
			break
		}
	}
	if egress.Set(pick) {
		d.log.Info("the daemon's own traffic (port mapping, look-ups, network stores) is routed as an interface asks", "fwmark", pick.Mark, "fib", pick.FIB, "bind_interface", pick.BindIf)
	}
}
