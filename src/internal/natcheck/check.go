// Package natcheck classifies the NAT in front of a UDP port with the
// tests of RFC 5780 §4.3 (mapping) and §4.4 (filtering) against a STUN
// server that names its other address (OTHER-ADDRESS), falling back to
// comparing the mappings several servers see when none does. Check sends
// nothing itself: it takes the STUN round trip as a function, so the same
// logic runs on an ephemeral socket, on WireGuard's own port through the
// raw packet path, and against a scripted server in tests. For a check run
// from this host, LocalAddrs lists its own addresses and HairpinTest runs
// the hairpinning test from a second ephemeral socket. The class's words
// (RFC 4787 and RFC 3489 names, a record hint, whether two classes can
// reach each other directly) live here too.
package natcheck

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wgstun/wgstun/src/stun"
)

// Exchange sends one Binding request to server with the CHANGE-REQUEST
// flags change (none when zero) and returns the response and the address
// it came from; stun.Client.Exchange is one. An error matching
// stun.ErrTimeout or context.DeadlineExceeded means no answer came.
type Exchange func(ctx context.Context, server netip.AddrPort, change stun.Change) (resp stun.Response, src netip.AddrPort, err error)

// DefaultWait bounds a test whose answer a NAT may filter away.
const DefaultWait = 1500 * time.Millisecond

// ErrNoAnswer is matched by Check's error when no server answered at all.
var ErrNoAnswer = errors.New("natcheck: no STUN server answered")

// Options tune Check.
type Options struct {
	// Local holds the tested socket's own addresses: a mapping equal to
	// one of them means there is no NAT.
	Local []netip.AddrPort
	// Wait bounds each test that may go unanswered; 0 means DefaultWait.
	Wait time.Duration
	// Hairpin, when set, reports whether a packet sent from the tested
	// port to another local port's public mapping (learned from server)
	// comes back in through the NAT (RFC 5780 §4.5); nil leaves
	// hairpinning untested.
	Hairpin func(ctx context.Context, server netip.AddrPort) (bool, error)
}

// Test is one request Check sent, for the record.
type Test struct {
	Name     string         // "I", "filtering II", "mapping III" ...
	Server   netip.AddrPort // where the request went
	Change   stun.Change
	Answered bool
	Mapped   netip.AddrPort // when answered
	From     netip.AddrPort // the answer's source, when answered
	Other    netip.AddrPort // the answer's OTHER-ADDRESS, if any
	Err      string         // why it failed, other than no answer
}

// Hairpin is the hairpinning verdict.
type Hairpin uint8

// Hairpinning verdicts.
const (
	HairpinUntested Hairpin = iota
	HairpinYes
	HairpinNo
)

// Result is what Check found.
type Result struct {
	Class
	Server netip.AddrPort // the server of test I
	Other  netip.AddrPort // its OTHER-ADDRESS; zero when it offers none
	Mapped netip.AddrPort // the mapping test I saw
	Tests  []Test
	// Hairpin is untested unless Options.Hairpin was set.
	Hairpin Hairpin
	// Notes explain what could not be tested, and why.
	Notes []string
}

