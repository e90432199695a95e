package resolve

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/dnswire"
)

func TestReadConf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	os.WriteFile(p, []byte(`# comment
; another
nameserver 192.0.2.53
nameserver   2001:db8::53
nameserver not-an-address
nameserver ::ffff:192.0.2.54
nameserver 192.0.2.55
domain ignored.example
search Corp.Example lab.example.
options ndots:2 timeout:0 attempts:99 rotate edns0
options timeout:100
`), 0o600)
	c := readConf(p)
	want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53"), netip.MustParseAddrPort("[2001:db8::53]:53"), netip.MustParseAddrPort("192.0.2.54:53")}
	if !slices.Equal(c.servers, want) {
		t.Errorf("servers %v, want %v (at most 3, mapped IPv4 unmapped)", c.servers, want)
	}
	if !slices.Equal(c.search, []string{"corp.example.", "lab.example."}) {
		t.Errorf("search %v", c.search)
	}
	if c.ndots != 2 || c.timeout != 30*time.Second || c.attempts != 5 {
		t.Errorf("ndots %d timeout %v attempts %d, want 2, 30s (capped), 5 (capped)", c.ndots, c.timeout, c.attempts)
	}
	if got := c.names("stun"); !slices.Equal(got, []string{"stun.corp.example.", "stun.lab.example.", "stun."}) {
		t.Errorf("names(stun) = %v", got)
	}
	if got := c.names("stun.a.b"); !slices.Equal(got, []string{"stun.a.b.", "stun.a.b.corp.example.", "stun.a.b.lab.example."}) {
		t.Errorf("names(stun.a.b) = %v", got)
	}
	if got := c.names("stun."); !slices.Equal(got, []string{"stun."}) {
		t.Errorf("names(stun.) = %v", got)
	}

	// No file: the local host, the C library's defaults.
	c = readConf(filepath.Join(dir, "missing"))
	if len(c.servers) != 2 || c.servers[0] != netip.MustParseAddrPort("127.0.0.1:53") || c.ndots != 1 || c.timeout != 5*time.Second || c.attempts != 2 {
		t.Errorf("defaults: %+v", c)
	}

	// A huge file is read only so far.
	os.WriteFile(p, []byte(strings.Repeat("search x.example\n", 100000)+"nameserver 192.0.2.1\n"), 0o600)
	if c := readConf(p); c.servers[0] != netip.MustParseAddrPort("127.0.0.1:53") {
		t.Errorf("a line past %d bytes was read: %v", maxFileSize, c.servers)
	}
}

func TestReadHosts(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(p, []byte("127.0.0.1 localhost\n192.0.2.1 stun.example Stun # x\n# 192.0.2.2 stun.example\n2001:db8::1 stun.example\n192.0.2.3 other stun.example.\nbad line\n"), 0o600)
	if got := readHosts(p, "STUN.example.", false); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.3")}) {
		t.Errorf("IPv4: %v", got)
	}
	if got := readHosts(p, "stun.example", true); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("2001:db8::1")}) {
		t.Errorf("IPv6: %v", got)
	}
}

// reply builds a reply to query q: header flags, the question as asked
// (or another name), and answer records.
func reply(q []byte, flags uint16, qname string, answers ...[]byte) []byte {
	b := dnswire.AppendHeader(nil, binary.BigEndian.Uint16(q), dnswire.FlagQR|flags, 1, uint16(len(answers)), 0, 0)
	b, _ = dnswire.AppendName(b, qname)
	b = binary.BigEndian.AppendUint16(b, dnswire.TypeA)
	b = binary.BigEndian.AppendUint16(b, dnswire.ClassIN)
	for _, a := range answers {
		b = append(b, a...)
	}
	return b
}

func rr(name string, typ uint16, data []byte) []byte {
	n, _ := dnswire.AppendName(nil, name)
	return dnswire.AppendRR(nil, n, typ, dnswire.ClassIN, 60, data)
}

