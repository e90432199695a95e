package daemon

import (
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/wgstun/wgstun/src/internal/jsonwire"
)

// Peer states shown by `wgstun status`.
const (
	StateWaiting    = "waiting"    // no record from the peer yet
	StateConnecting = "connecting" // endpoint known, no handshake yet
	StateConnected  = "connected"  // recent handshake
	StateDown       = "down"       // handshakes stopped
	StateImpossible = "impossible" // the two NATs cannot be traversed directly
)

// Status is the snapshot `wgstun status` receives, as JSON. The tags name
// the JSON members (AppendJSON and ParseStatus write and read them with
// jsonwire; the tests check both against encoding/json with these tags).
type Status struct {
	Version    string            `json:"version"`
	Started    time.Time         `json:"started"`
	Memory     MemoryStatus      `json:"memory,omitzero"`
	Interfaces []InterfaceStatus `json:"interfaces"`
}

// MemoryStatus is the Go runtime's view of the daemon's memory when the
// status was taken, for `wgstun status` and scripts/soak.sh. Byte counts.
type MemoryStatus struct {
	HeapInUse uint64 `json:"heap_inuse"` // spans with objects in them
	Sys       uint64 `json:"sys"`        // all the runtime holds from the OS (heap, stacks, metadata)
	Released  uint64 `json:"released"`   // part of Sys given back to the OS
	Allocs    uint64 `json:"allocs"`     // heap objects allocated since start
	GCs       uint64 `json:"gcs"`        // collections since start
	Limit     uint64 `json:"limit"`      // the soft limit (daemon.memory_limit); 0: none
}

// readMemory fills a MemoryStatus from the runtime.
func readMemory() MemoryStatus {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := MemoryStatus{HeapInUse: ms.HeapInuse, Sys: ms.Sys, Released: ms.HeapReleased, Allocs: ms.Mallocs, GCs: uint64(ms.NumGC)}
	if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
		m.Limit = uint64(l)
	}
	return m
}

// InterfaceStatus describes one managed WireGuard interface.
type InterfaceStatus struct {
	Name       string         `json:"name"`
	State      string         `json:"state"` // up, waiting
	Reason     string         `json:"reason,omitempty"`
	PublicKey  string         `json:"public_key,omitempty"`
	ListenPort uint16         `json:"listen_port,omitempty"`
	Store      string         `json:"store"`
	StoreError string         `json:"store_error,omitempty"`
	IPv4       netip.AddrPort `json:"ipv4,omitzero"` // discovered mapping
	IPv6       netip.AddrPort `json:"ipv6,omitzero"`
	NAT        string         `json:"nat,omitempty"` // record hint: cone, symmetric, eim+apdf ... (natcheck.ParseHint)
	STUNServer string         `json:"stun_server,omitempty"`
	Discovered time.Time      `json:"discovered,omitzero"`
	LastError  string         `json:"last_error,omitempty"`
	// Gateway port mapping (omitted when port_mapping is off): the mode,
	// and the mapping held (protocol, gateway, external endpoint, expiry)
	// or why there is none.
	PortMapping     string         `json:"port_mapping,omitempty"`
	PortMapProtocol string         `json:"port_map_protocol,omitempty"` // PCP, NAT-PMP
	PortMapGateway  string         `json:"port_map_gateway,omitempty"`
	PortMapExternal netip.AddrPort `json:"port_map_external,omitzero"` // published instead of ipv4 while held
	PortMapExpires  time.Time      `json:"port_map_expires,omitzero"`
	PortMapError    string         `json:"port_map_error,omitempty"`
	// Path checks from peers: answered, dropped (unauthenticated,
	// replayed, not for us) and not answered for the rate limit.
	ChecksAnswered uint64       `json:"checks_answered,omitempty"`
	ChecksDropped  uint64       `json:"checks_dropped,omitempty"`
	ChecksLimited  uint64       `json:"checks_limited,omitempty"`
	Missing        []string     `json:"missing_peers,omitempty"` // configured, not on the device
	Peers          []PeerStatus `json:"peers"`
}

