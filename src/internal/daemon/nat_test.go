package daemon

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/natcheck"
	"github.com/wgstun/wgstun/src/record"
)

// knownClasses is every class with both behaviours known.
func knownClasses() []natcheck.Class {
	var out []natcheck.Class
	for _, m := range []natcheck.Mapping{natcheck.NoNAT, natcheck.EndpointIndependent, natcheck.AddressDependent, natcheck.AddressAndPortDependent} {
		for _, f := range []natcheck.Filtering{natcheck.FilterNone, natcheck.FilterAddress, natcheck.FilterAddressAndPort} {
			out = append(out, natcheck.Class{Mapping: m, Filtering: f})
		}
	}
	return out
}

// TestConnectingEveryClassPair: for every pair of fully known classes, a
// pair that cannot connect directly is called impossible at once, with
// natcheck's words, and one that can is never called impossible however
// long it waits.
func TestConnectingEveryClassPair(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, ours := range knownClasses() {
		for _, theirs := range knownClasses() {
			r := &runner{disc: discoverState{class: ours}}
			p := &peer{cand: netip.MustParseAddrPort("203.0.113.9:1"), setAt: now, rec: record.Endpoints{NAT: theirs.Hint()}}
			state, reason := r.connecting(p, now)
			switch natcheck.Direct(ours, theirs) {
			case natcheck.No:
				if state != StateImpossible || reason != natcheck.Explain(ours, theirs) {
					t.Errorf("%s vs %s: %s %q, want impossible at once", ours.Hint(), theirs.Hint(), state, reason)
				}
			case natcheck.Yes:
				for _, waited := range []time.Duration{0, impossibleWait, time.Hour} {
					if state, reason := r.connecting(p, now.Add(waited)); state != StateConnecting {
						t.Errorf("%s vs %s after %v: %s %q, want connecting", ours.Hint(), theirs.Hint(), waited, state, reason)
					}
				}
			default:
				t.Errorf("%s vs %s: known classes gave Maybe", ours.Hint(), theirs.Hint())
			}
		}
	}
}

// TestImpossibleWording pins the status text of the lab's impossible pairs
// (src/e2e/connect_test.go asserts the same words from the real daemon).
func TestImpossibleWording(t *testing.T) {
	sym := natcheck.Class{Mapping: natcheck.AddressAndPortDependent, Filtering: natcheck.FilterAddressAndPort}
	prc := natcheck.Class{Mapping: natcheck.EndpointIndependent, Filtering: natcheck.FilterAddressAndPort}
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name         string
		ours, theirs natcheck.Class
		want         string
	}{
		{"symmetric here, port-restricted peer", sym, prc,
			"no direct path: this side is symmetric (address-and-port-dependent mapping) and the peer filters by address and port; enable port_mapping on either gateway or use a relay"},
		{"port-restricted here, symmetric peer", prc, sym,
			"no direct path: the peer is symmetric (address-and-port-dependent mapping) and this side filters by address and port; enable port_mapping on either gateway or use a relay"},
		{"both symmetric", sym, sym,
			"no direct path: both NATs are symmetric (each maps every destination to a new port: address-and-port-dependent mapping) and neither accepts packets from senders it has not sent to; enable port_mapping on either gateway or use a relay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &runner{disc: discoverState{class: tt.ours}}
			p := &peer{cand: netip.MustParseAddrPort("203.0.113.9:1"), setAt: now, rec: record.Endpoints{NAT: tt.theirs.Hint()}}
			if state, reason := r.connecting(p, now); state != StateImpossible || reason != tt.want {
				t.Errorf("%s %q\nwant %q", state, reason, tt.want)
			}
		})
	}
}

// TestImpossibleBacksOff: a pair whose classes rule out a direct path is
// polled once per refresh instead of at full speed, is published with
// this side's hint, and becomes possible again (fast polling) when the
// peer's record says its class changed.
func TestImpossibleBacksOff(t *testing.T) {
	a, b, st, clk := newPair(t)
	ctx := context.Background()
	a.r.disc.class = natcheck.Class{Mapping: natcheck.EndpointIndependent, Filtering: natcheck.FilterAddressAndPort}
	b.r.disc.class = natcheck.Class{Mapping: natcheck.AddressAndPortDependent, Filtering: natcheck.FilterAddressAndPort}
	settle(ctx, a.r)
	settle(ctx, b.r)

	// a's record carries its hint.
	e, err := record.Open(st.m[record.Key(a.priv.PublicKey(), b.priv.PublicKey())], b.priv, a.priv.PublicKey())
	if err != nil || e.NAT != "eim+apdf" {
		t.Fatalf("a's record: %+v %v, want nat eim+apdf", e, err)
	}
	pb := b.r.peers[b.peerKey(a)]
	if pb.state != StateImpossible || !strings.Contains(pb.reason, "this side is symmetric") {
		t.Fatalf("b: %s %q", pb.state, pb.reason)
	}
	if next := pb.nextPoll.Sub(clk.t); next != b.r.set.ic.Refresh {
		t.Fatalf("b polls an impossible peer again in %v, want the refresh %v", next, b.r.set.ic.Refresh)
	}
	ps := b.r.d.board.snapshot().Interfaces[0].Peers[0]
	if ps.State != StateImpossible || ps.Reason != pb.reason || ps.PeerNAT != "eim+apdf" {
		t.Fatalf("status %+v", ps)
	}
	wait := settle(ctx, b.r)
	if wait < watchEvery-time.Millisecond {
		t.Fatalf("b wakes again in %v", wait)
	}

	// a's NAT becomes a full cone; at b's next look (one refresh later)
	// the pair is possible and polling is fast again.
	a.r.disc.class = natcheck.Class{Mapping: natcheck.EndpointIndependent, Filtering: natcheck.FilterNone}
	clk.advance(a.r.set.ic.Refresh)
	settle(ctx, a.r)
	settle(ctx, b.r)
	if pb.state != StateConnecting {
		t.Fatalf("b after a's class changed: %s %q", pb.state, pb.reason)
	}
	if next := pb.nextPoll.Sub(clk.t); next > pollCap {
		t.Fatalf("b polls a possible peer again in %v", next)
	}
}

func TestKeepFiltering(t *testing.T) {
	eim := func(f natcheck.Filtering) natcheck.Class {
		return natcheck.Class{Mapping: natcheck.EndpointIndependent, Filtering: f}
	}
	sym := natcheck.Class{Mapping: natcheck.AddressAndPortDependent, Filtering: natcheck.FilterNone}
	tests := []struct {
		name       string
		old, found natcheck.Class
		moved      bool
		want       natcheck.Class
	}{
		{"pass after address filtering is kept", eim(natcheck.FilterAddress), eim(natcheck.FilterNone), false, eim(natcheck.FilterAddress)},
		{"new mapping takes the new verdict", eim(natcheck.FilterAddress), eim(natcheck.FilterNone), true, eim(natcheck.FilterNone)},
		{"a stricter verdict always wins", eim(natcheck.FilterNone), eim(natcheck.FilterAddressAndPort), false, eim(natcheck.FilterAddressAndPort)},
		{"symmetric mapping is not kept", eim(natcheck.FilterAddress), sym, false, sym},
		{"first verdict", natcheck.Class{}, eim(natcheck.FilterNone), false, eim(natcheck.FilterNone)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keepFiltering(tt.old, tt.found, tt.moved); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
