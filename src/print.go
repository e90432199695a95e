package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wgstun/wgstun/src/config"
	"github.com/wgstun/wgstun/src/daemon"
)

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
		if len(pub) > 0 {
			fmt.Fprintf(w, "  published %s (from %s, %s ago", strings.Join(pub, " "), ifc.STUNServer, since(now, ifc.Discovered))
			if ifc.NAT != "" {
				fmt.Fprintf(w, ", NAT %s", ifc.NAT)
			}
			fmt.Fprintln(w, ")")
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
