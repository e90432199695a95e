package daemon

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/wgstun/wgstun/src/internal/pathcheck"
	"github.com/wgstun/wgstun/src/record"
	"github.com/wgstun/wgstun/src/stun"
)

// TestAnswerChecks: b answers a's path check from WireGuard's port with
// an authentic answer naming the source, and drops, without a word on the
// wire, a replay, a check under another key, one naming a record from
// before b started, one without integrity, and everything once path
// checks are off; answers to one source stop at the rate limit.
func TestAnswerChecks(t *testing.T) {
	a, b, _, _ := newPair(t)
	ctx := context.Background()
	b.r.set.ic.PathChecks = true
	settle(ctx, b.r)
	key, err := pathcheck.Key(a.priv, b.priv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddrPort("192.168.10.2:51820")
	tag := pathcheck.Tag(a.priv.PublicKey())
	var seq pathcheck.Seq
	check := func(k []byte, epoch int64, s int64) []byte {
		u := pathcheck.Username{Tag: tag, Epoch: epoch, Seq: s}
		return stun.AppendCheckRequest(nil, stun.NewTxID(), u.String(), k)
	}
	sent := func() int {
		n := 0
		for _, d := range b.conn.punches {
			if d == src {
				n++
			}
		}
		return n
	}
	epoch := b.r.checks.epoch

	good := check(key, epoch, seq.Next())
	b.r.answer(checkReq{b: good, src: src})
	if sent() != 1 {
		t.Fatalf("a good check got %d answers", sent())
	}
	resp := b.conn.sent[len(b.conn.sent)-1]
	r, err := stun.ParseResponse(resp)
	if err != nil || r.Mapped != src || !stun.VerifyIntegrity(resp, key) || [12]byte(good[8:20]) != r.TxID {
		t.Fatalf("answer %+v, %v, integrity %v", r, err, stun.VerifyIntegrity(resp, key))
	}
	other, _ := pathcheck.Key(a.priv, a.priv.PublicKey())
	for name, q := range map[string][]byte{
		"replay":         good,
		"other key":      check(other, epoch, seq.Next()),
		"older record":   check(key, epoch-1, seq.Next()),
		"no integrity":   stun.AppendBindingRequest(nil, stun.NewTxID(), 0),
		"unknown sender": stun.AppendCheckRequest(nil, stun.NewTxID(), pathcheck.Username{Tag: "00000000", Epoch: epoch, Seq: seq.Next()}.String(), key),
	} {
		before := b.r.checks.dropped
		b.r.answer(checkReq{b: q, src: src})
		if sent() != 1 || b.r.checks.dropped != before+1 {
			t.Errorf("%s: answered (%d answers) or not counted (dropped %d)", name, sent(), b.r.checks.dropped)
		}
	}
	// The rate limit: a burst of fresh checks gets at most the burst.
	for range 100 {
		b.r.answer(checkReq{b: check(key, epoch, seq.Next()), src: src})
	}
	lim := pathcheck.NewLimiter()
	if n := sent(); n > int(lim.Burst)+1 || b.r.checks.limited == 0 {
		t.Errorf("%d answers to one source in a burst, %d limited", n, b.r.checks.limited)
	}
	b.r.set.ic.PathChecks = false
	n := sent()
	b.r.answer(checkReq{b: check(key, epoch, seq.Next()), src: netip.MustParseAddrPort("192.168.10.9:1")})
	if sent() != n || len(b.conn.sent) != n {
		t.Error("answered with path checks off")
	}
	b.r.report()
	st := b.r.d.board.snapshot()
	if ifc := st.Interfaces[0]; ifc.ChecksAnswered != b.r.checks.answered || ifc.ChecksAnswered == 0 || ifc.ChecksDropped < 6 || ifc.ChecksLimited == 0 {
		t.Errorf("status counts answered %d dropped %d limited %d", ifc.ChecksAnswered, ifc.ChecksDropped, ifc.ChecksLimited)
	}
}

// TestCandidatesPublished: with path checks the record carries the LAN
// addresses (WireGuard's port) and the mapping; lan_candidates = false
// leaves the LAN out; a reload that turns path checks off republishes
// without the list at once.
func TestCandidatesPublished(t *testing.T) {
	a, b, st, _ := newPair(t)
	ctx := context.Background()
	lan := []netip.Addr{netip.MustParseAddr("192.168.10.2"), netip.MustParseAddr("10.1.2.3")}
	a.r.d.deps.LANAddrs = func(string, bool, bool) []netip.Addr { return lan }
	a.r.set.ic.PathChecks, a.r.set.ic.LANCandidates = true, true
	settle(ctx, a.r)
	open := func() record.Endpoints {
		t.Helper()
		v, err := st.Get(ctx, record.Key(a.priv.PublicKey(), b.priv.PublicKey()))
		if err != nil {
			t.Fatal(err)
		}
		e, err := record.Open(v, b.priv, a.priv.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := open()
	want := []record.Candidate{
		{Kind: record.CandLAN, Addr: netip.MustParseAddrPort("192.168.10.2:51820")},
		{Kind: record.CandLAN, Addr: netip.MustParseAddrPort("10.1.2.3:51820")},
		{Kind: record.CandMapped, Addr: netip.MustParseAddrPort("203.0.113.10:40001")},
	}
	if !e.Checks || !slices.Equal(e.Candidates, want) {
		t.Fatalf("published %v %v, want %v", e.Checks, e.Candidates, want)
	}
	s := a.r.set
	s.ic.LANCandidates = false
	a.r.reconfigure(ctx, s)
	settle(ctx, a.r)
	if e := open(); !e.Checks || !slices.Equal(e.Candidates, want[2:]) {
		t.Fatalf("lan_candidates off: published %v %v", e.Checks, e.Candidates)
	}
	s.ic.PathChecks = false
	a.r.reconfigure(ctx, s)
	settle(ctx, a.r)
	if e := open(); e.Checks || len(e.Candidates) != 0 {
		t.Fatalf("path_checks off: published %v %v", e.Checks, e.Candidates)
	}
}