// noAnswer reports an error that means the request went unanswered.
func noAnswer(err error) bool {
	return errors.Is(err, stun.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}

type checker struct {
	ex   Exchange
	wait time.Duration
	mu   sync.Mutex
	res  *Result
}

// run sends one request, bounded by the wait, and records it.
func (c *checker) run(ctx context.Context, name string, server netip.AddrPort, change stun.Change) (Test, error) {
	tctx, cancel := context.WithTimeout(ctx, c.wait)
	resp, src, err := c.ex(tctx, server, change)
	cancel()
	t := Test{Name: name, Server: server, Change: change}
	switch {
	case err == nil:
		t.Answered, t.Mapped, t.From, t.Other = true, resp.Mapped, src, resp.Other
	case ctx.Err() != nil:
		return t, fmt.Errorf("natcheck: %s to %s: %w", name, server, ctx.Err())
	case !noAnswer(err):
		t.Err = err.Error()
	}
	c.mu.Lock()
	c.res.Tests = append(c.res.Tests, t)
	c.mu.Unlock()
	return t, nil
}

func (c *checker) note(s string) { c.res.Notes = append(c.res.Notes, s) }

// Check classifies the NAT in front of the port ex sends from. Test I asks
// the servers in order until one answers; the first answer carrying a
// usable OTHER-ADDRESS is the RFC 5780 server. The filtering tests run
// before the mapping tests, and both in parallel, because the mapping
// tests send to the other address, which would open an address-dependent
// filter and make it look endpoint-independent. Without OTHER-ADDRESS the
// mapping is judged by comparing what several servers saw and the
// filtering stays unknown. Each test waits at most Options.Wait; the
// error matches ErrNoAnswer when no server answered test I.
func Check(ctx context.Context, ex Exchange, servers []netip.AddrPort, o Options) (Result, error) {
	var res Result
	c := &checker{ex: ex, wait: o.Wait, res: &res}
	if c.wait <= 0 {
		c.wait = DefaultWait
	}
	if len(servers) == 0 {
		return res, errors.New("natcheck: no STUN servers")
	}
	var seen []Test // answered test I's, in order
	var errs []string
	for _, s := range servers {
		t, err := c.run(ctx, "I", s, 0)
		if err != nil {
			return res, err
		}
		if !t.Answered {
			if t.Err == "" {
				t.Err = "no answer"
			}
			errs = append(errs, s.String()+": "+t.Err)
			continue
		}
		seen = append(seen, t)
		if !res.Server.IsValid() {
			res.Server, res.Mapped = s, t.Mapped
		}
		other, ok, why := usableOther(s, t.Other)
		if ok {
			res.Server, res.Mapped, res.Other = s, t.Mapped, other
			break
		}
		if why != "" {
			c.note(why)
		}
	}
	if len(seen) == 0 {
		return res, fmt.Errorf("%w: %s", ErrNoAnswer, strings.Join(errs, "; "))
	}
	if isLocal(res.Mapped, o.Local) {
		res.Mapping = NoNAT
	}
	if res.Other.IsValid() {
		if err := c.rfc5780(ctx); err != nil {
			return res, err
		}
	} else {
		c.note("filtering not tested: no server offers OTHER-ADDRESS (RFC 5780)")
	}
	if res.Mapping == MappingUnknown {
		if err := c.compare(ctx, servers, seen); err != nil {
			return res, err
		}
	}
	// The filtering tests ran in parallel; list them in the RFC's order.
	sort.SliceStable(res.Tests, func(i, j int) bool { return testRank(res.Tests[i].Name) < testRank(res.Tests[j].Name) })
	if o.Hairpin != nil && res.Mapping != NoNAT {
		hctx, cancel := context.WithTimeout(ctx, c.wait)
		ok, err := o.Hairpin(hctx, res.Server)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return res, fmt.Errorf("natcheck: hairpinning: %w", ctx.Err())
		case err != nil:
			c.note("hairpinning not tested: " + err.Error())
		case ok:
			res.Hairpin = HairpinYes
		default:
			res.Hairpin = HairpinNo
		}
	}
	return res, nil
}

// usableOther checks server s's OTHER-ADDRESS o for RFC 5780: same
// family, and both address and port differ from s's.
func usableOther(s, o netip.AddrPort) (netip.AddrPort, bool, string) {
	if !o.IsValid() {
		return netip.AddrPort{}, false, ""
	}
	o = netip.AddrPortFrom(o.Addr().Unmap(), o.Port())
	if o.Addr().Is4() != s.Addr().Is4() || o.Addr() == s.Addr() || o.Port() == s.Port() {
		return netip.AddrPort{}, false, fmt.Sprintf("%s names other address %s, which RFC 5780 cannot use (it needs another address and port of the same family)", s, o)
	}
	return o, true, ""
}

func testRank(name string) int {
	switch name {
	case "filtering II":
		return 1
	case "filtering III":
		return 2
	case "mapping II":
		return 3
	case "mapping III":
		return 4
	}
	return 0
}

func isLocal(m netip.AddrPort, local []netip.AddrPort) bool {
	for _, l := range local {
		if sameAddr(m, l) {
			return true
		}
	}
	return false
}

func sameAddr(a, b netip.AddrPort) bool {
	return a.Port() == b.Port() && a.Addr().Unmap().WithZone("") == b.Addr().Unmap().WithZone("")
}

