// Package daemon runs wgstun's loop for each configured WireGuard interface:
// discover the NAT mapping of WireGuard's port, publish it sealed for each
// peer, read each peer's record and set its endpoint.
package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/config"
	"github.com/wgstun/wgstun/src/record"
	"github.com/wgstun/wgstun/src/store"
	"github.com/wgstun/wgstun/src/stun"
	"github.com/wgstun/wgstun/src/wg"
)

// WireGuard is the part of the wg package the daemon uses.
type WireGuard interface {
	Device(name string) (wg.Device, error)
	SetEndpoint(iface string, peer wgtypes.Key, ep netip.AddrPort) error
}

// Deps are the daemon's ties to the outside world, wired in main.
type Deps struct {
	WG WireGuard
	// OpenConn opens the packet path for WireGuard's port (capture.Open).
	OpenConn func(port uint16, ipv6 bool, mark uint32) (stun.Conn, error)
	// NewStore builds a store from its configuration.
	NewStore func(s config.Store, log *slog.Logger) (store.Store, error)
	// Resolve turns a STUN server's host:port into addresses of one family.
	Resolve func(ctx context.Context, hostport string, ipv6 bool) ([]netip.AddrPort, error)
	Now     func() time.Time
	Rand    io.Reader
}

// Daemon is a running wgstun.
type Daemon struct {
	log     *slog.Logger
	deps    Deps
	cfg     *config.Config
	board   *board
	guard   *record.Guard
	workers int // store operations in flight per interface
}

// New prepares a daemon; Run starts it.
func New(cfg *config.Config, version string, log *slog.Logger, deps Deps) *Daemon {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Rand == nil {
		deps.Rand = rand.Reader
	}
	if deps.Resolve == nil {
		deps.Resolve = Resolve
	}
	return &Daemon{
		log:     log,
		deps:    deps,
		cfg:     cfg,
		board:   newBoard(version, deps.Now()),
		guard:   &record.Guard{Now: deps.Now},
		workers: 8,
	}
}

// Run serves until ctx ends. Errors of one interface never stop another;
// only a failure to start (control socket, store) is returned.
func (d *Daemon) Run(ctx context.Context) error {
	stores := map[string]store.Store{}
	for name, sc := range d.cfg.Stores {
		s, err := d.deps.NewStore(sc, d.log.With("store", name))
		if err != nil {
			return fmt.Errorf("store %s: %w", name, err)
		}
		stores[name] = s
	}
	l, err := listenControl(d.cfg.Socket)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.serveControl(ctx, l)
	}()
	for _, ic := range d.cfg.Interfaces {
		r := newRunner(d, ic, stores[ic.Store])
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(ctx)
		}()
	}
	d.log.Info("wgstun started", "interfaces", len(d.cfg.Interfaces), "socket", d.cfg.Socket)
	<-ctx.Done()
	wg.Wait()
	d.log.Info("wgstun stopped")
	return nil
}

// Resolve looks up a STUN server's addresses of one family.
func Resolve(ctx context.Context, hostport string, ipv6 bool) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port of %s: %w", hostport, err)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.Is6() != ipv6 {
			return nil, nil
		}
		return []netip.AddrPort{netip.AddrPortFrom(a, uint16(port))}, nil
	}
	network := "ip4"
	if ipv6 {
		network = "ip6"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(port)))
	}
	return out, nil
}
