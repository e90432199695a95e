package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/wgstun/wgstun/src/internal/capture"
	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/jsonwire"
	"github.com/wgstun/wgstun/src/internal/natcheck"
	"github.com/wgstun/wgstun/src/internal/resolve"
	"github.com/wgstun/wgstun/src/internal/wg"
	"github.com/wgstun/wgstun/src/stun"
)

// natCheckBudget bounds the whole of `wgstun nat-check`: a dead server
// costs 1.2 s (RTO 100 ms, 4 transmissions), a filtered test 1.2 s, and
// the filtering tests run in parallel.
const natCheckBudget = 10 * time.Second

// serverFlags collects repeated -s flags.
type serverFlags []string

func (s *serverFlags) String() string     { return strings.Join(*s, ",") }
func (s *serverFlags) Set(v string) error { *s = append(*s, v); return nil }

func cmdNATCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("wgstun nat-check")
	fs.SetOutput(stderr)
	path := fs.String("c", "", "configuration file whose stun.servers to use (default "+config.DefaultPath+" when no -s is given)")
	var servers serverFlags
	fs.Var(&servers, "s", "STUN server host:port (repeatable; overrides the configuration)")
	iface := fs.String("i", "", "test from this WireGuard interface's listen port (raw packet path) instead of an ephemeral socket")
	v6 := fs.Bool("6", false, "test IPv6 instead of IPv4")
	asJSON := fs.Bool("json", false, "print JSON")
	if fs.Parse(args) != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wgstun nat-check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var ic config.Interface
	if len(servers) == 0 || *path != "" {
		p := *path
		if p == "" {
			p = config.DefaultPath
		}
		cfg, err := config.Load(p)
		if err != nil {
			fmt.Fprintf(stderr, "wgstun nat-check: %v\n(give STUN servers with -s host:port, or a configuration with -c)\n", err)
			return 2
		}
		if len(servers) == 0 {
			servers = cfg.STUN
		}
		for _, c := range cfg.Interfaces {
			if c.Name == *iface {
				ic = c
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), natCheckBudget)
	defer cancel()
	addrs, err := resolveServers(ctx, servers, *v6)
	if err != nil {
		fmt.Fprintln(stderr, "wgstun nat-check:", err)
		return 1
	}
	conn, from, port, err := openCheckConn(*iface, *v6, ic)
	if err != nil {
		fmt.Fprintln(stderr, "wgstun nat-check:", err)
		return 1
	}
	defer conn.Close()
	client := stun.NewClient(conn)
	client.RTO, client.Transmits = 100*time.Millisecond, 4
	defer client.Close()
	res, err := natcheck.Check(ctx, client.Exchange, addrs, natcheck.Options{
		Local:   natcheck.LocalAddrs(port, *v6),
		Hairpin: natcheck.HairpinTest(conn, *v6),
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("gave up after %v: %w", natCheckBudget, err)
		}
		fmt.Fprintln(stderr, "wgstun nat-check:", err)
		return 1
	}
	if *iface != "" && res.Mapping == natcheck.EndpointIndependent && res.Filtering == natcheck.FilterNone {
		res.Notes = append(res.Notes, "on WireGuard's port, packets sent to "+res.Other.Addr().String()+
			" in the last minutes (the daemon's own STUN) keep an address-dependent filter open, which then looks endpoint-independent; an ephemeral port (no -i) tells them apart")
	}
	if *asJSON {
		stdout.Write(append(appendNATCheckJSON(nil, &res, from), '\n'))
		return 0
	}
	printNATCheck(stdout, &res, from)
	return 0
}

