package stun

import (
	"net/netip"
	"time"
)

// Conn is a packet path that carries STUN messages from and to a UDP port
// that somebody else (WireGuard) owns. WriteTo sends payload as the body of
// a UDP datagram whose source port is the owned port; ReadFrom returns the
// next UDP payload that arrived for that port and passed the capture filter,
// with the sender's address. Implementations: linuxraw (Linux raw sockets),
// bsdbpf (/dev/bpf on FreeBSD and macOS) and, for a port of one's own,
// NewUDPConn.
type Conn interface {
	WriteTo(payload []byte, dst netip.AddrPort) error
	ReadFrom(buf []byte) (n int, src netip.AddrPort, err error)
	SetReadDeadline(t time.Time) error
	Close() error
}
