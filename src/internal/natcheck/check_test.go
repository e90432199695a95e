package natcheck

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wgstun/wgstun/src/stun"
)

var (
	local    = netip.MustParseAddrPort("192.168.1.2:5000")
	wan      = netip.MustParseAddr("203.0.113.10")
	primary  = netip.MustParseAddrPort("198.51.100.1:3478")
	otherAdr = netip.MustParseAddrPort("198.51.100.2:3479")
	second   = netip.MustParseAddrPort("198.51.100.9:3478")
)

// fakeNAT is a scripted NAT in front of local with RFC 4787 behaviour m
// and f, and behind it STUN servers: an RFC 5780 one at primary (other
// address otherAdr, answering on all four address and port combinations)
// unless plain, and a plain one at second. A request whose answer the NAT
// filters away fails with stun.ErrTimeout at once, as a Client's would
// after its retransmissions.
type fakeNAT struct {
	mu       sync.Mutex // the checker runs the two filtering tests at once
	m        Mapping
	f        Filtering
	plain    bool                // the primary server offers no OTHER-ADDRESS
	ignoreCR bool                // the server answers CHANGE-REQUESTs from where it was asked
	silent   map[netip.Addr]bool // server addresses that never answer
	maps     map[string]netip.AddrPort
	sent     map[netip.AddrPort][]netip.AddrPort // mapping -> destinations sent to
	next     uint16
	requests []string
}

func newFakeNAT(m Mapping, f Filtering) *fakeNAT {
	return &fakeNAT{m: m, f: f, maps: map[string]netip.AddrPort{}, sent: map[netip.AddrPort][]netip.AddrPort{}, next: 40000, silent: map[netip.Addr]bool{}}
}

func (n *fakeNAT) out(dst netip.AddrPort) netip.AddrPort {
	var key string
	switch n.m {
	case NoNAT:
		n.sent[local] = append(n.sent[local], dst)
		return local
	case EndpointIndependent:
		key = ""
	case AddressDependent:
		key = dst.Addr().String()
	default:
		key = dst.String()
	}
	mp, ok := n.maps[key]
	if !ok {
		mp = netip.AddrPortFrom(wan, n.next)
		n.next++
		n.maps[key] = mp
	}
	n.sent[mp] = append(n.sent[mp], dst)
	return mp
}

func (n *fakeNAT) in(src, mp netip.AddrPort) bool {
	sent := n.sent[mp]
	switch n.f {
	case FilterNone:
		return len(sent) > 0
	case FilterAddress:
		return slices.ContainsFunc(sent, func(d netip.AddrPort) bool { return d.Addr() == src.Addr() })
	}
	return slices.Contains(sent, src)
}

func (n *fakeNAT) exchange(ctx context.Context, server netip.AddrPort, change stun.Change) (stun.Response, netip.AddrPort, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return stun.Response{}, netip.AddrPort{}, err
	}
	n.requests = append(n.requests, fmt.Sprintf("%v/%d", server, change))
	mp := n.out(server)
	if n.silent[server.Addr()] {
		return stun.Response{}, netip.AddrPort{}, fmt.Errorf("%w from %s", stun.ErrTimeout, server)
	}
	rfc5780 := !n.plain && (server.Addr() == primary.Addr() || server.Addr() == otherAdr.Addr())
	src := server
	var resp stun.Response
	resp.Mapped = mp
	if rfc5780 {
		if !n.ignoreCR {
			if change&stun.ChangeIP != 0 {
				src = netip.AddrPortFrom(swapAddr(src.Addr()), src.Port())
			}
			if change&stun.ChangePort != 0 {
				src = netip.AddrPortFrom(src.Addr(), swapPort(src.Port()))
			}
		}
		resp.Other = netip.AddrPortFrom(swapAddr(server.Addr()), swapPort(server.Port()))
		resp.Origin = src
	} else if server == second || n.plain {
		// a plain server ignores CHANGE-REQUEST
	} else {
		return stun.Response{}, netip.AddrPort{}, fmt.Errorf("%w from %s", stun.ErrTimeout, server)
	}
	if !n.in(src, mp) {
		return stun.Response{}, netip.AddrPort{}, fmt.Errorf("%w from %s", stun.ErrTimeout, server)
	}
	return resp, src, nil
}