// rfc5780 runs the filtering tests (§4.4: II asks for an answer from the
// other address and port, III from the other port only), then the mapping
// tests (§4.3: II to the other address at the primary port, III to the
// other address and port). An answer from a source other than the one
// asked for means the server ignored CHANGE-REQUEST.
func (c *checker) rfc5780(ctx context.Context) error {
	res := c.res
	s, o := res.Server, res.Other
	var t2, t3 Test
	var e2, e3 error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		t2, e2 = c.run(ctx, "filtering II", s, stun.ChangeIP|stun.ChangePort)
	}()
	go func() {
		defer wg.Done()
		t3, e3 = c.run(ctx, "filtering III", s, stun.ChangePort)
	}()
	wg.Wait()
	if e2 != nil {
		return e2
	}
	if e3 != nil {
		return e3
	}
	want2, want3 := o, netip.AddrPortFrom(s.Addr(), o.Port())
	switch {
	case t2.Answered && !sameAddr(t2.From, want2) || t3.Answered && !sameAddr(t3.From, want3):
		c.note(fmt.Sprintf("filtering not tested: %s answered a CHANGE-REQUEST from the wrong address", s))
	case t2.Err != "" || t3.Err != "":
		c.note(fmt.Sprintf("filtering not tested: %s failed a CHANGE-REQUEST", s))
	case t2.Answered:
		res.Filtering = FilterNone
	case t3.Answered:
		res.Filtering = FilterAddress
	default:
		res.Filtering = FilterAddressAndPort
	}
	if res.Mapping == NoNAT {
		return nil
	}
	m2, err := c.run(ctx, "mapping II", netip.AddrPortFrom(o.Addr(), s.Port()), 0)
	if err != nil {
		return err
	}
	if !m2.Answered {
		c.note(fmt.Sprintf("mapping not tested the RFC 5780 way: %s did not answer", m2.Server))
		return nil
	}
	if m2.Mapped == res.Mapped {
		res.Mapping = EndpointIndependent
		return nil
	}
	m3, err := c.run(ctx, "mapping III", o, 0)
	if err != nil {
		return err
	}
	switch {
	case !m3.Answered:
		res.Mapping = Dependent
		c.note(fmt.Sprintf("address- and address-and-port-dependent mapping not told apart: %s did not answer", o))
	case m3.Mapped == m2.Mapped:
		res.Mapping = AddressDependent
	default:
		res.Mapping = AddressAndPortDependent
	}
	return nil
}

// compare judges the mapping from what several servers saw: one mapping
// toward two addresses is endpoint-independent; different ones are not,
// and two ports of one address tell which kind.
func (c *checker) compare(ctx context.Context, servers []netip.AddrPort, seen []Test) error {
	for _, s := range servers {
		if len(seen) >= 4 {
			break
		}
		if containsServer(seen, s) || containsServerTest(c.res.Tests, s) {
			continue
		}
		t, err := c.run(ctx, "I", s, 0)
		if err != nil {
			return err
		}
		if t.Answered {
			seen = append(seen, t)
		}
	}
	var sameIPSame, sameIPDiff, otherIPSame, otherIPDiff bool
	for i := range seen {
		for j := i + 1; j < len(seen); j++ {
			a, b := seen[i], seen[j]
			same := a.Mapped == b.Mapped
			switch {
			case a.Server.Addr() == b.Server.Addr() && same:
				sameIPSame = true
			case a.Server.Addr() == b.Server.Addr():
				sameIPDiff = true
			case same:
				otherIPSame = true
			default:
				otherIPDiff = true
			}
		}
	}
	switch {
	case otherIPDiff && sameIPDiff:
		c.res.Mapping = AddressAndPortDependent
	case otherIPDiff && sameIPSame:
		c.res.Mapping = AddressDependent
	case otherIPDiff:
		c.res.Mapping = Dependent
	case otherIPSame:
		c.res.Mapping = EndpointIndependent
	case sameIPDiff:
		c.res.Mapping = AddressAndPortDependent
	default:
		c.note("mapping not tested: it needs a server offering OTHER-ADDRESS or two servers at different addresses")
	}
	return nil
}

func containsServer(ts []Test, s netip.AddrPort) bool {
	for _, t := range ts {
		if t.Server == s {
			return true
		}
	}
	return false
}

func containsServerTest(ts []Test, s netip.AddrPort) bool {
	for _, t := range ts {
		if t.Name == "I" && t.Server == s {
			return true
		}
	}
	return false
}
