package config

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseGood(t *testing.T) {
	c, err := Load("testdata/good.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "debug" || c.Socket != "/run/wgstun-test.sock" {
		t.Errorf("log/socket: %q %q", c.LogLevel, c.Socket)
	}
	if len(c.STUN) != 2 || c.STUN[1] != "[2001:db8::1]:3478" {
		t.Errorf("stun: %v", c.STUN)
	}
	if s := c.Stores["plug"]; s.Type != "exec" || s.Timeout != 3*time.Second || len(s.Args) != 2 || s.Args[1] != "/tmp/x # not a comment" {
		t.Errorf("store plug: %+v", s)
	}
	if len(c.Interfaces) != 2 {
		t.Fatalf("interfaces: %+v", c.Interfaces)
	}
	w0, w1 := c.Interfaces[0], c.Interfaces[1]
	if w0.Family != Dual || w0.Refresh != 2*time.Minute || len(w0.Peers) != 1 {
		t.Errorf("wg0: %+v", w0)
	}
	if w1.Family != IPv4 || w1.Refresh != DefaultRefresh || len(w1.Peers) != 0 || c.Stores["home"].Timeout != 0 ||
		w1.PingInterval != DefaultPingInterval || len(w1.Ping) != 0 {
		t.Errorf("wg1 defaults: %+v", w1)
	}
	if w0.PingInterval != time.Second || len(w0.Ping) != 1 || w0.Ping[w0.Peers[0]] != netip.MustParseAddr("fd00::2") {
		t.Errorf("wg0 ping: %v %v", w0.PingInterval, w0.Ping)
	}
	if !w0.Equal(w0) || w0.Equal(w1) {
		t.Error("Interface.Equal")
	}
	if !slices.Equal(w0.Capture, []string{"igb0", "pppoe0"}) || w1.Capture != nil {
		t.Errorf("capture: %q %q", w0.Capture, w1.Capture)
	}
	other := w0
	other.Capture = []string{"igb0"}
	if w0.Equal(other) {
		t.Error("Interface.Equal ignores capture")
	}
	if w0.FIB != 2 || w0.BindInterface != "en0" || w1.FIB != -1 || w1.BindInterface != "" {
		t.Errorf("fib/bind_interface: %d %q, %d %q", w0.FIB, w0.BindInterface, w1.FIB, w1.BindInterface)
	}
}

const base = `[stun]
servers = ["203.0.113.1:3478"]
[store.s]
type = "file"
path = "/tmp/s"
`