func resolveServers(ctx context.Context, servers []string, v6 bool) ([]netip.AddrPort, error) {
	if len(servers) == 0 {
		return nil, errors.New("no STUN servers (give -s host:port, or stun.servers in the configuration)")
	}
	var out []netip.AddrPort
	var errs []string
	for _, s := range servers {
		a, err := resolve.HostPort(ctx, s, v6)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", s, err))
		}
		out = append(out, a...)
	}
	if len(out) == 0 {
		fam := "IPv4"
		if v6 {
			fam = "IPv6"
		}
		errs = append(errs, "no "+fam+" address among the STUN servers "+strings.Join(servers, ", "))
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

// openCheckConn opens the tested port: WireGuard's own through the packet
// path the daemon uses (which reads answers without taking the port), or
// an ephemeral UDP socket. from says which, in words.
func openCheckConn(iface string, v6 bool, ic config.Interface) (c stun.Conn, from string, port uint16, err error) {
	if iface == "" {
		network := "udp4"
		if v6 {
			network = "udp6"
		}
		u, err := net.ListenUDP(network, nil)
		if err != nil {
			return nil, "", 0, fmt.Errorf("open a UDP socket: %w", err)
		}
		lp := netip.MustParseAddrPort(u.LocalAddr().String()).Port()
		return stun.NewUDPConn(u), fmt.Sprintf("ephemeral UDP port %d", lp), lp, nil
	}
	w, err := wg.Open()
	if err != nil {
		return nil, "", 0, fmt.Errorf("reach WireGuard: %w", err)
	}
	dev, err := w.Device(iface)
	w.Close()
	switch {
	case err != nil:
		return nil, "", 0, fmt.Errorf("interface %s: %w", iface, err)
	case dev.ListenPort == 0:
		return nil, "", 0, fmt.Errorf("interface %s has no listen port", iface)
	}
	c, err = capture.OpenWith(dev.ListenPort, v6, dev.Mark, capture.Options{
		Capture: ic.Capture, FIB: ic.FIB, BindInterface: ic.BindInterface,
	})
	if err != nil {
		return nil, "", 0, fmt.Errorf("open the packet path on %s's port %d: %w", iface, dev.ListenPort, err)
	}
	return c, fmt.Sprintf("WireGuard port %d of %s", dev.ListenPort, iface), dev.ListenPort, nil
}

func changeWords(c stun.Change) string {
	switch c {
	case stun.ChangeIP | stun.ChangePort:
		return "change IP and port"
	case stun.ChangePort:
		return "change port"
	case stun.ChangeIP:
		return "change IP"
	}
	return ""
}

func hairpinWords(h natcheck.Hairpin) string {
	switch h {
	case natcheck.HairpinYes:
		return "yes"
	case natcheck.HairpinNo:
		return "no"
	}
	return "not tested"
}

func printNATCheck(w io.Writer, r *natcheck.Result, from string) {
	server := r.Server.String()
	if r.Other.IsValid() {
		server += " (other address " + r.Other.String() + ")"
	} else {
		server += " (no OTHER-ADDRESS)"
	}
	fmt.Fprintf(w, "tested from   %s\n", from)
	fmt.Fprintf(w, "STUN server   %s\n", server)
	fmt.Fprintf(w, "mapped        %s\n", r.Mapped)
	fmt.Fprintf(w, "mapping       %s\n", r.Mapping)
	fmt.Fprintf(w, "filtering     %s\n", r.Filtering)
	fmt.Fprintf(w, "NAT type      %s\n", r.Classic())
	fmt.Fprintf(w, "hairpinning   %s\n", hairpinWords(r.Hairpin))
	fmt.Fprintf(w, "\n%s\n\ntests:\n", r.Meaning())
	for _, t := range r.Tests {
		dst := t.Server.String()
		if cw := changeWords(t.Change); cw != "" {
			dst += " (" + cw + ")"
		}
		out := "no answer"
		switch {
		case t.Answered:
			out = "mapped " + t.Mapped.String() + ", answer from " + t.From.String()
		case t.Err != "":
			out = t.Err
		}
		fmt.Fprintf(w, "  %-14s %-44s %s\n", t.Name, dst, out)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func appendNATCheckJSON(b []byte, r *natcheck.Result, from string) []byte {
	j := jsonwire.NewWriter(b, "  ")
	str := func(k, v string) { j.StringMember(k, v, true) }
	ap := func(k string, a netip.AddrPort) {
		if a.IsValid() {
			str(k, a.String())
		}
	}
	j.BeginObject()
	str("tested_from", from)
	ap("server", r.Server)
	ap("other_address", r.Other)
	ap("mapped", r.Mapped)
	str("mapping", r.Mapping.String())
	str("filtering", r.Filtering.String())
	str("nat_type", r.Classic())
	str("hint", r.Hint())
	str("hairpinning", hairpinWords(r.Hairpin))
	str("meaning", r.Meaning())
	j.Key("tests")
	j.BeginArray()
	for _, t := range r.Tests {
		j.BeginObject()
		str("name", t.Name)
		ap("server", t.Server)
		str("change", changeWords(t.Change))
		j.Key("answered")
		j.Bool(t.Answered)
		ap("mapped", t.Mapped)
		ap("from", t.From)
		str("error", t.Err)
		j.EndObject()
	}
	j.EndArray()
	if len(r.Notes) > 0 {
		j.Key("notes")
		j.BeginArray()
		for _, n := range r.Notes {
			j.String(n)
		}
		j.EndArray()
	}
	j.EndObject()
	return j.Bytes()
}