func swapAddr(a netip.Addr) netip.Addr {
	if a == primary.Addr() {
		return otherAdr.Addr()
	}
	return primary.Addr()
}

func swapPort(p uint16) uint16 {
	if p == primary.Port() {
		return otherAdr.Port()
	}
	return primary.Port()
}

// TestCheckRFC5780 runs Check against every mapping × filtering
// combination behind an RFC 5780 server.
func TestCheckRFC5780(t *testing.T) {
	type want struct {
		class   Class
		classic string
	}
	for _, m := range []Mapping{NoNAT, EndpointIndependent, AddressDependent, AddressAndPortDependent} {
		for _, f := range []Filtering{FilterNone, FilterAddress, FilterAddressAndPort} {
			t.Run(m.String()+"/"+f.String(), func(t *testing.T) {
				n := newFakeNAT(m, f)
				res, err := Check(t.Context(), n.exchange, []netip.AddrPort{primary, second}, Options{Local: []netip.AddrPort{local}})
				if err != nil {
					t.Fatal(err)
				}
				w := want{class: Class{m, f}}
				switch {
				case m == NoNAT:
					w.classic = map[Filtering]string{FilterNone: "no NAT"}[f]
					if w.classic == "" {
						w.classic = "no NAT, firewalled"
					}
				case m != EndpointIndependent:
					w.classic = "symmetric"
				default:
					w.classic = map[Filtering]string{FilterNone: "full cone", FilterAddress: "restricted cone", FilterAddressAndPort: "port-restricted cone"}[f]
				}
				if res.Class != w.class || res.Classic() != w.classic {
					t.Errorf("got %v/%v %q, want %v/%v %q; tests %+v notes %q", res.Mapping, res.Filtering, res.Classic(),
						w.class.Mapping, w.class.Filtering, w.classic, res.Tests, res.Notes)
				}
				if res.Server != primary || res.Other != otherAdr {
					t.Errorf("server %v other %v, want %v %v", res.Server, res.Other, primary, otherAdr)
				}
				if len(res.Notes) != 0 {
					t.Errorf("notes %q, want none", res.Notes)
				}
				// The filtering tests come before anything is sent to the
				// other address, and the plain second server is not asked.
				for i, r := range n.requests {
					if strings.HasPrefix(r, otherAdr.Addr().String()) && i < 3 {
						t.Errorf("request %d went to the other address before the filtering tests: %q", i, n.requests)
					}
					if strings.HasPrefix(r, second.String()) {
						t.Errorf("the second server was asked: %q", n.requests)
					}
				}
			})
		}
	}
}

// TestCheckFallback: without OTHER-ADDRESS, the mappings seen by servers at
// different addresses (and two ports of one) decide; filtering stays
// unknown.
func TestCheckFallback(t *testing.T) {
	sameIPOtherPort := netip.AddrPortFrom(primary.Addr(), 3479)
	tests := []struct {
		name    string
		m       Mapping
		servers []netip.AddrPort
		want    Mapping
		classic string
	}{
		{"cone", EndpointIndependent, []netip.AddrPort{primary, second}, EndpointIndependent, "cone"},
		{"symmetric by address", AddressDependent, []netip.AddrPort{primary, second}, Dependent, "symmetric"},
		{"symmetric by port", AddressAndPortDependent, []netip.AddrPort{primary, second}, Dependent, "symmetric"},
		{"two ports tell address-dependent", AddressDependent, []netip.AddrPort{primary, sameIPOtherPort, second}, AddressDependent, "symmetric"},
		{"two ports tell address-and-port-dependent", AddressAndPortDependent, []netip.AddrPort{primary, sameIPOtherPort, second}, AddressAndPortDependent, "symmetric"},
		{"one server", EndpointIndependent, []netip.AddrPort{primary}, MappingUnknown, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFakeNAT(tt.m, FilterAddressAndPort)
			n.plain = true
			res, err := Check(t.Context(), n.exchange, tt.servers, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Mapping != tt.want || res.Filtering != FilteringUnknown || res.Classic() != tt.classic {
				t.Errorf("got %v/%v %q, want %v/unknown %q; notes %q", res.Mapping, res.Filtering, res.Classic(), tt.want, tt.classic, res.Notes)
			}
			if !slices.ContainsFunc(res.Notes, func(s string) bool { return strings.Contains(s, "OTHER-ADDRESS") }) {
				t.Errorf("notes %q do not say why filtering is unknown", res.Notes)
			}
		})
	}
}

