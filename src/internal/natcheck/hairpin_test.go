package natcheck

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/stun/v3"

	"github.com/wgstun/wgstun/src/stun"
)

// listenLoopback opens a UDP socket on 127.0.0.1, closed when the test
// ends.
func listenLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stunServer answers Binding requests on 127.0.0.1 (built with pion/stun,
// the reference implementation) with the mapping mapped gives for the
// sender's address, or not at all when mapped is nil.
func stunServer(t *testing.T, mapped func(from netip.AddrPort) netip.AddrPort) netip.AddrPort {
	t.Helper()
	c := listenLoopback(t)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			req := &pion.Message{Raw: append([]byte(nil), buf[:n]...)}
			if mapped == nil || req.Decode() != nil || req.Type != pion.BindingRequest {
				continue
			}
			m := mapped(from)
			resp := pion.MustBuild(pion.NewTransactionIDSetter(req.TransactionID), pion.BindingSuccess,
				&pion.XORMappedAddress{IP: m.Addr().AsSlice(), Port: int(m.Port())}, pion.Fingerprint)
			c.WriteToUDPAddrPort(resp.Raw, from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestHairpinTest runs HairpinTest on loopback, where a server that
// reports the sender's own address plays a NAT that hairpins. wait is the
// deadline of the test: long where an answer ends it early (the server's
// first answer is slow on an emulated CPU), short where nothing does.
func TestHairpinTest(t *testing.T) {
	elsewhere := listenLoopback(t).LocalAddr().(*net.UDPAddr).AddrPort() // reads nothing
	closed := listenLoopback(t)
	closed.Close()
	tests := []struct {
		name    string
		mapped  func(from netip.AddrPort) netip.AddrPort
		tested  *net.UDPConn
		wait    time.Duration
		want    bool
		wantErr string
	}{
		{name: "hairpinned", mapped: func(from netip.AddrPort) netip.AddrPort { return from }, wait: 10 * time.Second, want: true},
		{name: "not hairpinned", mapped: func(netip.AddrPort) netip.AddrPort { return elsewhere }, wait: 3 * time.Second},
		{name: "no mapping", wait: 500 * time.Millisecond, wantErr: "mapping of a second socket: "},
		{name: "send fails", mapped: func(from netip.AddrPort) netip.AddrPort { return from }, tested: closed, wait: 10 * time.Second,
			wantErr: "send to 127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := stunServer(t, tt.mapped)
			tested := tt.tested
			if tested == nil {
				tested = listenLoopback(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.wait)
			defer cancel()
			got, err := HairpinTest(stun.NewUDPConn(tested), false)(ctx, server)
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one with %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v", err)
			case got != tt.want:
				t.Errorf("hairpinning %v, want %v", got, tt.want)
			}
		})
	}
}
