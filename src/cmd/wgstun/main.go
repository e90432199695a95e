// Command wgstun lets WireGuard peers behind NAT find each other: it learns
// the NAT mapping of WireGuard's own port with STUN, publishes it sealed for
// each peer in a store, and sets each peer's endpoint from the peer's record.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
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

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: wgstun <command> [flags]

commands:
  run     [-c FILE]           run the daemon in the foreground
  check   [-c FILE]           validate the configuration and print the plan
  status  [-s SOCKET] [--json] show what the running daemon is doing
  nat-check [-s HOST:PORT]... [-c FILE] [-i IFACE] [-6] [--json]
                              classify the NAT in front of this host (RFC 5780)
  version                     print the version

The default configuration file is ` + config.DefaultPath + `.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "nat-check":
		return cmdNATCheck(args[1:], stdout, stderr)
	case "version", "-v", "--version":
		fmt.Fprintln(stdout, "wgstun", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "wgstun: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func configFlag(name string, args []string, stderr io.Writer) (string, bool) {
	fs := flag.NewFlagSet("wgstun "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", config.DefaultPath, "configuration file")
	if fs.Parse(args) != nil {
		return "", false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wgstun %s: unexpected argument %q\n", name, fs.Arg(0))
		return "", false
	}
	return *path, true
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	path, ok := configFlag("check", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	printPlan(stdout, cfg)
	printCapture(stdout, cfg, capture.PerInterface, capture.Interfaces)
	errs, warnings := checkStores(cfg)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	for _, e := range errs {
		fmt.Fprintln(stderr, path+":", e)
	}
	if len(errs) > 0 {
		return 2
	}
	return 0
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

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wgstun status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sock := fs.String("s", config.DefaultSocket, "control socket of the daemon")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if fs.Parse(args) != nil {
		return 2
	}
	raw, err := daemon.QueryStatus(*sock)
	if err != nil {
		fmt.Fprintln(stderr, "wgstun status:", err)
		return 1
	}
	if *asJSON {
		stdout.Write(raw)
		return 0
	}
	st, err := daemon.ParseStatus(raw)
	if err != nil {
		fmt.Fprintln(stderr, "wgstun status: bad answer from the daemon:", err)
		return 1
	}
	printStatus(stdout, &st)
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