func TestReadReply(t *testing.T) {
	q, _ := dnswire.AppendQuery(nil, 0x1234, dnswire.FlagRD, "stun.example.", dnswire.TypeA)
	a := func(name string, ip ...byte) []byte { return rr(name, dnswire.TypeA, ip) }
	cname := func(name, target string) []byte {
		t, _ := dnswire.AppendName(nil, target)
		return rr(name, dnswire.TypeCNAME, t)
	}
	other := slices.Clone(q)
	other[0]++
	loop := [][]byte{cname("stun.example.", "x.example."), cname("x.example.", "stun.example.")}
	for _, tt := range []struct {
		name  string
		b     []byte
		want  []netip.Addr
		not   error // the err
		ans   error // the answerErr
		trunc bool
	}{
		{name: "answer", b: reply(q, 0, "stun.example.", a("stun.example.", 192, 0, 2, 1), a("elsewhere.example.", 192, 0, 2, 9)), want: []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
		{name: "through CNAMEs", b: reply(q, 0, "stun.example.", cname("stun.example.", "a.example."), cname("a.example.", "b.example."), a("b.example.", 192, 0, 2, 2)), want: []netip.Addr{netip.MustParseAddr("192.0.2.2")}},
		{name: "CNAME loop", b: reply(q, 0, "stun.example.", loop...), ans: errNoAddress},
		{name: "another ID", b: reply(other, 0, "stun.example.", a("stun.example.", 192, 0, 2, 1)), not: dnswire.ErrNotOurs},
		{name: "another question", b: reply(q, 0, "evil.example.", a("stun.example.", 192, 0, 2, 1)), not: dnswire.ErrNotOurs},
		{name: "a query, not a reply", b: q, not: dnswire.ErrNotOurs},
		{name: "truncated", b: reply(q, dnswire.FlagTC, "stun.example."), trunc: true},
		{name: "NXDOMAIN", b: reply(q, dnswire.RcodeNXDomain, "stun.example."), ans: errNoSuchName},
		{name: "no records", b: reply(q, 0, "stun.example."), ans: errNoAddress},
		{name: "bad address length", b: reply(q, 0, "stun.example.", a("stun.example.", 192, 0, 2)), not: dnswire.ErrMalformed},
		{name: "cut short", b: reply(q, 0, "stun.example.", a("stun.example.", 192, 0, 2, 1))[:40], not: dnswire.ErrMalformed},
	} {
		got, trunc, ans, err := readReply(tt.b, q, "stun.example.", dnswire.TypeA)
		if !errors.Is(err, tt.not) || (tt.not == nil) != (err == nil) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.not)
		}
		if !errors.Is(ans, tt.ans) || (tt.ans == nil) != (ans == nil) {
			t.Errorf("%s: answer error %v, want %v", tt.name, ans, tt.ans)
		}
		if trunc != tt.trunc || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v (truncated %v), want %v (%v)", tt.name, got, trunc, tt.want, tt.trunc)
		}
	}
	// SERVFAIL is the server's failure, to move on from.
	if _, _, ans, err := readReply(reply(q, dnswire.RcodeServFail, "stun.example."), q, "stun.example.", dnswire.TypeA); err != nil || ans == nil || !strings.Contains(ans.Error(), "SERVFAIL") {
		t.Errorf("SERVFAIL: %v, %v", ans, err)
	}
}

func FuzzReadReply(f *testing.F) {
	q, _ := dnswire.AppendQuery(nil, 0x1234, dnswire.FlagRD, "stun.example.", dnswire.TypeA)
	f.Add(reply(q, 0, "stun.example.", rr("stun.example.", dnswire.TypeA, []byte{192, 0, 2, 1})))
	f.Fuzz(func(t *testing.T, b []byte) {
		addrs, _, _, err := readReply(b, q, "stun.example.", dnswire.TypeA)
		if err == nil && len(addrs) > dnswire.MaxRecords {
			t.Fatalf("%d addresses", len(addrs))
		}
	})
}
