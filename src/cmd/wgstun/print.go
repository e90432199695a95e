package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wgstun/wgstun/src/internal/capture"
	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/daemon"
	"github.com/wgstun/wgstun/src/internal/natcheck"
)

// capturePerInterface is capture.PerInterface; tests flip it to see the
// FreeBSD and macOS plan on Linux.
var capturePerInterface = capture.PerInterface

// printPlan shows what `wgstun run` would do with cfg.
func printPlan(w io.Writer, cfg *config.Config) {
	fmt.Fprintf(w, "configuration %s is valid\n\n", cfg.Path)
	fmt.Fprintf(w, "log level: %s\ncontrol socket: %s\n", cfg.LogLevel, cfg.Socket)
	fmt.Fprintf(w, "STUN servers (tried in order): %s\n\n", strings.Join(cfg.STUN, ", "))
	fmt.Fprintln(w, "stores:")
	for _, name := range sortedKeys(cfg.Stores) {
		s := cfg.Stores[name]
		switch s.Type {
		case "file":
			fmt.Fprintf(w, "  %s: file, directory %s\n", name, s.Path)
		default:
			fmt.Fprintf(w, "  %s: %s plugin %s %s (timeout %s)\n", name, s.Type, s.Command, strings.Join(s.Args, " "), s.Timeout)
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

// printStatus renders the daemon's status for people.
func printStatus(w io.Writer, st *daemon.Status) {
	now := time.Now()
	fmt.Fprintf(w, "wgstun %s, up %s\n", st.Version, now.Sub(st.Started).Round(time.Second))
	for _, ifc := range st.Interfaces {
		fmt.Fprintf(w, "\ninterface %s: %s", ifc.Name, ifc.State)
		if ifc.Reason != "" {
			fmt.Fprintf(w, " (%s)", ifc.Reason)
		}
		fmt.Fprintln(w)
		if ifc.State != "up" {
			continue
		}
		fmt.Fprintf(w, "  listen port %d, store %s\n", ifc.ListenPort, ifc.Store)
		pub := []string{}
		if ifc.IPv4.IsValid() {
			pub = append(pub, ifc.IPv4.String())
		}
		if ifc.IPv6.IsValid() {
			pub = append(pub, ifc.IPv6.String())
		}
		if ifc.PortMapExternal.IsValid() {
			fmt.Fprintf(w, "  published %s (gateway port mapping", ifc.PortMapExternal)
			if ifc.IPv6.IsValid() {
				fmt.Fprintf(w, "; %s from %s", ifc.IPv6, ifc.STUNServer)
			}
			fmt.Fprintln(w, ")")
			if ifc.IPv4.IsValid() {
				fmt.Fprintf(w, "  STUN sees %s (from %s, %s ago", ifc.IPv4, ifc.STUNServer, since(now, ifc.Discovered))
				if ifc.NAT != "" {
					fmt.Fprintf(w, ", NAT %s", natWords(ifc.NAT))
				}
				fmt.Fprintln(w, ")")
			}
		} else if len(pub) > 0 {
			fmt.Fprintf(w, "  published %s (from %s, %s ago", strings.Join(pub, " "), ifc.STUNServer, since(now, ifc.Discovered))
			if ifc.NAT != "" {
				fmt.Fprintf(w, ", NAT %s", natWords(ifc.NAT))
			}
			fmt.Fprintln(w, ")")
		}
		if ifc.PortMapping != "" {
			fmt.Fprintf(w, "  port mapping (%s): %s\n", ifc.PortMapping, portMapText(now, ifc))
		}
		if ifc.LastError != "" {
			fmt.Fprintf(w, "  error: %s\n", ifc.LastError)
		}
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, k := range ifc.Missing {
			fmt.Fprintf(w, "  configured peer %s is not on the device\n", k)
		}
		if ifc.StoreError != "" {
			fmt.Fprintf(w, "  store error: %s\n", ifc.StoreError)
		}
		fmt.Fprintln(tw, "  PEER\tSTATE\tENDPOINT\tFROM\tHANDSHAKE\tPING")
		for _, p := range ifc.Peers {
			ep := "-"
			if p.Endpoint.IsValid() {
				ep = p.Endpoint.String()
			}
			hs := "never"
			if !p.LastHandshake.IsZero() {
				hs = since(now, p.LastHandshake) + " ago"
			}
			from := p.EndpointFrom
			if from == "" {
				from = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", p.PublicKey[:8]+"…", p.State, ep, from, hs, pingText(p))
		}
		tw.Flush()
		for _, p := range ifc.Peers {
			if p.Reason != "" {
				fmt.Fprintf(w, "  %s… %s: %s\n", p.PublicKey[:8], p.State, p.Reason)
			}
			if p.LastError != "" {
				fmt.Fprintf(w, "  %s… error: %s\n", p.PublicKey[:8], p.LastError)
			}
		}
	}
}

// pingText sums up the ping watch of a peer: target, last round trip and
// loss over the recent probes.
func pingText(p daemon.PeerStatus) string {
	switch {
	case p.Ping == "":
		return "-"
	case p.PingError != "":
		return p.Ping + " (" + p.PingError + ")"
	case p.PingSent == 0:
		return p.Ping + " (starting)"
	case p.PingRTT == 0:
		return fmt.Sprintf("%s no reply, %.0f%% loss", p.Ping, p.PingLoss)
	}
	return fmt.Sprintf("%s %.1f ms, %.0f%% loss", p.Ping, p.PingRTT, p.PingLoss)
}

func since(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Round(time.Second).String()
}

// natWords names a NAT hint the way `wgstun nat-check` does: the classic
// name, then the RFC 4787 behaviours when both are known.
func natWords(hint string) string {
	c := natcheck.ParseHint(hint)
	switch {
	case c.Mapping == natcheck.MappingUnknown:
		return hint
	case c.Filtering == natcheck.FilteringUnknown:
		return c.Classic()
	}
	return c.Classic() + ": " + c.Mapping.String() + " mapping, " + c.Filtering.String() + " filtering"
}

// portMapText sums up an interface's gateway port mapping: the mapping
// held (protocol, gateway, external endpoint, lifetime left) and the last
// problem, or why there is none.
func portMapText(now time.Time, ifc daemon.InterfaceStatus) string {
	if !ifc.PortMapExternal.IsValid() {
		if ifc.PortMapError != "" {
			return "none: " + ifc.PortMapError
		}
		return "none yet"
	}
	s := fmt.Sprintf("%s via gateway %s, external %s, %s left", ifc.PortMapProtocol, ifc.PortMapGateway,
		ifc.PortMapExternal, max(ifc.PortMapExpires.Sub(now), 0).Round(time.Second))
	if ifc.PortMapError != "" {
		s += " (" + ifc.PortMapError + ")"
	}
	return s
}
