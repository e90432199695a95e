package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wgstun/wgstun/src/internal/natcheck"
	"github.com/wgstun/wgstun/src/stun"
)

// path is one address family's packet path on WireGuard's port.
type path struct {
	conn   stun.Conn
	client *stun.Client
}

func (p *path) close() {
	p.client.Close()
	p.conn.Close()
}

// packetPaths are the runner's paths on WireGuard's port, one per family
// the interface uses, for STUN and hole punching.
type packetPaths struct {
	byFamily [2]*path // IPv4, IPv6; nil when closed or not used
	gen      int      // bumped whenever paths are reopened
	port     uint16   // WireGuard's listen port they are open on; 0 when closed
	mark     uint32   // the device's firewall mark they were opened with
}

// discoverState is what STUN discovery found of this side, and when it
// runs next.
type discoverState struct {
	mapped        [2]netip.AddrPort // WireGuard's port as the STUN servers see it, per family
	server        [2]netip.AddrPort // the server that answered, per family
	class         natcheck.Class    // this side's NAT, as discovery last saw it
	moved         bool              // the last discovery found a new mapping
	running       bool              // a discovery is under way
	refreshing    bool              // this discovery starts a refresh cycle
	at            time.Time         // when the last discovery that worked was taken in
	next          time.Time         // when the next discovery is due
	backoff       time.Duration     // between failed discoveries
	err           string            // why the last discovery failed, as status shows it
	repairAt      time.Time         // last discovery started for a repair
	repairBackoff time.Duration     // before a repair may start another
}

func (r *runner) openPaths(port uint16, mark uint32) error {
	r.closePaths()
	for i, v6 := range []bool{false, true} {
		if v6 && !r.set.ic.Family.V6() || !v6 && !r.set.ic.Family.V4() {
			continue
		}
		c, err := r.d.deps.OpenConn(port, v6, mark, r.set.ic)
		if err != nil {
			r.closePaths()
			return fmt.Errorf("open packet path on port %d: %w", port, err)
		}
		cl := stun.NewClient(c)
		cl.OnRequest = r.onRequest
		r.paths.byFamily[i] = &path{conn: c, client: cl}
	}
	r.paths.port, r.paths.mark = port, mark
	r.paths.gen++
	r.startMapper()
	return nil
}

func (r *runner) closePaths() {
	r.stopMapper()
	for i, p := range r.paths.byFamily {
		if p != nil {
			p.close()
			r.paths.byFamily[i] = nil
		}
	}
	r.paths.port, r.paths.mark = 0, 0
}

type discovery struct {
	mapped, server [2]netip.AddrPort
	ok             [2]bool
	class          natcheck.Class
	classified     bool
	err            error // why each family that failed did, errors.Join'ed
}

// startDiscover asks the STUN servers for WireGuard's mapping, per family,
// in the background. The mapping is handed back as soon as it is known, so
// publishing never waits for the NAT's classification, which a refresh then
// runs (jobClassify).
func (r *runner) startDiscover(ctx context.Context, now time.Time) {
	paths, gen, servers := r.paths.byFamily, r.paths.gen, r.set.stun
	if paths[0] == nil && paths[1] == nil {
		return
	}
	r.disc.running = true
	r.disc.refreshing = !now.Before(r.disc.at.Add(r.set.ic.Refresh)) || r.disc.at.IsZero()
	// A repair needs the mapping fast: the server that answered last is
	// asked first, and the NAT's class is left for the next refresh.
	classify, last := r.disc.refreshing, r.disc.server
	go func() {
		var f discovery
		var from [2][]netip.AddrPort // per family, the servers from the one that answered on
		var errs []error
		for i, p := range paths {
			if p == nil {
				continue
			}
			m, addrs, err := r.discoverFamily(ctx, p, i == 1, servers, last[i])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			f.mapped[i], f.server[i], f.ok[i], from[i] = m, addrs[0], true, addrs
		}
		f.err = errors.Join(errs...)
		r.deliver(ctx, result{kind: jobDiscover, gen: gen, found: f})
		if !classify {
			return
		}
		// IPv4's NAT is the one that matters; IPv6's speaks only when
		// there is no IPv4.
		for i, p := range paths {
			if !f.ok[i] {
				continue
			}
			if class, ok := r.classify(ctx, p, from[i], f.mapped[i]); ok {
				r.deliver(ctx, result{kind: jobClassify, gen: gen, found: discovery{class: class, classified: true}})
				return
			}
		}
	}()
}

// discoverFamily tries the servers in order, the one that answered last
// (when given) first, and returns the mapping and the servers from the one
// that answered onwards.
func (r *runner) discoverFamily(ctx context.Context, p *path, v6 bool, servers []string, last netip.AddrPort) (mapped netip.AddrPort, from []netip.AddrPort, err error) {
	var addrs []netip.AddrPort
	var errs []error
	for _, s := range servers {
		a, err := r.d.deps.Resolve(ctx, s, v6)
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve %s: %w", s, err))
		}
		addrs = append(addrs, a...)
	}
	if len(addrs) == 0 {
		errs = append(errs, errors.New("no "+familyName(btoi(v6))+" STUN server address"))
		return mapped, nil, errors.Join(errs...)
	}
	if i := slices.Index(addrs, last); i > 0 {
		addrs = append(append([]netip.AddrPort{last}, addrs[:i]...), addrs[i+1:]...)
	}
	for i, a := range addrs {
		m, err := p.client.Binding(ctx, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
			continue
		}
		return m, addrs[i:], nil
	}
	return mapped, nil, errors.Join(errs...)
}