func TestCheckFailures(t *testing.T) {
	t.Run("no server answers", func(t *testing.T) {
		n := newFakeNAT(EndpointIndependent, FilterNone)
		n.silent[primary.Addr()], n.silent[second.Addr()] = true, true
		_, err := Check(t.Context(), n.exchange, []netip.AddrPort{primary, second}, Options{})
		if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), primary.String()) || !strings.Contains(err.Error(), second.String()) {
			t.Fatalf("err %v, want ErrNoAnswer naming both servers", err)
		}
	})
	t.Run("no servers", func(t *testing.T) {
		n := newFakeNAT(EndpointIndependent, FilterNone)
		if _, err := Check(t.Context(), n.exchange, nil, Options{}); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("first server silent, second is RFC 5780", func(t *testing.T) {
		n := newFakeNAT(EndpointIndependent, FilterAddress)
		n.silent[second.Addr()] = true
		res, err := Check(t.Context(), n.exchange, []netip.AddrPort{second, primary}, Options{})
		if err != nil || res.Class != (Class{EndpointIndependent, FilterAddress}) || res.Server != primary {
			t.Fatalf("got %+v %v, want restricted cone via %v", res, err, primary)
		}
	})
	t.Run("server ignores CHANGE-REQUEST", func(t *testing.T) {
		n := newFakeNAT(EndpointIndependent, FilterAddressAndPort)
		n.ignoreCR = true
		res, err := Check(t.Context(), n.exchange, []netip.AddrPort{primary}, Options{})
		if err != nil || res.Filtering != FilteringUnknown || res.Mapping != EndpointIndependent {
			t.Fatalf("got %v/%v %v, want eim/unknown", res.Mapping, res.Filtering, err)
		}
		if !slices.ContainsFunc(res.Notes, func(s string) bool { return strings.Contains(s, "wrong address") }) {
			t.Errorf("notes %q", res.Notes)
		}
	})
	t.Run("other address silent", func(t *testing.T) {
		n := newFakeNAT(AddressAndPortDependent, FilterAddressAndPort)
		n.silent[otherAdr.Addr()] = true
		res, err := Check(t.Context(), n.exchange, []netip.AddrPort{primary, second}, Options{})
		// The fallback compares primary and second.
		if err != nil || res.Mapping != Dependent || res.Filtering != FilterAddressAndPort {
			t.Fatalf("got %v/%v %v, want dependent/apdf", res.Mapping, res.Filtering, err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		n := newFakeNAT(EndpointIndependent, FilterNone)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := Check(ctx, n.exchange, []netip.AddrPort{primary}, Options{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
}

func TestCheckHairpin(t *testing.T) {
	for _, tt := range []struct {
		name string
		fn   func(context.Context, netip.AddrPort) (bool, error)
		want Hairpin
		note bool
	}{
		{"untested", nil, HairpinUntested, false},
		{"yes", func(context.Context, netip.AddrPort) (bool, error) { return true, nil }, HairpinYes, false},
		{"no", func(context.Context, netip.AddrPort) (bool, error) { return false, nil }, HairpinNo, false},
		{"error", func(context.Context, netip.AddrPort) (bool, error) { return false, errors.New("no second socket") }, HairpinUntested, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := newFakeNAT(EndpointIndependent, FilterNone)
			res, err := Check(t.Context(), n.exchange, []netip.AddrPort{primary}, Options{Hairpin: tt.fn})
			if err != nil || res.Hairpin != tt.want || (len(res.Notes) > 0) != tt.note {
				t.Fatalf("hairpin %v notes %q err %v, want %v", res.Hairpin, res.Notes, err, tt.want)
			}
		})
	}
}