func TestFastHandshake(t *testing.T) {
	for _, tt := range []struct {
		name string
		line string
		want bool
	}{
		{"default on", "", true},
		{"on", "fast_handshake = true\n", true},
		{"off", "fast_handshake = false\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("x.toml", []byte(base+"[[interface]]\nname = \"wg0\"\nstore = \"s\"\n"+tt.line))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Interfaces[0].FastHandshake; got != tt.want {
				t.Fatalf("FastHandshake = %v, want %v", got, tt.want)
			}
			other := c.Interfaces[0]
			other.FastHandshake = !other.FastHandshake
			if other.Equal(c.Interfaces[0]) {
				t.Fatal("Interface.Equal ignores fast_handshake")
			}
		})
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // each must appear in the error, in order
	}{
		{
			name: "syntax error names its line",
			in:   base + "[[interface]]\nname = \"wg0\nstore = \"s\"\n",
			want: []string{"x.toml:7: "},
		},
		{
			name: "type mismatch",
			in:   base + "[[interface]]\nname = 5\nstore = \"s\"\n",
			want: []string{"x.toml:7:", "name"},
		},
		{
			name: "unknown keys in each array element",
			in:   base + "[[interface]]\nname = \"wg0\"\nstore = \"s\"\nrefesh = \"1m\"\n[[interface]]\nname = \"wg1\"\nstore = \"s\"\nrefesh = \"2m\"\n",
			want: []string{"x.toml:9: interface[0].refesh: unknown key", "x.toml:13: interface[1].refesh: unknown key"},
		},
		{
			name: "unknown table key",
			in:   base + "colour = \"red\"\n[[interface]]\nname = \"wg0\"\nstore = \"s\"\n",
			want: []string{"x.toml:6: store.s.colour: unknown key"},
		},
		{
			name: "every problem at once",
			in: `[log]
level = "loud"
[stun]
servers = ["nohostport", "h:99999"]
[store.s]
type = "exec"
timeout = "forever"
[[interface]]
name = "wg0"
store = "missing"
family = "ipx"
refresh = "1s"
peers = ["nope", "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="]
[[interface]]
name = "wg0"
store = "s"
`,
			want: []string{
				`x.toml:2: log.level: "loud"`,
				`x.toml:4: stun.servers[0]: "nohostport": not host:port`,
				`x.toml:4: stun.servers[1]: "h:99999": port must be`,
				`x.toml:5: store.s.command: missing`,
				`x.toml:7: store.s.timeout: "forever" is not a duration`,
				`x.toml:10: interface[0].store: no store named "missing" (defined: s)`,
				`x.toml:11: interface[0].family: "ipx"`,
				`x.toml:12: interface[0].refresh: 1s is out of range`,
				`x.toml:13: interface[0].peers[0]: "nope" is not a WireGuard public key`,
				`x.toml:13: interface[0].peers[2]: peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= is listed twice`,
				`x.toml:15: interface[1].name: interface "wg0" is already configured in interface[0]`,
			},
		},
		{
			name: "peer tables in the second interface",
			in: base + `[[interface]]
name = "wg0"
store = "s"
[[interface]]
name = "wg1"
store = "s"
ping_interval = "10ms"
peers = ["xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="]
[[interface.peer]]
public_key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
ping = "10.0.0.300"
[[interface.peer]]
public_key = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
[[interface.peer]]
public_key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
pong = "x"
`,
			want: []string{
				`x.toml:12: interface[1].ping_interval: 10ms is out of range`,
				`x.toml:16: interface[1].peer[0].ping: "10.0.0.300" is not an IPv4 or IPv6 address`,
				`x.toml:18: interface[1].peer[1].public_key: peer HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw= is not in interface[1].peers`,
				`x.toml:20: interface[1].peer[2].public_key: peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= already has a table in interface[1].peer[0]`,
				`x.toml:21: interface[1].peer[2].pong: unknown key`,
			},
		},
		{
			name: "capture lists",
			in: base + `[[interface]]
name = "wg0"
store = "s"
capture = [
  "igb0",
  "",
  "sixteen-chars-00",
  "em 0",
  "a/b",
  "igb0",
]
`,
			want: []string{
				`x.toml:9: interface[0].capture[1]: empty interface name`,
				`x.toml:9: interface[0].capture[2]: "sixteen-chars-00" is not a valid interface name`,
				`x.toml:9: interface[0].capture[3]: "em 0" is not a valid interface name`,
				`x.toml:9: interface[0].capture[4]: "a/b" is not a valid interface name`,
				`x.toml:9: interface[0].capture[5]: interface "igb0" is already listed in interface[0].capture[0]`,
			},
		},
		{
			name: "fib and bind_interface",
			in:   base + "[[interface]]\nname = \"wg0\"\nstore = \"s\"\nfib = -1\nbind_interface = \"en 0\"\n",
			want: []string{
				`x.toml:9: interface[0].fib: -1 is not a routing table number`,
				`x.toml:10: interface[0].bind_interface: "en 0" is not a valid interface name`,
			},
		},
		{
			name: "capture must be a list",
			in:   base + "[[interface]]\nname = \"wg0\"\nstore = \"s\"\ncapture = \"igb0\"\n",
			want: []string{"x.toml:9:", "capture"},
		},
		{
			name: "fast_handshake must be a boolean",
			in:   base + "[[interface]]\nname = \"wg0\"\nstore = \"s\"\nfast_handshake = \"no\"\n",
			want: []string{"x.toml:9:", "fast_handshake"},
		},
		{
			name: "nothing configured",
			in:   "",
			want: []string{"stun.servers: at least one", "interface: at least one"},
		},
		{
			name: "file store needs absolute path",
			in:   "[stun]\nservers=[\"a:1\"]\n[store.s]\ntype = \"file\"\npath = \"rel/dir\"\n[[interface]]\nname=\"wg0\"\nstore=\"s\"\n",
			want: []string{`x.toml:5: store.s.path: "rel/dir" must be an absolute path`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tt.in))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *config.Error, got %v", err)
			}
			msg := err.Error()
			at := 0
			for _, w := range tt.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("missing (in order) %q in:\n%s", w, msg)
				}
				at += i + len(w)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.toml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
}

