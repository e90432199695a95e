package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/daemon"
	"github.com/wgstun/wgstun/src/internal/natcheck"
)

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("wgstun status")
	fs.SetOutput(stderr)
	sock := fs.String("s", "", "control socket of the daemon (default: the configuration's daemon.socket)")
	path := fs.String("c", "", "configuration file whose daemon.socket to use (default "+config.DefaultPath+")")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if fs.Parse(args) != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wgstun status: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *sock == "" {
		s, err := socketOf(*path)
		if err != nil {
			fmt.Fprintf(stderr, "wgstun status: %v\n(or name the socket with -s)\n", err)
			return 2
		}
		*sock = s
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
	printable(reflect.ValueOf(&st))
	printStatus(stdout, &st)
	return 0
}

// socketOf finds the control socket as the daemon does: from the
// configuration at path, or at the default path when path is "" (a
// missing default file means the default socket).
func socketOf(path string) (string, error) {
	if path == "" {
		if _, err := os.Stat(config.DefaultPath); errors.Is(err, fs.ErrNotExist) {
			return config.DefaultSocket, nil
		}
		path = config.DefaultPath
	}
	cfg, err := config.Load(path)
	if err != nil {
		return "", err
	}
	return cfg.Socket, nil
}

// printable escapes, in every string field of the value v points to, the
// characters a terminal would act on (C0 and C1 controls, DEL, newlines,
// bidirectional overrides and other non-printing runes), as Go escapes
// them in a quoted string, so nothing the daemon reports can move the
// cursor, change colours or start a line of its own.
func printable(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		printable(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				printable(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			printable(v.Index(i))
		}
	case reflect.String:
		v.SetString(escape(v.String()))
	}
}

func escape(s string) string {
	if !strings.ContainsFunc(s, notPrint) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if notPrint(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func notPrint(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }

// short is the first 8 characters of a public key, as wg show abbreviates
// in the table; a shorter string is shown whole.
func short(k string) string {
	if len(k) > 8 {
		return k[:8] + "…"
	}
	return k
}

// table lines cells up in columns, as text/tabwriter with minimum width
// 2, padding 2 and spaces does for cells ended by tabs: every column but
// the last is as wide as its widest cell (in runes) plus 2. A few lines of
// its own instead of the package keep about 12 KB out of the router build.
type table struct{ rows [][]string }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r[:max(len(r)-1, 0)] {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		b.Reset()
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]+2-utf8.RuneCountInString(c)))
			}
		}
		b.WriteByte('\n')
		io.WriteString(w, b.String())
	}
}

// kib writes a byte count in KiB, rounded up.
func kib(n uint64) string { return strconv.FormatUint((n+1023)/1024, 10) + " KiB" }

// printStatus renders the daemon's status for people.
func printStatus(w io.Writer, st *daemon.Status) {
	now := time.Now()
	fmt.Fprintf(w, "wgstun %s, up %s\n", st.Version, now.Sub(st.Started).Round(time.Second))
	if m := st.Memory; m != (daemon.MemoryStatus{}) {
		limit := "no limit"
		if m.Limit != 0 {
			limit = "limit " + kib(m.Limit)
		}
		fmt.Fprintf(w, "memory: heap %s in use, %s from the OS (%s returned), %s, %d allocations, %d collections\n",
			kib(m.HeapInUse), kib(m.Sys-m.Released), kib(m.Released), limit, m.Allocs, m.GCs)
	}
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
		if ifc.ChecksAnswered+ifc.ChecksDropped+ifc.ChecksLimited > 0 {
			fmt.Fprintf(w, "  path checks from peers: %d answered, %d dropped (not authentic, replayed or not ours), %d over the rate limit\n",
				ifc.ChecksAnswered, ifc.ChecksDropped, ifc.ChecksLimited)
		}
		tw := &table{}
		for _, k := range ifc.Missing {
			fmt.Fprintf(w, "  configured peer %s is not on the device\n", k)
		}
		if ifc.StoreError != "" {
			fmt.Fprintf(w, "  store error: %s\n", ifc.StoreError)
		}
		tw.row("  PEER", "STATE", "ENDPOINT", "FROM", "HANDSHAKE", "PING")
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
			tw.row("  "+short(p.PublicKey), p.State, ep, from, hs, pingText(p))
		}
		tw.write(w)
		for _, p := range ifc.Peers {
			if p.Reason != "" {
				fmt.Fprintf(w, "  %s %s: %s\n", short(p.PublicKey), p.State, p.Reason)
			}
			if !p.Recreated.IsZero() {
				fmt.Fprintf(w, "  %s re-created %s ago with its endpoint (%s), so WireGuard handshook at once instead of after its 5 s retry\n",
					short(p.PublicKey), since(now, p.Recreated), p.RecreatedWhy)
			}
			if p.Path.IsValid() {
				fmt.Fprintf(w, "  %s path %s (%s) answered a check %s ago in %.1f ms\n",
					short(p.PublicKey), p.Path, p.PathKind, since(now, p.PathChecked), p.PathRTT)
			}
			if p.LastError != "" {
				fmt.Fprintf(w, "  %s error: %s\n", short(p.PublicKey), p.LastError)
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
