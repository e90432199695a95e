package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/wgstun/wgstun/src/internal/capture"
	"github.com/wgstun/wgstun/src/internal/config"
)

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
	// The stores are checked before anything is printed, so that a
	// configuration `wgstun run` would refuse is never called valid.
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
	printPlan(stdout, cfg)
	printCapture(stdout, cfg, capture.PerInterface, capture.Interfaces)
	return 0
}

// capturePerInterface is capture.PerInterface; tests flip it to see the
// FreeBSD and macOS plan on Linux.
var capturePerInterface = capture.PerInterface

// printPlan shows what `wgstun run` would do with cfg.
func printPlan(w io.Writer, cfg *config.Config) {
	fmt.Fprintf(w, "configuration %s is valid\n\n", cfg.Path)
	fmt.Fprintf(w, "log level: %s\ncontrol socket: %s\n", cfg.LogLevel, cfg.Socket)
	limit := "none"
	if cfg.MemoryLimit > 0 {
		limit = strconv.FormatInt(cfg.MemoryLimit>>10, 10) + " KiB"
	}
	fmt.Fprintf(w, "memory: collector target %d%%, soft limit %s (GOGC and GOMEMLIMIT in the environment win)\n", cfg.GCPercent, limit)
	fmt.Fprintf(w, "STUN servers (tried in order): %s\n\n", strings.Join(cfg.STUN, ", "))
	fmt.Fprintln(w, "stores:")
	for _, name := range sortedKeys(cfg.Stores) {
		s := cfg.Stores[name]
		switch s.Type {
		case config.StoreFile:
			fmt.Fprintf(w, "  %s: file, directory %s\n", name, s.Path)
		case config.StoreExec, config.StoreShell:
			fmt.Fprintf(w, "  %s: %s plugin %s %s (timeout %s)\n", name, s.Type, s.Command, strings.Join(s.Args, " "), s.Timeout)
		case config.StoreRFC2136:
			fmt.Fprintf(w, "  %s: rfc2136, zone %s on server %s, TSIG key %s (timeout %s)\n", name, s.Zone, s.Server, s.TSIGKey, s.Timeout)
		case config.StoreCloudflare:
			fmt.Fprintf(w, "  %s: cloudflare, zone %s (timeout %s)\n", name, s.Zone, s.Timeout)
		default:
			fmt.Fprintf(w, "  %s: %s, endpoints %s (timeout %s)\n", name, s.Type, strings.Join(s.Endpoints, " "), s.Timeout)
		}
	}
	fmt.Fprintln(w, "\ninterfaces:")
	for _, ic := range cfg.Interfaces {
		fmt.Fprintf(w, "  %s: store %s, %s, refresh every %s\n", ic.Name, ic.Store, ic.Family, ic.Refresh)
		if len(ic.Peers) == 0 {
			fmt.Fprintln(w, "    peers: every peer on the device")
		}
		for _, p := range ic.Peers {
			fmt.Fprintf(w, "    peer %s\n", p)
		}
		watched := make([]string, 0, len(ic.Ping))
		for k, a := range ic.Ping {
			watched = append(watched, fmt.Sprintf("    ping watch: peer %s at %s every %s", k, a, ic.PingInterval))
		}
		sort.Strings(watched)
		for _, line := range watched {
			fmt.Fprintln(w, line)
		}
		switch {
		case !capturePerInterface && len(ic.Capture) > 0:
			fmt.Fprintln(w, "    capture: ignored on Linux, raw sockets see every interface")
		case capturePerInterface && len(ic.Capture) > 0:
			fmt.Fprintf(w, "    capture on: %s\n", strings.Join(ic.Capture, ", "))
		case capturePerInterface:
			fmt.Fprintln(w, "    capture on: every interface that is up, not a loopback, not WireGuard's, with an address")
		}
		if ic.FIB >= 0 {
			fmt.Fprintf(w, "    STUN sent through FIB %d (FreeBSD; ignored elsewhere)\n", ic.FIB)
		}
		if ic.BindInterface != "" {
			fmt.Fprintf(w, "    STUN sent bound to %s (macOS; ignored elsewhere)\n", ic.BindInterface)
		}
		if !ic.FastHandshake {
			fmt.Fprintln(w, "    fast_handshake off: endpoints are only updated in place; a first handshake may wait for WireGuard's 5 s retry")
		}
		switch {
		case !ic.PathChecks:
			fmt.Fprintln(w, "    path_checks off: endpoints come from records alone; no LAN path, and a dead path without a ping address waits for WireGuard's rekey")
		case !ic.LANCandidates:
			fmt.Fprintln(w, "    path checks on; lan_candidates off: no LAN address is published, so peers behind the same NAT need it to hairpin")
		default:
			fmt.Fprintln(w, "    path checks on; this host's LAN addresses are published (sealed) to each peer as candidates")
		}
		if ic.PortMapping != config.PortMapOff && ic.PortMapping != "" {
			gw := "the default route's next hop"
			if ic.Gateway.IsValid() {
				gw = ic.Gateway.String()
			}
			fmt.Fprintf(w, "    port mapping: %s on gateway %s, lifetime %s (published instead of STUN's mapping while granted)\n",
				ic.PortMapping, gw, ic.MappingLifetime)
		}
	}
}

// printCapture shows, for `wgstun check`, the interfaces STUN answers
// would be read on and their link types. perInterface and list are
// capture.PerInterface and capture.Interfaces (tests pass their own).
func printCapture(w io.Writer, cfg *config.Config, perInterface bool, list func(ipv6 bool, names []string) ([]capture.Iface, error)) {
	if !perInterface {
		fmt.Fprintln(w, "\ncapture: raw sockets see every interface; nothing to check per interface")
		return
	}
	fmt.Fprintln(w, "\ncapture (each interface's /dev/bpf link type, read now):")
	seen := map[string]string{} // family and capture list -> first interface
	for _, ic := range cfg.Interfaces {
		for _, ipv6 := range []bool{false, true} {
			if (ipv6 && !ic.Family.V6()) || (!ipv6 && !ic.Family.V4()) {
				continue
			}
			fam := "ipv4"
			if ipv6 {
				fam = "ipv6"
			}
			fmt.Fprintf(w, "  %s %s:", ic.Name, fam)
			key := fam + " " + strings.Join(ic.Capture, ",")
			if first, ok := seen[key]; ok {
				fmt.Fprintf(w, " same as %s\n", first)
				continue
			}
			seen[key] = ic.Name + " " + fam
			ifs, err := list(ipv6, ic.Capture)
			if err != nil {
				fmt.Fprintf(w, " cannot list interfaces: %v\n", err)
				continue
			}
			if len(ifs) == 0 {
				fmt.Fprintf(w, " no interface yet (none is up with an %s address); capture starts when one appears\n", fam)
				continue
			}
			fmt.Fprintln(w)
			for _, i := range ifs {
				switch {
				case i.Err != nil:
					fmt.Fprintf(w, "    %s: not captured: %v\n", i.Name, i.Err)
				case i.Skipped:
					fmt.Fprintf(w, "    %s: %s: skipped\n", i.Name, i.LinkType)
				default:
					fmt.Fprintf(w, "    %s: %s\n", i.Name, i.LinkType)
				}
			}
		}
	}
}

func sortedKeys(m map[string]config.Store) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
