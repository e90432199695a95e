package stun

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestUDPConn sends a datagram between two sockets adapted by NewUDPConn
// and checks the payload, the sender's address as ReadFrom reports it
// (unmapped on a dual-stack socket) and that Close closes the socket.
func TestUDPConn(t *testing.T) {
	tests := []struct {
		name     string
		recvNet  string // the receiver listens here
		recvAddr string
		sendNet  string
		sendAddr string
		dst      string // the receiver's address as the sender sees it
	}{
		{name: "IPv4", recvNet: "udp4", recvAddr: "127.0.0.1:0", sendNet: "udp4", sendAddr: "127.0.0.1:0", dst: "127.0.0.1"},
		{name: "IPv6", recvNet: "udp6", recvAddr: "[::1]:0", sendNet: "udp6", sendAddr: "[::1]:0", dst: "::1"},
		{name: "IPv4 on a dual-stack socket", recvNet: "udp", recvAddr: "[::]:0", sendNet: "udp4", sendAddr: "127.0.0.1:0", dst: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recv, err := net.ListenUDP(tt.recvNet, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tt.recvAddr)))
			if err != nil {
				t.Skipf("no %s socket here: %v", tt.recvAddr, err)
			}
			rc := NewUDPConn(recv)
			defer rc.Close()
			send, err := net.ListenUDP(tt.sendNet, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tt.sendAddr)))
			if err != nil {
				t.Skipf("no %s socket here: %v", tt.sendAddr, err)
			}
			sc := NewUDPConn(send)
			defer sc.Close()

			dst := netip.AddrPortFrom(netip.MustParseAddr(tt.dst), recv.LocalAddr().(*net.UDPAddr).AddrPort().Port())
			want := send.LocalAddr().(*net.UDPAddr).AddrPort()
			payload := AppendBindingIndication(nil, NewTxID())
			if err := sc.WriteTo(payload, dst); err != nil {
				t.Fatalf("WriteTo %s: %v", dst, err)
			}
			if err := rc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1500)
			n, src, err := rc.ReadFrom(buf)
			if err != nil {
				t.Fatalf("ReadFrom: %v", err)
			}
			if string(buf[:n]) != string(payload) || src != want {
				t.Errorf("read %d bytes from %s; want the %d sent from %s", n, src, len(payload), want)
			}

			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := recv.ReadFromUDPAddrPort(buf); !errors.Is(err, net.ErrClosed) {
				t.Errorf("socket read after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}
