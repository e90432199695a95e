// Package config reads wgstun's TOML configuration strictly: unknown keys,
// bad values and dangling references are errors that carry the file and line,
// and every problem is reported at once.
package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// DefaultPath is where `wgstun run` and `wgstun check` look without -c.
const DefaultPath = "/etc/wgstun/wgstun.toml"

// DefaultSocket is the control socket `wgstun status` talks to.
const DefaultSocket = "/var/run/wgstun.sock"

// Defaults applied to keys the file leaves out.
const (
	DefaultRefresh       = 5 * time.Minute
	DefaultPluginTimeout = 10 * time.Second
	MinRefresh           = 10 * time.Second
	MaxRefresh           = 24 * time.Hour
	DefaultPingInterval  = 2 * time.Second
	MinPingInterval      = 200 * time.Millisecond
	MaxPingInterval      = time.Minute
)

// Family selects which address families an interface discovers and uses.
type Family string

// Families an interface may use.
const (
	IPv4 Family = "ipv4"
	IPv6 Family = "ipv6"
	Dual Family = "dual"
)

// V4 reports whether the family includes IPv4.
func (f Family) V4() bool { return f == IPv4 || f == Dual }

// V6 reports whether the family includes IPv6.
func (f Family) V6() bool { return f == IPv6 || f == Dual }

// Config is the whole resolved configuration.
type Config struct {
	Path       string
	LogLevel   string
	Socket     string
	STUN       []string // host:port, tried in order
	Stores     map[string]Store
	Interfaces []Interface
}

// Store is one named record store.
type Store struct {
	Name    string
	Type    string // file | exec | shell
	Path    string
	Command string
	Args    []string
	Timeout time.Duration
}

// Interface is one WireGuard interface wgstun manages.
type Interface struct {
	Name         string
	Store        string
	Family       Family
	Refresh      time.Duration
	Peers        []wgtypes.Key // empty: every peer on the device
	PingInterval time.Duration
	Ping         map[wgtypes.Key]netip.Addr // tunnel address to ping, per peer
	// Capture names the network interfaces STUN answers are read on
	// (FreeBSD and macOS, /dev/bpf); empty means every eligible one.
	// Linux ignores it.
	Capture []string
	// FIB is the FreeBSD routing table STUN is sent through (SO_SETFIB),
	// for a full tunnel whose default route would swallow it; -1 leaves
	// the process's own. Other systems ignore it.
	FIB int
	// BindInterface pins STUN's sends to one interface on macOS
	// (IP_BOUND_IF), for the same reason; "" leaves routing to decide.
	BindInterface string
}

// Equal reports whether two interface configurations are the same.
func (a Interface) Equal(b Interface) bool {
	return a.Name == b.Name && a.Store == b.Store && a.Family == b.Family &&
		a.Refresh == b.Refresh && a.PingInterval == b.PingInterval &&
		slices.Equal(a.Peers, b.Peers) && maps.Equal(a.Ping, b.Ping) &&
		slices.Equal(a.Capture, b.Capture) && a.FIB == b.FIB && a.BindInterface == b.BindInterface
}

// file mirrors the TOML document. Durations are strings so that a bad one
// is reported with its key instead of as a decoder type error.
type file struct {
	Log struct {
		Level string `toml:"level"`
	} `toml:"log"`
	Daemon struct {
		Socket string `toml:"socket"`
	} `toml:"daemon"`
	STUN struct {
		Servers []string `toml:"servers"`
	} `toml:"stun"`
	Store     map[string]fileStore `toml:"store"`
	Interface []fileInterface      `toml:"interface"`
}

type fileStore struct {
	Type    string   `toml:"type"`
	Path    string   `toml:"path"`
	Command string   `toml:"command"`
	Args    []string `toml:"args"`
	Timeout string   `toml:"timeout"`
}

type fileInterface struct {
	Name         string     `toml:"name"`
	Store        string     `toml:"store"`
	Family       string     `toml:"family"`
	Refresh      string     `toml:"refresh"`
	Peers        []string   `toml:"peers"`
	PingInterval string     `toml:"ping_interval"`
	Peer         []filePeer `toml:"peer"`
	Capture      []string   `toml:"capture"`
	FIB          *int       `toml:"fib"`
	BindIf       string     `toml:"bind_interface"`
}

// filePeer is one [[interface.peer]] table: settings for one peer.
type filePeer struct {
	PublicKey string `toml:"public_key"`
	Ping      string `toml:"ping"`
}

