// Package resolve turns the host:port names in wgstun's configuration (STUN
// servers today) into addresses of one family. It is the one place wgstun
// looks names up, so a smaller resolver than the net package's can replace
// net.DefaultResolver here alone.
package resolve

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/wgstun/wgstun/src/internal/egress"
)

// Timeout bounds one lookup.
const Timeout = 5 * time.Second

// HostPort returns the addresses of hostport's host in the family ipv6 picks,
// each with hostport's port. A literal address of the other family gives no
// addresses and no error; a name is looked up with a Timeout.
func HostPort(ctx context.Context, hostport string, ipv6 bool) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port of %s: %w", hostport, err)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.Is6() != ipv6 {
			return nil, nil
		}
		return []netip.AddrPort{netip.AddrPortFrom(a, uint16(port))}, nil
	}
	network := "ip4"
	if ipv6 {
		network = "ip6"
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	addrs, err := resolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(port)))
	}
	return out, nil
}

// resolver is Go's own DNS client with its sockets opened through egress,
// so that look-ups stay out of a full tunnel.
var resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
	return egress.Dialer().DialContext(ctx, network, address)
}}
