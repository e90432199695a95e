// Package egress keeps the daemon's own traffic out of a full tunnel. STUN
// discovery goes out on the packet path, which carries WireGuard's fwmark
// itself (capture); everything else the daemon sends (port mapping to the
// gateway, name look-ups, the network stores, NAT checks) opens its
// sockets through Control, which applies one process-wide Policy: on Linux
// WireGuard's fwmark (SO_MARK), so that a policy rule like wg-quick's "not
// fwmark M lookup the tunnel's table" leaves them outside; on FreeBSD the
// interface's fib (SO_SETFIB); on macOS its bind_interface (IP_BOUND_IF).
// Plugins are processes of their own and are not covered.
package egress

import (
	"net"
	"sync/atomic"
	"syscall"
)

// Policy is how the daemon's own sockets are routed; the zero Policy
// leaves them to the routing table.
type Policy struct {
	Mark   uint32 // Linux SO_MARK; 0: none
	FIB    int    // FreeBSD SO_SETFIB; below 1: the process's own
	BindIf string // macOS IP_BOUND_IF; "": none
}

var current atomic.Pointer[Policy]

// Set makes p the policy of sockets opened from now on. It reports
// whether p differs from the policy it replaces.
func Set(p Policy) bool {
	old := current.Swap(&p)
	return old == nil && p != (Policy{}) || old != nil && *old != p
}

// Get returns the policy in force.
func Get() Policy {
	if p := current.Load(); p != nil {
		return *p
	}
	return Policy{}
}

// Control applies the policy to a socket before it connects or binds; it
// is a net.Dialer's and a net.ListenConfig's Control.
func Control(network, _ string, c syscall.RawConn) error {
	p := Get()
	if p == (Policy{}) {
		return nil
	}
	var serr error
	if err := c.Control(func(fd uintptr) { serr = apply(int(fd), network, p) }); err != nil {
		return err
	}
	return serr
}

// Dialer returns a net.Dialer whose sockets follow the policy.
func Dialer() *net.Dialer { return &net.Dialer{Control: Control} }

// ListenConfig returns a net.ListenConfig whose sockets follow the policy.
func ListenConfig() *net.ListenConfig { return &net.ListenConfig{Control: Control} }