// classify runs natcheck.Check from the servers that answered discovery:
// the RFC 5780 tests when the first names an OTHER-ADDRESS, which adds two
// requests whose answers the NAT may filter (so up to classifyWait more)
// and one or two to the other address; otherwise the mapping a second
// server at another address sees.
func (r *runner) classify(ctx context.Context, p *path, servers []netip.AddrPort, mapped netip.AddrPort) (natcheck.Class, bool) {
	res, err := natcheck.Check(ctx, p.client.Exchange, servers, natcheck.Options{Wait: classifyWait})
	if err != nil {
		r.log.Debug("NAT classification failed", "err", err)
		return natcheck.Class{}, false
	}
	if res.Mapped != mapped && res.Mapped.IsValid() {
		// The mapping moved between the two looks; the next refresh
		// sees the new one.
		r.log.Debug("mapping changed during classification", "was", mapped, "now", res.Mapped)
	}
	return res.Class, res.Class.Mapping != natcheck.MappingUnknown
}

// discovered takes in a finished discovery.
func (r *runner) discovered(res result) {
	r.disc.running = false
	now := r.now()
	if res.gen != r.paths.gen {
		r.disc.next = now // the paths were reopened meanwhile
		return
	}
	f := res.found
	if !f.ok[0] && !f.ok[1] {
		msg := "STUN failed: " + oneLine(f.err)
		if msg != r.disc.err {
			r.log.Warn("discovery failed; keeping the last published mapping and retrying with backoff", "err", msg)
		}
		r.disc.err = msg
		r.disc.backoff = min(max(2*r.disc.backoff, discoverFirst), r.set.ic.Refresh)
		r.disc.next = now.Add(r.disc.backoff)
		if r.disc.refreshing {
			r.beginCycle(now, false)
		}
		return
	}
	if r.disc.err != "" {
		r.log.Info("discovery works again")
	}
	moved := false
	for i := range f.ok {
		if !f.ok[i] {
			continue
		}
		if f.mapped[i] != r.disc.mapped[i] {
			moved = true
			r.log.Info("discovered mapping", "family", familyName(i), "endpoint", f.mapped[i], "was", r.disc.mapped[i], "server", f.server[i])
		}
		r.disc.mapped[i], r.disc.server[i] = f.mapped[i], f.server[i]
		if i == 0 {
			a := f.server[0].Addr()
			if r.mapping.hint.Swap(&a) == nil && r.mapping.pm != nil && !r.mapping.status.Mapped() {
				r.mapping.pm.Check() // the gateway may be found toward the server now
			}
		}
	}
	if lan := r.lanCandidates(); !slices.Equal(lan, r.checks.lan) {
		if r.checks.lan != nil || len(lan) > 0 {
			r.log.Info("LAN candidates", "addresses", lan, "was", r.checks.lan)
		}
		r.checks.lan, moved = lan, true
	}
	r.disc.moved = moved
	r.disc.err = ""
	r.disc.backoff = 0
	r.disc.at = now
	r.disc.next = now.Add(r.set.ic.Refresh)
	if r.disc.refreshing || moved {
		r.beginCycle(now, true)
	}
}

// classified takes in the NAT class a refresh found after its discovery;
// a new class republishes every record with the new hint.
func (r *runner) classified(res result) {
	if res.gen != r.paths.gen {
		return
	}
	c := keepFiltering(r.disc.class, res.found.class, r.disc.moved)
	if c == r.disc.class {
		return
	}
	r.log.Info("NAT class", "nat", c.Classic(), "mapping", c.Mapping.String(), "filtering", c.Filtering.String(),
		"was", r.disc.class.Classic())
	r.disc.class = c
	r.beginCycle(r.now(), true)
}

// keepFiltering returns the class a refresh found, except that an
// endpoint-independent NAT's address-dependent filtering is not overturned
// by a later test that came through from the server's other address while
// the mapping stayed: this port's own STUN packets to that address (the
// mapping test, a second server) leave the filter open for it for the
// NAT's timeout, so the later pass proves nothing. The verdict matters
// less than it seems (with an endpoint-independent mapping the two
// filterings allow the same peers), but the hint and status stay right.
func keepFiltering(old, found natcheck.Class, moved bool) natcheck.Class {
	if !moved && old.Mapping == natcheck.EndpointIndependent && found.Mapping == natcheck.EndpointIndependent &&
		old.Filtering == natcheck.FilterAddress && found.Filtering == natcheck.FilterNone {
		return old
	}
	return found
}

func familyName(i int) string {
	if i == 1 {
		return "ipv6"
	}
	return "ipv4"
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// oneLine is err's text as status and the log show it, on one line: the
// errors an errors.Join holds are separated by "; ", not by the newlines
// of Join's own Error.
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
