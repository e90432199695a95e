package rfc2136

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/dnswire"
	"github.com/wgstun/wgstun/src/internal/store"
)

func TestTXTSplitJoin(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		parts []int
	}{
		{"one byte", 1, []int{1}},
		{"one full string", 255, []int{255}},
		{"one over", 256, []int{255, 1}},
		{"two full", 510, []int{255, 255}},
		{"record size", 400, []int{255, 145}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := strings.Repeat("ab", tc.n)[:tc.n]
			rd := txtRData(v)
			var parts []int
			for off := 0; off < len(rd); off += 1 + int(rd[off]) {
				parts = append(parts, int(rd[off]))
			}
			if !equalInts(parts, tc.parts) {
				t.Errorf("strings of %v bytes, want %v", parts, tc.parts)
			}
			got, err := joinTXT(rd)
			if err != nil || got != v {
				t.Errorf("joinTXT = %q, %v", got, err)
			}
		})
	}
	if _, err := joinTXT([]byte{5, 'a', 'b'}); !errors.Is(err, dnswire.ErrMalformed) {
		t.Errorf("joinTXT of a short string = %v, want dnswire.ErrMalformed", err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAppendName(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []byte
		bad      bool
	}{
		{"root", ".", []byte{0}, false},
		{"two labels", "a.bc.", []byte{1, 'a', 2, 'b', 'c', 0}, false},
		{"relative", "a.bc", nil, true},
		{"empty label", "a..bc.", nil, true},
		{"long label", strings.Repeat("x", 64) + ".", nil, true},
		{"long name", strings.Repeat("abcdefg.", 32) + ".", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dnswire.AppendName(nil, tc.in)
			if (err != nil) != tc.bad || !bytes.Equal(got, tc.want) && !tc.bad {
				t.Errorf("dnswire.AppendName(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

func TestParseMessageRejects(t *testing.T) {
	hdr := func(an, ar uint16) []byte { return dnswire.AppendHeader(nil, 1, dnswire.FlagQR, 0, an, 0, ar) }
	rr := func(name []byte, typ uint16, data []byte) []byte {
		return dnswire.AppendRR(nil, name, typ, dnswire.ClassIN, 0, data)
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	a := []byte{1, 'a', 0}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"short header", []byte{0, 1, 2}},
		{"count over the bytes", hdr(1, 0)},
		{"forward pointer", cat(hdr(1, 0), []byte{0xc0, 12}, rr(nil, dnswire.TypeTXT, nil)[0:10])},
		{"pointer loop", cat(hdr(1, 0), []byte{1, 'a', 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0})},
		{"label past the end", cat(hdr(1, 0), []byte{9, 'a'})},
		{"extended label type", cat(hdr(1, 0), []byte{0x40, 0})},
		{"data past the end", cat(hdr(1, 0), rr(a, dnswire.TypeTXT, []byte{1, 'x'})[:14])},
		{"bytes after the last record", cat(hdr(1, 0), rr(a, dnswire.TypeTXT, []byte{1, 'x'}), []byte{0})},
		{"TSIG not last", cat(hdr(0, 2), rr(a, dnswire.TypeTSIG, nil), rr(a, dnswire.TypeTXT, nil))},
		{"TSIG too short", cat(hdr(0, 1), rr(a, dnswire.TypeTSIG, []byte{0, 0, 0}))},
		{"TSIG MAC past its record", cat(hdr(0, 1), rr(a, dnswire.TypeTSIG, []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 200, 1, 2}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := parseMessage(tc.in); !errors.Is(err, dnswire.ErrMalformed) {
				t.Errorf("parseMessage = %+v, %v; want dnswire.ErrMalformed", m, err)
			}
		})
	}
}

// TestParseCompressed reads names through backward pointers, in upper
// case, with bytes outside [a-z0-9_-] escaped.
func TestParseCompressed(t *testing.T) {
	b := dnswire.AppendHeader(nil, 7, dnswire.FlagQR, 1, 2, 0, 0)
	b = append(b, 3, 'W', 'w', 'W', 2, 'e', 'X', 0) // question at 12
	b = append(b, 0, 16, 0, 1)
	b = dnswire.AppendRR(b, []byte{0xc0, 12}, dnswire.TypeTXT, dnswire.ClassIN, 60, []byte{2, 'h', 'i'})
	b = dnswire.AppendRR(b, []byte{3, 'a', '.', ' ', 0xc0, 16}, dnswire.TypeTXT, dnswire.ClassIN, 60, []byte{0, 1, 'x'})
	m, err := parseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.answers) != 2 || m.answers[0].Name != "www.ex." || m.answers[1].Name != `a\046\032.ex.` {
		t.Fatalf("answers %+v", m.answers)
	}
	if v, err := joinTXT(m.answers[1].Data); err != nil || v != "x" {
		t.Errorf("joinTXT with an empty string = %q, %v", v, err)
	}
}

func testKey(t testing.TB, secret string) *tsigKey {
	k, err := newKey("Wgstun-Key", "hmac-sha256", []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSignLayout checks the TSIG RR we append field by field (RFC 8945
// 4.2) and that the MAC is an HMAC-SHA256 over the message and the TSIG
// variables in canonical form (4.3.3), written out here by hand.
func TestSignLayout(t *testing.T) {
	k := testKey(t, "secret")
	msg := dnswire.AppendHeader(nil, 0xbeef, dnswire.OpUpdate<<11, 0, 0, 0, 0)
	now := time.Unix(0x123456789a, 0)
	signed, mac := k.sign(msg, nil, now, 0, nil)
	m, err := parseMessage(signed)
	if err != nil {
		t.Fatal(err)
	}
	ts := m.tsig
	if m.ar != 1 || ts == nil || m.tsigStart != len(msg) || ts.name != "wgstun-key." || ts.alg != "hmac-sha256." ||
		ts.class != dnswire.ClassANY || ts.ttl != 0 || ts.timeSigned != 0x123456789a || ts.fudge != 300 ||
		ts.origID != 0xbeef || ts.err != 0 || len(ts.other) != 0 || !bytes.Equal(ts.mac, mac) {
		t.Fatalf("TSIG RR %+v", ts)
	}
	vars := []byte("\x0awgstun-key\x00\x00\xff\x00\x00\x00\x00\x0bhmac-sha256\x00\x00\x12\x34\x56\x78\x9a\x01\x2c\x00\x00\x00\x00")
	if want := hmacSHA256([]byte("secret"), append(append([]byte(nil), msg...), vars...)); !bytes.Equal(mac, want) {
		t.Errorf("MAC %x, want %x", mac, want)
	}
}

// reply builds a reply to req (parsed) with rcode and answers, signed by
// k over the request's MAC at time at.
func reply(t testing.TB, k *tsigKey, req []byte, rcode uint16, at time.Time, answers ...[]byte) []byte {
	m, err := parseMessage(req)
	if err != nil {
		t.Fatal(err)
	}
	b := dnswire.AppendHeader(nil, m.id, dnswire.FlagQR|m.opcode()<<11|rcode, 0, uint16(len(answers)), 0, 0)
	for _, a := range answers {
		b = append(b, a...)
	}
	if k == nil {
		return b
	}
	signed, _ := k.sign(b, m.tsig.mac, at, 0, nil)
	return signed
}

// fakeServer answers on UDP and TCP at the same loopback port with
// handle(request).
func fakeServer(t *testing.T, handle func(req []byte) []byte) string {
	t.Helper()
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 10 {
		if pc, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp4", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); ln.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := handle(append([]byte(nil), buf[:n]...)); out != nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				var n [2]byte
				if _, err := io.ReadFull(c, n[:]); err != nil {
					return
				}
				req := make([]byte, binary.BigEndian.Uint16(n[:]))
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				if out := handle(req); out != nil {
					_, _ = c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...))
				}
			}()
		}
	}()
	return pc.LocalAddr().String()
}

func newTestStore(t *testing.T, server string, now time.Time) *Store {
	t.Setenv("WGSTUN_TEST_TSIG", "c2VjcmV0") // "secret"
	s, err := New(config.Store{Name: "dns", Type: config.StoreRFC2136, Server: server, Zone: "Wg.Test",
		RecordName: "{key}", TSIGKey: "wgstun-key", TSIGSecretEnv: "WGSTUN_TEST_TSIG", Timeout: 300 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return now }
	s.retry = 100 * time.Millisecond
	return s
}

// TestReplyChecks runs Get and Set against a server whose replies are
// good, tampered with, unsigned, or error codes.
func TestReplyChecks(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	k := testKey(t, "secret")
	other := testKey(t, "other secret")
	const key = "37b7dcf21e0e183a9a86170997df242a84a85ff7"
	name := key + ".wg.test."
	owner, _ := dnswire.AppendName(nil, name)
	answer := dnswire.AppendRR(nil, owner, dnswire.TypeTXT, dnswire.ClassIN, 60, txtRData("cafe"))
	flipLast := func(b []byte) []byte { b[len(b)-10] ^= 1; return b } // a MAC byte
	for _, tc := range []struct {
		name  string
		big   bool // a Set large enough for TCP
		reply func(req []byte) []byte
		want  error
		text  string
	}{
		{"good", false, func(req []byte) []byte { return reply(t, k, req, 0, now, answer) }, nil, ""},
		{"good over TCP", true, func(req []byte) []byte { return reply(t, k, req, 0, now, answer) }, nil, ""},
		{"MAC byte flipped", false, func(req []byte) []byte { return flipLast(reply(t, k, req, 0, now, answer)) },
			ErrBadReply, "no answer from SERVER within 300ms; discarded a reply: bad reply from SERVER: TSIG MAC does not verify"},
		{"MAC byte flipped over TCP", true, func(req []byte) []byte { return flipLast(reply(t, k, req, 0, now, answer)) },
			ErrBadReply, "bad reply from SERVER: TSIG MAC does not verify"},
		{"answer changed", false, func(req []byte) []byte {
			b := reply(t, k, req, 0, now, answer)
			i := bytes.Index(b, []byte("cafe"))
			b[i] = 'b'
			return b
		}, ErrBadReply, "TSIG MAC does not verify"},
		{"unsigned", false, func(req []byte) []byte { return reply(t, nil, req, 0, now, answer) }, ErrBadReply, "reply is not TSIG-signed"},
		{"unsigned NXDOMAIN", false, func(req []byte) []byte { return reply(t, nil, req, dnswire.RcodeNXDomain, now) }, ErrBadReply, "not TSIG-signed"},
		{"other secret", false, func(req []byte) []byte { return reply(t, other, req, 0, now, answer) }, ErrBadReply, "does not verify"},
		{"signed at another time", false, func(req []byte) []byte { return reply(t, k, req, 0, now.Add(301*time.Second), answer) },
			ErrBadReply, "reply signed at 2023-11-14T22:18:21Z, -301s from our clock (fudge 300s): check the clocks"},
		{"over another request's MAC", false, func(req []byte) []byte {
			m, _ := parseMessage(req)
			b := dnswire.AppendHeader(nil, m.id, dnswire.FlagQR|m.opcode()<<11, 0, 1, 0, 0)
			b, _ = k.sign(append(b, answer...), make([]byte, 32), now, 0, nil)
			return b
		}, ErrBadReply, "does not verify"},
		{"another ID only", false, func(req []byte) []byte {
			b := reply(t, k, req, 0, now, answer)
			b[0] ^= 0xff
			return b
		}, ErrNoAnswer, "no answer from SERVER within 300ms"},
		{"refused unsigned", false, func(req []byte) []byte { return reply(t, nil, req, dnswire.RcodeRefused, now) },
			ErrRefused, "refused by SERVER for "},
		{"servfail signed", false, func(req []byte) []byte { return reply(t, k, req, dnswire.RcodeServFail, now) },
			ErrServer, "SERVER answered the "},
		{"BADTIME", false, func(req []byte) []byte {
			m, _ := parseMessage(req)
			b := dnswire.AppendHeader(nil, m.id, dnswire.FlagQR|m.opcode()<<11|dnswire.RcodeNotAuth, 0, 0, 0, 0)
			b, _ = k.sign(b, m.tsig.mac, now.Add(time.Hour), dnswire.TSIGBadTime, appendTime48(nil, uint64(now.Add(time.Hour).Unix())))
			return b
		}, ErrTSIG, "the server rejected our TSIG key wgstun-key: BADTIME (the server's clock says 2023-11-14T23:13:20Z, ours 2023-11-14T22:13:20Z: set the clock"},
		// Forgeries that carry a TSIG error (whose MAC nobody checks) beside
		// an rcode that would pass for an answer: each must fail the call.
		{"forged NOERROR with a TSIG error", false, func(req []byte) []byte {
			m, _ := parseMessage(req)
			b := dnswire.AppendHeader(nil, m.id, dnswire.FlagQR|m.opcode()<<11, 0, 1, 0, 0)
			b, _ = other.sign(append(b, answer...), nil, now, dnswire.TSIGBadSig, nil)
			return b
		}, ErrTSIG, "BADSIG"},
		{"forged NXDOMAIN with a TSIG error", false, func(req []byte) []byte {
			m, _ := parseMessage(req)
			b := dnswire.AppendHeader(nil, m.id, dnswire.FlagQR|m.opcode()<<11|dnswire.RcodeNXDomain, 0, 0, 0, 0)
			b, _ = other.sign(b, nil, now, dnswire.TSIGBadKey, nil)
			return b
		}, ErrTSIG, "BADKEY"},
		{"silent", false, func([]byte) []byte { return nil }, ErrNoAnswer, "no answer from SERVER within 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t, fakeServer(t, tc.reply), now)
			value := "cafe"
			if tc.big {
				value = strings.Repeat("cafe", 150)
			}
			for _, op := range []string{"set", "get"} {
				var err error
				if op == "set" {
					err = s.Set(context.Background(), key, value)
				} else if tc.big {
					continue
				} else {
					var got string
					got, err = s.Get(context.Background(), key)
					if err == nil && got != "cafe" {
						t.Errorf("get = %q", got)
					}
				}
				text := strings.ReplaceAll(tc.text, "SERVER", s.server)
				if tc.want == nil && err != nil || tc.want != nil && (!errors.Is(err, tc.want) || !strings.Contains(err.Error(), text)) {
					t.Errorf("%s = %v\nwant %v containing %q", op, err, tc.want, text)
				}
			}
		})
	}
}

func TestGetSeveralRecords(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	k := testKey(t, "secret")
	const key = "9c8d8e5a31c9802b093c4116dfb0a23a311b8029"
	owner, _ := dnswire.AppendName(nil, key+".wg.test.")
	a1 := dnswire.AppendRR(nil, owner, dnswire.TypeTXT, dnswire.ClassIN, 60, txtRData("aa"))
	a2 := dnswire.AppendRR(nil, owner, dnswire.TypeTXT, dnswire.ClassIN, 60, txtRData("bb"))
	cname := dnswire.AppendRR(nil, owner, 5, dnswire.ClassIN, 60, []byte{0})
	for _, tc := range []struct {
		name    string
		answers [][]byte
		want    error
	}{
		{"two TXT", [][]byte{a1, a2}, ErrSeveralRecords},
		{"no TXT", [][]byte{cname}, store.ErrNotFound},
		{"empty TXT", [][]byte{dnswire.AppendRR(nil, owner, dnswire.TypeTXT, dnswire.ClassIN, 60, []byte{0})}, store.ErrNotFound},
		{"one TXT among others", [][]byte{cname, a2}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t, fakeServer(t, func(req []byte) []byte { return reply(t, k, req, 0, now, tc.answers...) }), now)
			v, err := s.Get(context.Background(), key)
			if !errors.Is(err, tc.want) || tc.want == nil && v != "bb" {
				t.Errorf("Get = %q, %v; want %v", v, err, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := file("good", "c2VjcmV0\n")
	notB64 := file("bad", "not*base64 secret-ish\n")
	base := config.Store{Name: "dns", Type: config.StoreRFC2136, Server: "192.0.2.1", Zone: "wg.test.",
		RecordName: "{key}.x", TSIGKey: "k", TSIGSecretFile: good}
	s, err := New(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.server != "192.0.2.1:53" || s.ttl != 60 || s.timeout != config.DefaultNetworkTimeout || s.key.alg != "hmac-sha256." ||
		s.fqdn("ab") != "ab.x.wg.test." || string(s.key.secret) != "secret" {
		t.Errorf("defaults: %+v", s)
	}
	if got := s.String(); got != "rfc2136 store dns (zone wg.test. at 192.0.2.1:53, key k)" {
		t.Errorf("String = %q", got)
	}
	for _, tc := range []struct {
		name string
		edit func(*config.Store)
		text string
	}{
		{"not base64", func(c *config.Store) { c.TSIGSecretFile = notB64 }, "store dns: TSIG secret in " + notB64 + " is not base64"},
		{"no file", func(c *config.Store) { c.TSIGSecretFile = filepath.Join(dir, "none") }, "store dns:"},
		{"unset env", func(c *config.Store) { c.TSIGSecretFile, c.TSIGSecretEnv = "", "WGSTUN_UNSET_TSIG" }, "WGSTUN_UNSET_TSIG is not set"},
		{"algorithm", func(c *config.Store) { c.TSIGAlgorithm = "hmac-md5" }, `"hmac-md5" is not hmac-sha256 or hmac-sha512`},
		{"type", func(c *config.Store) { c.Type = "file" }, `type "file" is not rfc2136`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			_, err := New(c, nil)
			if err == nil || !strings.Contains(err.Error(), tc.text) || strings.Contains(err.Error(), "secret-ish") {
				t.Errorf("New = %v, want an error containing %q and not the secret", err, tc.text)
			}
		})
	}
	for _, bad := range []string{"", "ABCDEF0123456789abcdef0123456789abcdef01", "abc"} {
		if _, err := s.Get(context.Background(), bad); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", bad, err)
		}
	}
	if err := s.Set(context.Background(), strings.Repeat("a", 40), ""); !errors.Is(err, store.ErrInvalidValue) {
		t.Errorf("Set of an empty value = %v, want ErrInvalidValue", err)
	}
}

// slowWriteConn fails its second write the way watch makes it fail: the
// store's time runs out between the check at the top of the resend loop
// and the write.
type slowWriteConn struct {
	net.Conn
	ctx    context.Context
	writes int
}

func (c *slowWriteConn) Write(b []byte) (int, error) {
	c.writes++
	if c.writes > 1 {
		<-c.ctx.Done()
		return 0, os.ErrDeadlineExceeded
	}
	return c.Conn.Write(b)
}

// TestDiscardedReplyKeptWhenWriteTimesOut: a bad reply seen before the time
// ran out is still reported when the resend is what notices it. Found under
// qemu user mode on mipsle, where the slow CPU made the window wide.
func TestDiscardedReplyKeptWhenWriteTimesOut(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s := newTestStore(t, fakeServer(t, func(req []byte) []byte { return reply(t, nil, req, 0, now) }), now)
	s.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &slowWriteConn{Conn: c, ctx: ctx}, nil
	}
	_, err := s.Get(context.Background(), "37b7dcf21e0e183a9a86170997df242a84a85ff7")
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "discarded a reply") || !strings.Contains(err.Error(), "not TSIG-signed") {
		t.Errorf("Get = %v, want ErrNoAnswer naming the discarded unsigned reply", err)
	}
}
