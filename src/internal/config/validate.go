package config

// Validation: turning the decoded file into a Config. validate is the one
// function that does it and returns every problem at once; the validator's
// methods check one part each and record problems with the key's line.
// The check of where a store's secret lives is in secrets.go.

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/record"
)

// validate is the one function that checks a decoded file. It reports
// every problem at once (unknown keys, bad values, dangling references),
// sorted by line, as an *Error; otherwise it returns the resolved Config
// with defaults applied. data is the file's text, scanned again only to
// find the line of each key.
func validate(path string, data []byte, f *file, undecoded []toml.Key) (*Config, error) {
	loc := locate(string(data))
	v := &validator{path: path, loc: loc}
	// The decoder lists a key of an array of tables once per element,
	// without the index; find gives every place, so each is reported once.
	seen := map[string]bool{}
	for _, k := range undecoded {
		if s := k.String(); !seen[s] {
			seen[s] = true
			v.unknown(k)
		}
	}
	c := v.resolve(f)
	if len(v.problems) > 0 {
		sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Line < v.problems[j].Line })
		return nil, &Error{Problems: v.problems, Dropped: v.dropped}
	}
	c.Path = path
	return c, nil
}

type validator struct {
	path     string
	loc      *locator
	problems []Problem
	dropped  int // problems past maxKept, counted only
}

// keep records a problem; past maxKept it only counts it.
func (v *validator) keep(p Problem) {
	if len(v.problems) >= maxKept {
		v.dropped++
		return
	}
	v.problems = append(v.problems, p)
}