// TestStoreEnv: env names the variables an exec or shell plugin gets; it
// takes portable names only, and only on plugin stores.
func TestStoreEnv(t *testing.T) {
	base := "[stun]\nservers = [\"192.0.2.1:3478\"]\n[[interface]]\nname = \"wg0\"\nstore = \"p\"\n"
	cfg, err := Parse("t.toml", []byte(base+"[store.p]\ntype = \"shell\"\ncommand = \"/bin/p\"\nenv = [\"CF_API_TOKEN\", \"_x1\"]\n"))
	if err != nil || !slices.Equal(cfg.Stores["p"].Env, []string{"CF_API_TOKEN", "_x1"}) {
		t.Fatalf("Parse = %+v, %v", cfg, err)
	}
	for body, want := range map[string]string{
		"[store.p]\ntype = \"exec\"\ncommand = \"/bin/p\"\nenv = [\"1X\", \"A=B\"]\n": `t.toml:9: store.p.env: "1X" is not an environment variable name`,
		"[store.p]\ntype = \"file\"\npath = \"/x\"\nenv = [\"A\"]\n":                  "store.p.env: not a key of a file store",
	} {
		_, err := Parse("t.toml", []byte(base+body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", body, err, want)
		}
	}
}

// TestLinesAfterBracketInString: a "[" inside a quoted string does not
// open a multi-line array, so later keys keep their line numbers.
func TestLinesAfterBracketInString(t *testing.T) {
	data := "[stun]\nservers = [\"192.0.2.1:3478\"]\n[store.p]\ntype = \"exec\"\ncommand = \"/bin/p\"\nargs = [\"--opt=[x\", '[[']\n" +
		"timeout = \"soon\"\n[[interface]]\nname = \"wg0\"\nstore = \"p\"\n"
	_, err := Parse("t.toml", []byte(data))
	if err == nil || !strings.Contains(err.Error(), "t.toml:7: store.p.timeout:") {
		t.Fatalf("Parse = %v, want the bad timeout at line 7", err)
	}
}

// TestWeakPeerKey: a zero or small-order peer key is refused in peers and
// in [[interface.peer]], naming the key.
func TestWeakPeerKey(t *testing.T) {
	zero := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	base := "[stun]\nservers = [\"192.0.2.1:3478\"]\n[store.f]\ntype = \"file\"\npath = \"/x\"\n[[interface]]\nname = \"wg0\"\nstore = \"f\"\n"
	for _, doc := range []string{base + "peers = [\"" + zero + "\"]\n", base + "[[interface.peer]]\npublic_key = \"" + zero + "\"\nping = \"10.0.0.2\"\n"} {
		_, err := Parse("t.toml", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), zero+`" is zero or a point of small order`) {
			t.Errorf("Parse = %v", err)
		}
	}
}