// PeerStatus describes one peer of an interface.
type PeerStatus struct {
	PublicKey     string         `json:"public_key"`
	State         string         `json:"state"`
	Reason        string         `json:"reason,omitempty"`
	Published     time.Time      `json:"published,omitzero"`
	Record        netip.AddrPort `json:"record_endpoint,omitzero"` // what the peer's record says
	RecordTime    time.Time      `json:"record_time,omitzero"`
	PeerNAT       string         `json:"peer_nat,omitempty"`
	Endpoint      netip.AddrPort `json:"endpoint,omitzero"` // what WireGuard uses now
	EndpointFrom  string         `json:"endpoint_from,omitempty"`
	SetAt         time.Time      `json:"set_at,omitzero"`
	Recreated     time.Time      `json:"recreated,omitzero"`      // when wgstun last re-created the peer
	RecreatedWhy  string         `json:"recreated_why,omitempty"` // why, in words
	LastHandshake time.Time      `json:"last_handshake,omitzero"`
	Ping          string         `json:"ping,omitempty"`        // tunnel address watched
	PingSent      int            `json:"ping_sent,omitempty"`   // probes in the loss window
	PingLoss      float64        `json:"ping_loss,omitempty"`   // percent over the window
	PingRTT       float64        `json:"ping_rtt_ms,omitempty"` // of the last reply
	PingError     string         `json:"ping_error,omitempty"`
	// Path checks: the candidate that answered last, its kind (lan,
	// mapped, port-mapped), the round trip and when.
	Path        netip.AddrPort `json:"path,omitzero"`
	PathKind    string         `json:"path_kind,omitempty"`
	PathRTT     float64        `json:"path_rtt_ms,omitempty"`
	PathChecked time.Time      `json:"path_checked,omitzero"`
	LastError   string         `json:"last_error,omitempty"`
}

// board holds the live status; interface runners write, the control
// socket reads.
type board struct {
	mu      sync.Mutex
	version string
	started time.Time
	ifaces  map[string]*InterfaceStatus
}

func newBoard(version string, now time.Time) *board {
	return &board{version: version, started: now, ifaces: map[string]*InterfaceStatus{}}
}

// update runs fn on the named interface's status under the lock.
func (b *board) update(name string, fn func(*InterfaceStatus)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.ifaces[name]
	if !ok {
		s = &InterfaceStatus{Name: name}
		b.ifaces[name] = s
	}
	fn(s)
}

func (b *board) remove(name string) {
	b.mu.Lock()
	delete(b.ifaces, name)
	b.mu.Unlock()
}

func (b *board) snapshot() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := Status{Version: b.version, Started: b.started, Memory: readMemory()}
	for _, s := range b.ifaces {
		c := *s
		c.Peers = append([]PeerStatus(nil), s.Peers...)
		st.Interfaces = append(st.Interfaces, c)
	}
	sort.Slice(st.Interfaces, func(i, j int) bool { return st.Interfaces[i].Name < st.Interfaces[j].Name })
	return st
}

func (b *board) marshal() []byte {
	st := b.snapshot()
	return append(st.AppendJSON(nil), '\n')
}

// AppendJSON appends st as indented JSON, the bytes
// json.MarshalIndent(st, "", "  ") writes.
func (st *Status) AppendJSON(b []byte) []byte {
	w := jsonwire.NewWriter(b, "  ")
	w.BeginObject()
	w.Key("version")
	w.String(st.Version)
	w.Key("started")
	w.String(jsonTime(st.Started))
	if st.Memory != (MemoryStatus{}) {
		w.Key("memory")
		w.BeginObject()
		mem := &st.Memory
		for _, c := range []struct {
			k string
			n uint64
		}{{"heap_inuse", mem.HeapInUse}, {"sys", mem.Sys}, {"released", mem.Released}, {"allocs", mem.Allocs}, {"gcs", mem.GCs}, {"limit", mem.Limit}} {
			w.Key(c.k)
			w.Uint(c.n)
		}
		w.EndObject()
	}
	w.Key("interfaces")
	if st.Interfaces == nil {
		w.Null()
	} else {
		w.BeginArray()
		for i := range st.Interfaces {
			st.Interfaces[i].appendJSON(w)
		}
		w.EndArray()
	}
	w.EndObject()
	return w.Bytes()
}

// jsonTime is time.Time's JSON text (RFC 3339 with nanoseconds).
func jsonTime(t time.Time) string { return t.Format(time.RFC3339Nano) }

// members writes the omitempty and omitzero kinds of field.
type members struct{ w *jsonwire.Writer }

func (m members) str(k, v string, omitEmpty bool) { m.w.StringMember(k, v, omitEmpty) }

func (m members) time(k string, t time.Time) {
	if !t.IsZero() {
		m.w.StringMember(k, jsonTime(t), false)
	}
}

func (m members) addrPort(k string, a netip.AddrPort) {
	if a.IsValid() {
		m.w.StringMember(k, a.String(), false)
	}
}

