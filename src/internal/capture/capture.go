// Package capture picks the operating system's packet path for STUN on
// WireGuard's port: raw sockets on Linux, /dev/bpf on FreeBSD and macOS.
package capture

import (
	"errors"

	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/stun"
)

// ErrNotSupported is returned on systems without a packet path, and by
// Interfaces on systems whose packet path is not per interface (Linux).
var ErrNotSupported = errors.New("capture: no packet path for this operating system")

// Options are what an interface's configuration says about its packet
// path beyond the port.
type Options struct {
	// Capture names the interfaces STUN answers are read on (the config's
	// capture key); empty means every interface that is up, not a
	// loopback, not WireGuard's and has an address of the family. Linux
	// ignores it: one raw socket sees every interface.
	Capture []string
	// FIB is the FreeBSD routing table STUN is sent through; -1 (or 0)
	// leaves the process's own. Other systems ignore it.
	FIB int
	// BindInterface pins sends to one interface on macOS; "" leaves
	// routing to decide. Other systems ignore it.
	BindInterface string
	// Log receives the packet path's own events (FreeBSD and macOS:
	// interfaces appearing, leaving, skipped); nil discards them.
	Log *logfmt.Logger
}

// Open returns a packet path that sends from and receives STUN answers for
// WireGuard's UDP port without binding it, capturing on every eligible
// interface: OpenWith with no options.
func Open(port uint16, ipv6 bool, mark uint32) (stun.Conn, error) {
	return open(port, ipv6, mark, Options{FIB: -1})
}

// OpenWith returns a packet path that sends from and receives STUN answers
// for WireGuard's UDP port without binding it. mark is WireGuard's fwmark
// (Linux), applied so that full-tunnel routing still sends STUN outside;
// FreeBSD's and macOS's equivalents are o.FIB and o.BindInterface.
func OpenWith(port uint16, ipv6 bool, mark uint32, o Options) (stun.Conn, error) {
	return open(port, ipv6, mark, o)
}

// PerInterface reports whether this system's packet path reads answers
// per network interface (FreeBSD and macOS: /dev/bpf) rather than on one
// raw socket (Linux).
const PerInterface = perInterface

// Iface is one interface the packet path would read answers on.
type Iface struct {
	Name string
	// LinkType is tcpdump's name of the link type (EN10MB, NULL, LOOP,
	// RAW) or "unknown (N)".
	LinkType string
	// Skipped is set for a link type the packet path cannot read; such an
	// interface is left out with a log line.
	Skipped bool
	// Err says why the interface could not be looked at (missing or down,
	// no /dev/bpf access).
	Err error
}

// Interfaces returns the interfaces OpenWith(..., ipv6, ..., capture)
// would capture on now, with their link types; it opens each interface's
// /dev/bpf device briefly and needs root. Where PerInterface is false it
// returns ErrNotSupported.
func Interfaces(ipv6 bool, capture []string) ([]Iface, error) {
	return interfaces(ipv6, capture)
}