func TestPathCheckKeys(t *testing.T) {
	for _, tt := range []struct {
		lines       string
		checks, lan bool
	}{
		{"", true, true},
		{"path_checks = false\n", false, true},
		{"lan_candidates = false\n", true, false},
		{"path_checks = false\nlan_candidates = false\n", false, false},
	} {
		c, err := Parse("x.toml", []byte(base+"[[interface]]\nname = \"wg0\"\nstore = \"s\"\n"+tt.lines))
		if err != nil {
			t.Fatal(err)
		}
		ic := c.Interfaces[0]
		if ic.PathChecks != tt.checks || ic.LANCandidates != tt.lan {
			t.Fatalf("%q: path_checks %v lan_candidates %v", tt.lines, ic.PathChecks, ic.LANCandidates)
		}
		other := ic
		other.PathChecks = !other.PathChecks
		if other.Equal(ic) {
			t.Fatal("Interface.Equal ignores path_checks")
		}
		other = ic
		other.LANCandidates = !other.LANCandidates
		if other.Equal(ic) {
			t.Fatal("Interface.Equal ignores lan_candidates")
		}
	}
	_, err := Parse("x.toml", []byte(base+"[[interface]]\nname = \"wg0\"\nstore = \"s\"\npath_checks = \"yes\"\n"))
	if err == nil || !strings.Contains(err.Error(), "x.toml:9:") || !strings.Contains(err.Error(), "path_checks") {
		t.Fatalf("a string for path_checks: %v", err)
	}
}

func TestMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		value string // "" leaves the key out
		want  int64
		err   string
	}{
		{"", DefaultMemoryLimit, ""},
		{`"off"`, 0, ""},
		{`"4MiB"`, 4 << 20, ""},
		{`"6MiB"`, 6 << 20, ""},
		{`"3072KiB"`, 3 << 20, ""},
		{`"1GiB"`, 1 << 30, ""},
		{`"8388608"`, 8 << 20, ""},
		{`"8388608B"`, 8 << 20, ""},
		{`"1MiB"`, 0, "out of range"},
		{`"5GiB"`, 0, "out of range"},
		{`"99999999999999999GiB"`, 0, "out of range"},
		{`"6MB"`, 0, "not a size"},
		{`"-6MiB"`, 0, "not a size"},
		{`"lots"`, 0, "not a size"},
		{`6`, 0, "memory_limit"},
	} {
		doc := "[daemon]\n"
		if tt.value != "" {
			doc += "memory_limit = " + tt.value + "\n"
		}
		c, err := Parse("x.toml", []byte(doc+base+"[[interface]]\nname = \"wg0\"\nstore = \"s\"\n"))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "x.toml:2:") {
				t.Errorf("memory_limit = %s: error %v, want one on line 2 with %q", tt.value, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("memory_limit = %s: %v", tt.value, err)
			continue
		}
		if c.MemoryLimit != tt.want {
			t.Errorf("memory_limit = %s: %d, want %d", tt.value, c.MemoryLimit, tt.want)
		}
	}
}

func TestGCPercent(t *testing.T) {
	for _, tt := range []struct {
		line string
		want int
		err  string
	}{
		{"", DefaultGCPercent, ""},
		{"gc_percent = 50\n", 50, ""},
		{"gc_percent = 10\n", 10, ""},
		{"gc_percent = 9\n", 0, "out of range"},
		{"gc_percent = 1001\n", 0, "out of range"},
		{"gc_percent = \"25\"\n", 0, "gc_percent"},
	} {
		c, err := Parse("x.toml", []byte("[daemon]\n"+tt.line+base+"[[interface]]\nname = \"wg0\"\nstore = \"s\"\n"))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "x.toml:2:") {
				t.Errorf("%q: error %v, want one on line 2 with %q", tt.line, err, tt.err)
			}
			continue
		}
		if err != nil || c.GCPercent != tt.want {
			t.Errorf("%q: gc_percent %v (%v), want %d", tt.line, c.GCPercent, err, tt.want)
		}
	}
}