func (v *validator) add(key, format string, args ...any) {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = clip(s, maxQuoted)
		}
	}
	v.keep(Problem{
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
		v.keep(Problem{File: v.path, Key: k.String(), Msg: "unknown key"})
		return
	}
	for _, p := range places {
		v.keep(Problem{File: v.path, Line: p.line, Key: p.key, Msg: "unknown key"})
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

// memoryLimit reads a size in GOMEMLIMIT's syntax (a whole number of B,
// KiB, MiB or GiB) or "off", which is 0.
func (v *validator) memoryLimit(key, s string) int64 {
	if s == "" {
		return DefaultMemoryLimit
	}
	if s == "off" {
		return 0
	}
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case err != nil || n < 0:
		v.add(key, "%q is not a size (examples: \"6MiB\", \"65536KiB\", or \"off\")", s)
	case n > MaxMemoryLimit/mult || n*mult < MinMemoryLimit:
		v.add(key, "%s is out of range (%dMiB to %dGiB, or \"off\")", s, MinMemoryLimit>>20, MaxMemoryLimit>>30)
	default:
		return n * mult
	}
	return 0
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
	c.StateDir = f.Daemon.StateDir
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	} else if !filepath.IsAbs(c.StateDir) {
		v.add("daemon.state_dir", "%q must be an absolute path", c.StateDir)
	}
	c.MaxRecordAge = v.duration("daemon.max_record_age", f.Daemon.MaxRecordAge, DefaultMaxRecordAge, time.Hour, 30*24*time.Hour)
	c.MemoryLimit = v.memoryLimit("daemon.memory_limit", f.Daemon.MemoryLimit)
	c.GCPercent = DefaultGCPercent
	if g := f.Daemon.GCPercent; g != nil {
		if *g < MinGCPercent || *g > MaxGCPercent {
			v.add("daemon.gc_percent", "%d is out of range (%d to %d)", *g, MinGCPercent, MaxGCPercent)
		}
		c.GCPercent = *g
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
			if record.WeakKey(pk) {
				v.add(fmt.Sprintf("%s.peers[%d]", key, j), weakKey, p)
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
		v.portMapping(key, fi, &ifc)
		ifc.FastHandshake = fi.FastHS == nil || *fi.FastHS
		ifc.PathChecks = fi.PathChecks == nil || *fi.PathChecks
		ifc.LANCandidates = fi.LANCands == nil || *fi.LANCands
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
		case record.WeakKey(pk):
			v.add(pkey+".public_key", weakKey, fp.PublicKey)
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

func (v *validator) portMapping(key string, fi fileInterface, ifc *Interface) {
	switch fi.PortMapping {
	case "":
		ifc.PortMapping = PortMapOff
	case PortMapOff, PortMapAuto, PortMapPCP, PortMapNATPMP:
		ifc.PortMapping = fi.PortMapping
	default:
		v.add(key+".port_mapping", "%q is not one of off, auto, pcp, natpmp", fi.PortMapping)
	}
	if fi.Gateway != "" {
		a, err := netip.ParseAddr(fi.Gateway)
		if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
			v.add(key+".gateway", "%q is not a gateway address (an IPv4 or IPv6 address such as \"192.168.1.1\")", fi.Gateway)
		} else {
			ifc.Gateway = a.Unmap()
		}
	}
	ifc.MappingLifetime = v.duration(key+".mapping_lifetime", fi.MappingLife, DefaultMappingLifetime, 2*time.Minute, 24*time.Hour)
	if ifc.PortMapping == PortMapOff && (fi.Gateway != "" || fi.MappingLife != "") {
		v.add(key+".port_mapping", "gateway and mapping_lifetime need port_mapping (auto, pcp or natpmp)")
	}
}

// storeKeys are the keys each store type takes besides type.
var storeKeys = map[string][]string{
	StoreFile:       {"path"},
	StoreExec:       {"command", "args", "env", "timeout"},
	StoreShell:      {"command", "args", "env", "timeout"},
	StoreRFC2136:    {"server", "zone", "record_name", "tsig_key", "tsig_algorithm", "tsig_secret_file", "tsig_secret_env", "ttl", "timeout"},
	StoreCloudflare: {"zone", "subdomain", "token_file", "token_env", "api", "ttl", "timeout"},
	StoreOpenDHT:    {"endpoints", "timeout"},
}

// set lists the keys a [store.NAME] table gives, in a fixed order.
func (fs fileStore) set() []string {
	var keys []string
	for _, kv := range []struct {
		key string
		set bool
	}{
		{"path", fs.Path != ""}, {"command", fs.Command != ""}, {"args", fs.Args != nil}, {"env", fs.Env != nil},
		{"timeout", fs.Timeout != ""}, {"server", fs.Server != ""}, {"zone", fs.Zone != ""},
		{"record_name", fs.RecordName != ""}, {"tsig_key", fs.TSIGKey != ""},
		{"tsig_algorithm", fs.TSIGAlgorithm != ""}, {"tsig_secret_file", fs.TSIGSecretFile != ""},
		{"tsig_secret_env", fs.TSIGSecretEnv != ""}, {"ttl", fs.TTL != ""},
		{"subdomain", fs.Subdomain != ""}, {"token_file", fs.TokenFile != ""},
		{"token_env", fs.TokenEnv != ""}, {"api", fs.API != ""}, {"endpoints", fs.Endpoints != nil},
	} {
		if kv.set {
			keys = append(keys, kv.key)
		}
	}
	return keys
}

func (v *validator) store(name string, fs fileStore) Store {
	key := "store." + name
	s := Store{Name: name, Type: fs.Type, Path: fs.Path, Command: fs.Command, Args: fs.Args, Env: fs.Env,
		Server: fs.Server, Zone: fs.Zone, RecordName: fs.RecordName, TSIGKey: fs.TSIGKey,
		TSIGAlgorithm: fs.TSIGAlgorithm, TSIGSecretFile: fs.TSIGSecretFile, TSIGSecretEnv: fs.TSIGSecretEnv,
		Subdomain: fs.Subdomain, TokenFile: fs.TokenFile, TokenEnv: fs.TokenEnv, API: fs.API,
		Endpoints: fs.Endpoints}
	allowed, ok := storeKeys[fs.Type]
	if !ok {
		types := slices.Sorted(maps.Keys(storeKeys))
		if fs.Type == "" {
			v.add(key+".type", "missing: one of %s", strings.Join(types, ", "))
		} else {
			v.add(key+".type", "%q is not one of %s", fs.Type, strings.Join(types, ", "))
		}
		return s
	}
	for _, k := range fs.set() {
		if !slices.Contains(allowed, k) {
			v.add(key+"."+k, "not a key of a %s store (it takes %s)", fs.Type, strings.Join(allowed, ", "))
		}
	}
	switch fs.Type {
	case StoreFile:
		if fs.Path == "" {
			v.add(key+".path", "missing: a file store needs a directory path")
		} else if !filepath.IsAbs(fs.Path) {
			v.add(key+".path", "%q must be an absolute path", fs.Path)
		}
	case StoreExec, StoreShell:
		if fs.Command == "" {
			v.add(key+".command", "missing: a %s store needs the plugin command", fs.Type)
		}
		for _, e := range fs.Env {
			if !validEnvName(e) {
				v.add(key+".env", "%q is not an environment variable name (letters, digits, _; not starting with a digit)", e)
			}
		}
		s.Timeout = v.duration(key+".timeout", fs.Timeout, DefaultPluginTimeout, 100*time.Millisecond, 10*time.Minute)
	case StoreRFC2136:
		s.Timeout = v.duration(key+".timeout", fs.Timeout, DefaultNetworkTimeout, 100*time.Millisecond, time.Minute)
		s.TTL = v.duration(key+".ttl", fs.TTL, DefaultDNSTTL, time.Second, 24*time.Hour)
		if fs.Server == "" {
			v.add(key+".server", "missing: the primary server that takes DNS UPDATE (host or host:port, port 53 by default)")
		} else {
			if _, _, err := net.SplitHostPort(fs.Server); err != nil {
				s.Server = net.JoinHostPort(strings.Trim(fs.Server, "[]"), "53")
			}
			if err := checkHostPort(s.Server); err != nil {
				v.add(key+".server", "%q: %v", fs.Server, err)
			}
		}
		s.Zone = v.domain(key+".zone", fs.Zone, true)
		s.RecordName = fs.RecordName
		if s.RecordName == "" {
			s.RecordName = DefaultRecordName
		}
		v.recordName(key+".record_name", s.RecordName, s.Zone)
		if fs.TSIGKey == "" {
			v.add(key+".tsig_key", "missing: the TSIG key's name (updates are always signed)")
		} else {
			s.TSIGKey = v.domain(key+".tsig_key", fs.TSIGKey, false)
		}
		s.TSIGAlgorithm = fs.TSIGAlgorithm
		if s.TSIGAlgorithm == "" {
			s.TSIGAlgorithm = DefaultTSIGAlgorithm
		} else if s.TSIGAlgorithm != "hmac-sha256" && s.TSIGAlgorithm != "hmac-sha512" {
			v.add(key+".tsig_algorithm", "%q is not one of hmac-sha256, hmac-sha512", fs.TSIGAlgorithm)
		}
		v.secret(key, "tsig_secret", fs.TSIGSecretFile, fs.TSIGSecretEnv)
	case StoreCloudflare:
		s.Timeout = v.duration(key+".timeout", fs.Timeout, DefaultNetworkTimeout, 100*time.Millisecond, time.Minute)
		s.TTL = v.duration(key+".ttl", fs.TTL, 0, 0, 24*time.Hour) // 0: Cloudflare's automatic TTL
		if s.TTL != 0 && s.TTL < time.Minute {
			v.add(key+".ttl", "%s: Cloudflare takes 1m to 24h, or leave ttl out for its automatic TTL", fs.TTL)
		}
		s.Zone = strings.TrimSuffix(v.domain(key+".zone", fs.Zone, true), ".")
		if fs.Subdomain != "" {
			s.Subdomain = strings.TrimSuffix(v.domain(key+".subdomain", fs.Subdomain, false), ".")
		}
		v.secret(key, "token", fs.TokenFile, fs.TokenEnv)
		s.API = fs.API
		if s.API == "" {
			s.API = DefaultCloudflareAPI
		}
		v.url(key+".api", s.API)
		s.API = strings.TrimSuffix(s.API, "/")
	case StoreOpenDHT:
		s.Timeout = v.duration(key+".timeout", fs.Timeout, DefaultNetworkTimeout, 100*time.Millisecond, time.Minute)
		if len(fs.Endpoints) == 0 {
			v.add(key+".endpoints", "missing: one or more OpenDHT proxy URLs (\"http://host:8080\"), tried in order")
		}
		s.Endpoints = make([]string, 0, len(fs.Endpoints))
		for i, e := range fs.Endpoints {
			v.url(fmt.Sprintf("%s.endpoints[%d]", key, i), e)
			s.Endpoints = append(s.Endpoints, strings.TrimSuffix(e, "/"))
		}
	}
	return s
}

// domain checks a DNS name (labels of letters, digits, '-' and '_', at
// most 63 bytes each, 253 in all) and returns it lower-cased, made fully
// qualified when fqdn is set.
func (v *validator) domain(key, s string, fqdn bool) string {
	if s == "" {
		v.add(key, "missing: a domain name such as \"mesh.example.org\"")
		return ""
	}
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	if err := checkName(name); err != nil {
		v.add(key, "%q is not a domain name: %v", s, err)
		return name
	}
	if fqdn {
		name += "."
	}
	return name
}

func checkName(name string) error {
	if len(name) > 253 {
		return errors.New("longer than 253 characters")
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" {
			return errors.New("empty label")
		}
		if len(l) > 63 {
			return fmt.Errorf("label %q is longer than 63 characters", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c == '-' || c == '_' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
				return fmt.Errorf("label %q has %q (letters, digits, '-' and '_' only)", l, c)
			}
		}
	}
	return nil
}

// recordName checks an rfc2136 record name template: relative to the
// zone, with "{key}" (40 hex characters once filled in) exactly once.
func (v *validator) recordName(key, tmpl, zone string) {
	if strings.Count(tmpl, "{key}") != 1 {
		v.add(key, "%q must contain {key} exactly once (the store key, 40 hex characters)", tmpl)
		return
	}
	if strings.HasSuffix(tmpl, ".") {
		v.add(key, "%q must be relative to the zone (no trailing dot)", tmpl)
		return
	}
	filled := strings.ToLower(strings.Replace(tmpl, "{key}", strings.Repeat("0", 40), 1))
	full := filled
	if zone != "" {
		full += "." + strings.TrimSuffix(zone, ".")
	}
	if err := checkName(full); err != nil {
		v.add(key, "%q does not make a domain name under the zone: %v", tmpl, err)
	}
}

// url checks an http or https URL with a host and no query.
func (v *validator) url(key, s string) {
	scheme, rest, ok := strings.Cut(s, "://")
	host, _, _ := strings.Cut(rest, "/")
	switch {
	case !ok || (scheme != "http" && scheme != "https"):
		v.add(key, "%q is not an http:// or https:// URL", s)
	case host == "" || strings.ContainsAny(rest, "?# \t"):
		v.add(key, "%q needs a host and no query, fragment or spaces", s)
	}
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

// weakKey explains a peer key record.WeakKey refuses.
const weakKey = "%q is zero or a point of small order: X25519 with it gives a secret anyone can compute, so no record is sealed to or opened from it"
