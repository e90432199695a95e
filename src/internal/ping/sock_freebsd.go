package ping

import "github.com/wgstun/wgstun/src/internal/egress"

// FreeBSD has no unprivileged ICMP datagram sockets: pinging takes a raw
// socket and root.
const hasDgramICMP = false

func socket(fam, typ, proto int) (int, error) { return egress.Socket(fam, typ, proto) }

// bindIface does nothing: FreeBSD has no socket option that ties an ICMP
// socket to one interface (no SO_BINDTODEVICE, no IP_BOUND_IF). Probes go
// where the routing table of the process's FIB sends the target, which is
// the WireGuard interface when the tunnel address is routed there, as
// wg-quick and OPNsense set up. The limit: with a more specific route to
// the target through another interface, probes leave by that one, and a
// reply from the target is taken whichever interface it came in on.
func bindIface(int, string, bool) error { return nil }