func (s *InterfaceStatus) appendJSON(w *jsonwire.Writer) {
	m := members{w}
	w.BeginObject()
	m.str("name", s.Name, false)
	m.str("state", s.State, false)
	m.str("reason", s.Reason, true)
	m.str("public_key", s.PublicKey, true)
	if s.ListenPort != 0 {
		w.Key("listen_port")
		w.Uint(uint64(s.ListenPort))
	}
	m.str("store", s.Store, false)
	m.str("store_error", s.StoreError, true)
	m.addrPort("ipv4", s.IPv4)
	m.addrPort("ipv6", s.IPv6)
	m.str("nat", s.NAT, true)
	m.str("stun_server", s.STUNServer, true)
	m.time("discovered", s.Discovered)
	m.str("last_error", s.LastError, true)
	m.str("port_mapping", s.PortMapping, true)
	m.str("port_map_protocol", s.PortMapProtocol, true)
	m.str("port_map_gateway", s.PortMapGateway, true)
	m.addrPort("port_map_external", s.PortMapExternal)
	m.time("port_map_expires", s.PortMapExpires)
	m.str("port_map_error", s.PortMapError, true)
	for _, c := range []struct {
		k string
		n uint64
	}{{"checks_answered", s.ChecksAnswered}, {"checks_dropped", s.ChecksDropped}, {"checks_limited", s.ChecksLimited}} {
		if c.n != 0 {
			w.Key(c.k)
			w.Uint(c.n)
		}
	}
	if len(s.Missing) > 0 {
		w.Key("missing_peers")
		w.BeginArray()
		for _, k := range s.Missing {
			w.String(k)
		}
		w.EndArray()
	}
	w.Key("peers")
	if s.Peers == nil {
		w.Null()
	} else {
		w.BeginArray()
		for i := range s.Peers {
			s.Peers[i].appendJSON(w)
		}
		w.EndArray()
	}
	w.EndObject()
}

func (p *PeerStatus) appendJSON(w *jsonwire.Writer) {
	m := members{w}
	w.BeginObject()
	m.str("public_key", p.PublicKey, false)
	m.str("state", p.State, false)
	m.str("reason", p.Reason, true)
	m.time("published", p.Published)
	m.addrPort("record_endpoint", p.Record)
	m.time("record_time", p.RecordTime)
	m.str("peer_nat", p.PeerNAT, true)
	m.addrPort("endpoint", p.Endpoint)
	m.str("endpoint_from", p.EndpointFrom, true)
	m.time("set_at", p.SetAt)
	m.time("recreated", p.Recreated)
	m.str("recreated_why", p.RecreatedWhy, true)
	m.time("last_handshake", p.LastHandshake)
	m.str("ping", p.Ping, true)
	if p.PingSent != 0 {
		w.Key("ping_sent")
		w.Int(int64(p.PingSent))
	}
	if p.PingLoss != 0 {
		w.Key("ping_loss")
		w.Float(p.PingLoss)
	}
	if p.PingRTT != 0 {
		w.Key("ping_rtt_ms")
		w.Float(p.PingRTT)
	}
	m.str("ping_error", p.PingError, true)
	m.addrPort("path", p.Path)
	m.str("path_kind", p.PathKind, true)
	if p.PathRTT != 0 {
		w.Key("path_rtt_ms")
		w.Float(p.PathRTT)
	}
	m.time("path_checked", p.PathChecked)
	m.str("last_error", p.LastError, true)
	w.EndObject()
}

// ParseStatus reads the JSON a daemon's control socket answers with.
// Unknown members are skipped, so a newer daemon's answer still reads.
func ParseStatus(data []byte) (Status, error) {
	var st Status
	v, err := jsonwire.Parse(data)
	if err == nil {
		err = readObject(v, []field{
			{"version", str(&st.Version)},
			{"started", timeField(&st.Started)},
			{"memory", func(m jsonwire.Value) error {
				mem := &st.Memory
				return readObject(m, []field{
					{"heap_inuse", uintField(&mem.HeapInUse)},
					{"sys", uintField(&mem.Sys)},
					{"released", uintField(&mem.Released)},
					{"allocs", uintField(&mem.Allocs)},
					{"gcs", uintField(&mem.GCs)},
					{"limit", uintField(&mem.Limit)},
				})
			}},
			{"interfaces", list(&st.Interfaces, (*InterfaceStatus).read)},
		})
	}
	if err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	return st, nil
}

