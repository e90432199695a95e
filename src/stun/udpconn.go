package stun

import (
	"net"
	"net/netip"
)

// NewUDPConn adapts an ordinary UDP socket, one the caller owns (such as
// an ephemeral port from net.ListenUDP), to a Conn, so that a Client can
// run over it as well as over a raw packet path on a port somebody else
// owns. ReadFrom returns the sender's address unmapped (an IPv4 sender on
// a dual-stack socket reads as IPv4, as the Client expects when it matches
// answers to servers); SetReadDeadline and Close are the socket's own, so
// closing the Conn closes the socket.
func NewUDPConn(c *net.UDPConn) Conn { return udpConn{c} }

// udpConn is an ordinary UDP socket as a Conn.
type udpConn struct{ *net.UDPConn }

func (u udpConn) WriteTo(p []byte, dst netip.AddrPort) error {
	_, err := u.WriteToUDPAddrPort(p, dst)
	return err
}

func (u udpConn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	n, src, err := u.ReadFromUDPAddrPort(b)
	return n, netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), err
}
