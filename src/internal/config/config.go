// Package config reads wgstun's TOML configuration strictly: unknown keys,
// bad values and dangling references are errors that carry the file and line,
// and every problem is reported at once.
package config

import (
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// DefaultPath is where `wgstun run` and `wgstun check` look without -c.
const DefaultPath = "/etc/wgstun/wgstun.toml"

// DefaultSocket is the control socket `wgstun status` talks to.
const DefaultSocket = "/var/run/wgstun.sock"

// DefaultStateDir is where the daemon keeps its state (daemon.state_dir):
// /var/lib/wgstun, on FreeBSD and macOS /var/db/wgstun (hier(7)). On
// OpenWrt /var is in RAM, so the state lasts until a reboot and costs no
// flash writes.
var DefaultStateDir = func() string {
	if runtime.GOOS == "freebsd" || runtime.GOOS == "darwin" {
		return "/var/db/wgstun"
	}
	return "/var/lib/wgstun"
}()

// daemon.memory_limit: the range of the soft limit on the memory the Go
// runtime holds (runtime/debug.SetMemoryLimit); none by default. Near the
// limit the collector runs more often; it is soft, so a daemon that needs
// more still gets it. The runtime's own share (stacks, metadata: about
// 4 MiB on amd64) counts against it, so a limit near that makes the
// collector run without pause: 4 MiB cost 5-7 CPU seconds a minute in
// the lab for 1 MB less RSS (scripts/soak.sh).
const (
	DefaultMemoryLimit = 0
	MinMemoryLimit     = 2 << 20
	MaxMemoryLimit     = 4 << 30
)

// daemon.gc_percent: the collector's target (runtime/debug.SetGCPercent,
// GOGC): the heap may grow this many percent over what is live before the
// next collection, and to at least 4 MiB times this over 100. Go's 100
// lets a daemon whose live heap is 1 MB grow to 4 MB between collections
// (10.7 MB RSS after 2.5 minutes in the lab); 25 keeps it near 1 MB
// (7.7 MB RSS, flat) for no measurable CPU (0.1-0.3 s a minute either
// way). scripts/soak.sh measures it.
const (
	DefaultGCPercent = 25
	MinGCPercent     = 10
	MaxGCPercent     = 1000
)

// DefaultMaxRecordAge is daemon.max_record_age's default.
const DefaultMaxRecordAge = 24 * time.Hour

// Defaults applied to keys the file leaves out.
const (
	DefaultRefresh       = 5 * time.Minute
	DefaultPluginTimeout = 10 * time.Second
	MinRefresh           = 10 * time.Second
	MaxRefresh           = 24 * time.Hour
	DefaultPingInterval  = 2 * time.Second
	MinPingInterval      = 200 * time.Millisecond
	MaxPingInterval      = time.Minute
	// Network stores (rfc2136, cloudflare, opendht) give up on one call
	// after this long unless timeout says otherwise.
	DefaultNetworkTimeout = 5 * time.Second
	DefaultDNSTTL         = 60 * time.Second
	DefaultTSIGAlgorithm  = "hmac-sha256"
	DefaultRecordName     = "{key}"
	DefaultCloudflareAPI  = "https://api.cloudflare.com/client/v4"
	// DefaultMappingLifetime is what a NAT-PMP or PCP mapping is asked
	// for (RFC 6886 recommends 7200 s); it is renewed at half of what the
	// gateway grants.
	DefaultMappingLifetime = 2 * time.Hour
)

// Store types. The network ones are compiled in only with their build
// tag (see the README); config accepts them all, and `wgstun check` says
// when the running binary lacks one.
const (
	StoreFile       = "file"
	StoreExec       = "exec"
	StoreShell      = "shell"
	StoreRFC2136    = "rfc2136"
	StoreCloudflare = "cloudflare"
	StoreOpenDHT    = "opendht"
)

// Port mapping modes of an interface's gateway client.
const (
	PortMapOff    = "off"
	PortMapAuto   = "auto" // PCP, then NAT-PMP
	PortMapPCP    = "pcp"
	PortMapNATPMP = "natpmp"
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
	Path     string
	LogLevel string
	Socket   string
	// StateDir holds what must survive a restart: the newest record time
	// accepted from each peer (replay protection).
	StateDir string
	// MaxRecordAge refuses a peer's record sealed longer ago than this
	// plus the interface's refresh (a peer republishes every refresh).
	MaxRecordAge time.Duration
	// MemoryLimit is the runtime's soft memory limit in bytes; 0: none.
	// GCPercent is the collector's target (GOGC). The GOMEMLIMIT and GOGC
	// environment variables, when set, win.
	MemoryLimit int64
	GCPercent   int
	STUN        []string // host:port, tried in order
	Stores      map[string]Store
	Interfaces  []Interface
}

// Store is one named record store. Which fields apply depends on Type;
// the validator refuses keys of other types.
type Store struct {
	Name string
	Type string // one of the Store* constants

	Path string // file: the shared directory

	Command string   // exec, shell: the plugin
	Args    []string // exec, shell
	// Env names the daemon's environment variables an exec or shell
	// plugin gets besides PATH, HOME and LANG; it gets no others.
	Env []string
	// Timeout bounds one plugin run (exec, shell) or one network call
	// (rfc2136, cloudflare, opendht).
	Timeout time.Duration

	// rfc2136: DNS UPDATE to Server (host:port) for Zone, signed with
	// TSIG; records are TXT at RecordName (with "{key}" replaced by the
	// store key) under Zone.
	Server         string
	Zone           string // rfc2136: the zone (FQDN); cloudflare: the zone's name
	RecordName     string
	TSIGKey        string
	TSIGAlgorithm  string
	TSIGSecretFile string // base64 secret, as in a BIND/Knot key file
	TSIGSecretEnv  string
	TTL            time.Duration // rfc2136, cloudflare

	// cloudflare: records are TXT at <key>.<Subdomain>.<Zone> (or
	// <key>.<Zone>), as stunmesh-go writes them.
	Subdomain string
	TokenFile string // API token; never logged
	TokenEnv  string
	API       string // base URL of the v4 API

	// opendht: HTTP proxy endpoints, tried in order.
	Endpoints []string
}

// Equal reports whether two store configurations are the same.
func (a Store) Equal(b Store) bool {
	return a.Name == b.Name && a.Type == b.Type && a.Path == b.Path && a.Command == b.Command &&
		slices.Equal(a.Args, b.Args) && slices.Equal(a.Env, b.Env) && a.Timeout == b.Timeout &&
		a.Server == b.Server && a.Zone == b.Zone && a.RecordName == b.RecordName &&
		a.TSIGKey == b.TSIGKey && a.TSIGAlgorithm == b.TSIGAlgorithm &&
		a.TSIGSecretFile == b.TSIGSecretFile && a.TSIGSecretEnv == b.TSIGSecretEnv && a.TTL == b.TTL &&
		a.Subdomain == b.Subdomain && a.TokenFile == b.TokenFile && a.TokenEnv == b.TokenEnv &&
		a.API == b.API && slices.Equal(a.Endpoints, b.Endpoints)
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
	// PortMapping asks the gateway for a mapping of WireGuard's port
	// (one of the PortMap* constants); Gateway overrides the default
	// route's next hop; MappingLifetime is the lifetime requested.
	PortMapping     string
	Gateway         netip.Addr
	MappingLifetime time.Duration
	// FastHandshake lets the daemon remove a peer that has no live
	// session and add it back with its new endpoint, so that WireGuard
	// handshakes at once instead of after its 5 s retry (wg.Recreate).
	// Off for users whose other tools watch peer objects. Default on.
	FastHandshake bool
	// PathChecks runs wgstun's connectivity checks with peers that
	// answer them: authenticated STUN requests from WireGuard's port to
	// each of a peer's candidates, to pick the address that works and to
	// notice a dead path without a ping address. Default on.
	PathChecks bool
	// LANCandidates publishes this host's LAN addresses (WireGuard's
	// port) as candidates, so that two peers behind one NAT connect over
	// the LAN. They are private data; off keeps them out of the records.
	// Default on; nothing without PathChecks.
	LANCandidates bool
}

// Equal reports whether two interface configurations are the same.
func (a Interface) Equal(b Interface) bool {
	return a.Name == b.Name && a.Store == b.Store && a.Family == b.Family &&
		a.Refresh == b.Refresh && a.PingInterval == b.PingInterval &&
		slices.Equal(a.Peers, b.Peers) && maps.Equal(a.Ping, b.Ping) &&
		slices.Equal(a.Capture, b.Capture) && a.FIB == b.FIB && a.BindInterface == b.BindInterface &&
		a.PortMapping == b.PortMapping && a.Gateway == b.Gateway && a.MappingLifetime == b.MappingLifetime &&
		a.FastHandshake == b.FastHandshake && a.PathChecks == b.PathChecks && a.LANCandidates == b.LANCandidates
}