// splitDecodeError takes apart the decoder's type errors, which come as
// `line 7 (last key "interface.name"): incompatible types: ...`.
func splitDecodeError(msg string) (line int, key, rest string) {
	head, rest, ok := strings.Cut(msg, "): ")
	if !ok {
		return 0, "", msg
	}
	num, key, ok := strings.Cut(strings.TrimPrefix(head, "line "), " (last key ")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, "", msg
	}
	return n, strings.Trim(key, `"`), rest
}

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted key, e.g. interface[0].refresh
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found in one file.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes and validates data; path is used in error messages.
func Parse(path string, data []byte) (*Config, error) {
	var f file
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		p := Problem{File: path, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.Line = pe.Position.Line
			p.Msg = pe.Message
			p.Key = pe.LastKey
		} else {
			p.Line, p.Key, p.Msg = splitDecodeError(p.Msg)
		}
		return nil, &Error{Problems: []Problem{p}}
	}
	loc := locate(string(data))
	v := &validator{path: path, loc: loc}
	for _, k := range md.Undecoded() {
		v.unknown(k)
	}
	c := v.resolve(&f)
	if len(v.problems) > 0 {
		sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Line < v.problems[j].Line })
		return nil, &Error{Problems: v.problems}
	}
	c.Path = path
	return c, nil
}

type validator struct {
	path     string
	loc      *locator
	problems []Problem
}

func (v *validator) add(key, format string, args ...any) {
	v.problems = append(v.problems, Problem{
		File: v.path,
		Line: v.loc.line(key),
		Key:  key,
		Msg:  fmt.Sprintf(format, args...),
	})
}

// unknown reports an undecoded key. TOML keys of arrays of tables come
// without their index, so every place the key stands is reported.
func (v *validator) unknown(k toml.Key) {
	places := v.loc.find(k)
	if len(places) == 0 {
		v.problems = append(v.problems, Problem{File: v.path, Key: k.String(), Msg: "unknown key"})
		return
	}
	for _, p := range places {
		v.problems = append(v.problems, Problem{File: v.path, Line: p.line, Key: p.key, Msg: "unknown key"})
	}
}

func (v *validator) duration(key, s string, def, min, max time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		v.add(key, "%q is not a duration (examples: \"30s\", \"5m\", \"1h\")", s)
	case d < min || d > max:
		v.add(key, "%s is out of range (%s to %s)", s, min, max)
	}
	return d
}

