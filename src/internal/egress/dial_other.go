//go:build !linux && !freebsd && !darwin

package egress

import (
	"context"
	"net"
)

// Dial opens a UDP or TCP connection to addr, a literal ip:port.
func Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return Dialer().DialContext(ctx, network, addr)
}

// ListenUDP opens an unconnected UDP socket of the family on an
// ephemeral port.
func ListenUDP(ipv6 bool) (*net.UDPConn, error) {
	network := "udp4"
	if ipv6 {
		network = "udp6"
	}
	return net.ListenUDP(network, nil)
}
