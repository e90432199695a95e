package daemon

import (
	"encoding/json"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Peer states shown by `wgstun status`.
const (
	StateWaiting    = "waiting"    // no record from the peer yet
	StateConnecting = "connecting" // endpoint known, no handshake yet
	StateConnected  = "connected"  // recent handshake
	StateDown       = "down"       // handshakes stopped
	StateImpossible = "impossible" // the two NATs cannot be traversed directly
)

// Status is the snapshot `wgstun status` receives, as JSON.
type Status struct {
	Version    string            `json:"version"`
	Started    time.Time         `json:"started"`
	Interfaces []InterfaceStatus `json:"interfaces"`
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
	NAT        string         `json:"nat,omitempty"` // cone, symmetric
	STUNServer string         `json:"stun_server,omitempty"`
	Discovered time.Time      `json:"discovered,omitzero"`
	LastError  string         `json:"last_error,omitempty"`
	Missing    []string       `json:"missing_peers,omitempty"` // configured, not on the device
	Peers      []PeerStatus   `json:"peers"`
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
	LastHandshake time.Time      `json:"last_handshake,omitzero"`
	Ping          string         `json:"ping,omitempty"`        // tunnel address watched
	PingSent      int            `json:"ping_sent,omitempty"`   // probes in the loss window
	PingLoss      float64        `json:"ping_loss,omitempty"`   // percent over the window
	PingRTT       float64        `json:"ping_rtt_ms,omitempty"` // of the last reply
	PingError     string         `json:"ping_error,omitempty"`
	LastError     string         `json:"last_error,omitempty"`
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
	st := Status{Version: b.version, Started: b.started}
	for _, s := range b.ifaces {
		c := *s
		c.Peers = append([]PeerStatus(nil), s.Peers...)
		st.Interfaces = append(st.Interfaces, c)
	}
	sort.Slice(st.Interfaces, func(i, j int) bool { return st.Interfaces[i].Name < st.Interfaces[j].Name })
	return st
}

func (b *board) marshal() []byte {
	out, _ := json.MarshalIndent(b.snapshot(), "", "  ")
	return append(out, '\n')
}