func (s *InterfaceStatus) read(v jsonwire.Value) error {
	return readObject(v, []field{
		{"name", str(&s.Name)},
		{"state", str(&s.State)},
		{"reason", str(&s.Reason)},
		{"public_key", str(&s.PublicKey)},
		{"listen_port", func(m jsonwire.Value) error {
			n, err := m.Uint(16)
			s.ListenPort = uint16(n)
			return err
		}},
		{"store", str(&s.Store)},
		{"store_error", str(&s.StoreError)},
		{"ipv4", addrPort(&s.IPv4)},
		{"ipv6", addrPort(&s.IPv6)},
		{"nat", str(&s.NAT)},
		{"stun_server", str(&s.STUNServer)},
		{"discovered", timeField(&s.Discovered)},
		{"last_error", str(&s.LastError)},
		{"port_mapping", str(&s.PortMapping)},
		{"port_map_protocol", str(&s.PortMapProtocol)},
		{"port_map_gateway", str(&s.PortMapGateway)},
		{"port_map_external", addrPort(&s.PortMapExternal)},
		{"port_map_expires", timeField(&s.PortMapExpires)},
		{"port_map_error", str(&s.PortMapError)},
		{"checks_answered", uintField(&s.ChecksAnswered)},
		{"checks_dropped", uintField(&s.ChecksDropped)},
		{"checks_limited", uintField(&s.ChecksLimited)},
		{"missing_peers", list(&s.Missing, func(k *string, e jsonwire.Value) error { return str(k)(e) })},
		{"peers", list(&s.Peers, (*PeerStatus).read)},
	})
}

func (p *PeerStatus) read(v jsonwire.Value) error {
	return readObject(v, []field{
		{"public_key", str(&p.PublicKey)},
		{"state", str(&p.State)},
		{"reason", str(&p.Reason)},
		{"published", timeField(&p.Published)},
		{"record_endpoint", addrPort(&p.Record)},
		{"record_time", timeField(&p.RecordTime)},
		{"peer_nat", str(&p.PeerNAT)},
		{"endpoint", addrPort(&p.Endpoint)},
		{"endpoint_from", str(&p.EndpointFrom)},
		{"set_at", timeField(&p.SetAt)},
		{"recreated", timeField(&p.Recreated)},
		{"recreated_why", str(&p.RecreatedWhy)},
		{"last_handshake", timeField(&p.LastHandshake)},
		{"ping", str(&p.Ping)},
		{"ping_sent", func(m jsonwire.Value) error {
			n, err := m.Int()
			p.PingSent = int(n)
			return err
		}},
		{"ping_loss", float(&p.PingLoss)},
		{"ping_rtt_ms", float(&p.PingRTT)},
		{"ping_error", str(&p.PingError)},
		{"path", addrPort(&p.Path)},
		{"path_kind", str(&p.PathKind)},
		{"path_rtt_ms", float(&p.PathRTT)},
		{"path_checked", timeField(&p.PathChecked)},
		{"last_error", str(&p.LastError)},
	})
}

// field is one member ParseStatus reads: its name and how.
type field struct {
	name string
	read func(m jsonwire.Value) error
}

// readObject reads the members of object v that fields name; null
// members are left as they are, as encoding/json leaves them.
func readObject(v jsonwire.Value, fields []field) error {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return v.Members(names, func(i int, m jsonwire.Value) error {
		if m.Kind() == jsonwire.Null {
			return nil
		}
		if err := fields[i].read(m); err != nil {
			return fmt.Errorf("%s: %w", fields[i].name, err)
		}
		return nil
	})
}

func str(dst *string) func(jsonwire.Value) error {
	return func(m jsonwire.Value) error {
		s, err := m.Str()
		*dst = s
		return err
	}
}

func uintField(dst *uint64) func(jsonwire.Value) error {
	return func(m jsonwire.Value) error {
		n, err := m.Uint(64)
		*dst = n
		return err
	}
}

func float(dst *float64) func(jsonwire.Value) error {
	return func(m jsonwire.Value) error {
		f, err := m.Float()
		*dst = f
		return err
	}
}

func timeField(dst *time.Time) func(jsonwire.Value) error {
	return func(m jsonwire.Value) error {
		s, err := m.Str()
		if err != nil {
			return err
		}
		*dst, err = time.Parse(time.RFC3339Nano, s)
		return err
	}
}

func addrPort(dst *netip.AddrPort) func(jsonwire.Value) error {
	return func(m jsonwire.Value) error {
		s, err := m.Str()
		if err != nil || s == "" {
			return err
		}
		*dst, err = netip.ParseAddrPort(s)
		return err
	}
}

// list reads an array into *dst, each element with read; like
// encoding/json, [] gives an empty slice, not nil.
func list[T any](dst *[]T, read func(x *T, e jsonwire.Value) error) func(jsonwire.Value) error {
	return func(m jsonwire.Value) error {
		*dst = []T{}
		return m.Elems(func(e jsonwire.Value) error {
			*dst = append(*dst, *new(T))
			return read(&(*dst)[len(*dst)-1], e)
		})
	}
}