func (v *validator) resolve(f *file) *Config {
	c := &Config{
		LogLevel: f.Log.Level,
		Socket:   f.Daemon.Socket,
		Stores:   map[string]Store{},
	}
	switch c.LogLevel {
	case "":
		c.LogLevel = "info"
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.Socket == "" {
		c.Socket = DefaultSocket
	} else if !filepath.IsAbs(c.Socket) {
		v.add("daemon.socket", "%q must be an absolute path", c.Socket)
	}

	if len(f.STUN.Servers) == 0 {
		v.add("stun.servers", "at least one STUN server (host:port) is required")
	}
	for i, s := range f.STUN.Servers {
		if err := checkHostPort(s); err != nil {
			v.add(fmt.Sprintf("stun.servers[%d]", i), "%q: %v", s, err)
		}
	}
	c.STUN = f.STUN.Servers

	names := make([]string, 0, len(f.Store))
	for n := range f.Store {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c.Stores[n] = v.store(n, f.Store[n])
	}

	if len(f.Interface) == 0 {
		v.add("interface", "at least one [[interface]] is required")
	}
	seen := map[string]int{}
	for i, fi := range f.Interface {
		key := fmt.Sprintf("interface[%d]", i)
		ifc := Interface{Name: fi.Name, Store: fi.Store, Family: Family(fi.Family)}
		switch {
		case fi.Name == "":
			v.add(key+".name", "missing: the WireGuard interface name is required")
		case !validIfName(fi.Name):
			v.add(key+".name", "%q is not a valid interface name", fi.Name)
		default:
			if j, dup := seen[fi.Name]; dup {
				v.add(key+".name", "interface %q is already configured in interface[%d]", fi.Name, j)
			}
			seen[fi.Name] = i
		}
		if fi.Store == "" {
			v.add(key+".store", "missing: name one of the [store.NAME] tables")
		} else if _, ok := f.Store[fi.Store]; !ok {
			v.add(key+".store", "no store named %q (defined: %s)", fi.Store, listOrNone(names))
		}
		switch ifc.Family {
		case "":
			ifc.Family = IPv4
		case IPv4, IPv6, Dual:
		default:
			v.add(key+".family", "%q is not one of ipv4, ipv6, dual", fi.Family)
		}
		ifc.Refresh = v.duration(key+".refresh", fi.Refresh, DefaultRefresh, MinRefresh, MaxRefresh)
		dupPeer := map[wgtypes.Key]bool{}
		for j, p := range fi.Peers {
			pk, err := wgtypes.ParseKey(p)
			if err != nil {
				v.add(fmt.Sprintf("%s.peers[%d]", key, j), "%q is not a WireGuard public key (44 characters of base64)", p)
				continue
			}
			if dupPeer[pk] {
				v.add(fmt.Sprintf("%s.peers[%d]", key, j), "peer %s is listed twice", p)
				continue
			}
			dupPeer[pk] = true
			ifc.Peers = append(ifc.Peers, pk)
		}
		ifc.PingInterval = v.duration(key+".ping_interval", fi.PingInterval, DefaultPingInterval, MinPingInterval, MaxPingInterval)
		v.peerTables(key, fi, &ifc, dupPeer)
		ifc.Capture = v.capture(key, fi.Capture)
		ifc.FIB = -1
		if fi.FIB != nil {
			if *fi.FIB < 0 || *fi.FIB > 65535 {
				v.add(key+".fib", "%d is not a routing table number (0 to 65535)", *fi.FIB)
			}
			ifc.FIB = *fi.FIB
		}
		if fi.BindIf != "" && !validIfName(fi.BindIf) {
			v.add(key+".bind_interface", "%q is not a valid interface name (at most 15 characters, no '/' or whitespace)", fi.BindIf)
		}
		ifc.BindInterface = fi.BindIf
		c.Interfaces = append(c.Interfaces, ifc)
	}
	return c
}

// validIfName reports whether name can be a network interface name on
// Linux, FreeBSD and macOS (IFNAMSIZ 16 with the terminating NUL).
func validIfName(name string) bool {
	return len(name) <= 15 && !strings.ContainsAny(name, "/ \t\n\r\x00")
}

// capture checks the capture list: interface names, each once.
func (v *validator) capture(key string, names []string) []string {
	seen := map[string]int{}
	var out []string
	for j, n := range names {
		k := fmt.Sprintf("%s.capture[%d]", key, j)
		switch {
		case n == "":
			v.add(k, "empty interface name")
		case !validIfName(n):
			v.add(k, "%q is not a valid interface name (at most 15 characters, no '/' or whitespace)", n)
		default:
			if i, dup := seen[n]; dup {
				v.add(k, "interface %q is already listed in %s.capture[%d]", n, key, i)
				continue
			}
			seen[n] = j
			out = append(out, n)
		}
	}
	return out
}

// peerTables reads the [[interface.peer]] tables. With a peers list, each
// table must name a listed peer: a table alone never narrows which peers
// are managed.
func (v *validator) peerTables(key string, fi fileInterface, ifc *Interface, listed map[wgtypes.Key]bool) {
	seen := map[wgtypes.Key]int{}
	for j, fp := range fi.Peer {
		pkey := fmt.Sprintf("%s.peer[%d]", key, j)
		pk, err := wgtypes.ParseKey(fp.PublicKey)
		switch {
		case fp.PublicKey == "":
			v.add(pkey+".public_key", "missing: the peer's WireGuard public key")
			continue
		case err != nil:
			v.add(pkey+".public_key", "%q is not a WireGuard public key (44 characters of base64)", fp.PublicKey)
			continue
		}
		if k, dup := seen[pk]; dup {
			v.add(pkey+".public_key", "peer %s already has a table in %s.peer[%d]", fp.PublicKey, key, k)
			continue
		}
		seen[pk] = j
		if len(fi.Peers) > 0 && !listed[pk] {
			v.add(pkey+".public_key", "peer %s is not in %s.peers; add it there or remove this table", fp.PublicKey, key)
		}
		if fp.Ping == "" {
			continue
		}
		a, err := netip.ParseAddr(fp.Ping)
		if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			v.add(pkey+".ping", "%q is not an IPv4 or IPv6 address (the peer's address inside the tunnel, e.g. \"10.0.0.2\")", fp.Ping)
			continue
		}
		if ifc.Ping == nil {
			ifc.Ping = map[wgtypes.Key]netip.Addr{}
		}
		ifc.Ping[pk] = a.Unmap()
	}
}

func (v *validator) store(name string, fs fileStore) Store {
	key := "store." + name
	s := Store{Name: name, Type: fs.Type, Path: fs.Path, Command: fs.Command, Args: fs.Args}
	switch fs.Type {
	case "file":
		if fs.Path == "" {
			v.add(key+".path", "missing: a file store needs a directory path")
		} else if !filepath.IsAbs(fs.Path) {
			v.add(key+".path", "%q must be an absolute path", fs.Path)
		}
		if fs.Command != "" || len(fs.Args) > 0 || fs.Timeout != "" {
			v.add(key+".type", "a file store takes only path (command, args and timeout are for exec and shell)")
		}
	case "exec", "shell":
		if fs.Command == "" {
			v.add(key+".command", "missing: a %s store needs the plugin command", fs.Type)
		}
		if fs.Path != "" {
			v.add(key+".path", "path is for file stores; a %s store takes command, args and timeout", fs.Type)
		}
		s.Timeout = v.duration(key+".timeout", fs.Timeout, DefaultPluginTimeout, 100*time.Millisecond, 10*time.Minute)
	case "":
		v.add(key+".type", "missing: one of file, exec, shell")
	default:
		v.add(key+".type", "%q is not one of file, exec, shell", fs.Type)
	}
	return s
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("not host:port (IPv6 literals go in brackets: \"[2001:db8::1]:3478\")")
	}
	if host == "" {
		return errors.New("empty host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return errors.New("port must be a number from 1 to 65535")
	}
	return nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
