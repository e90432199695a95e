package linuxraw

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/wgstun/wgstun/src/stun/stuntest"
)

type sent struct {
	datagram []byte
	src, dst netip.Addr
}

// hookConn returns a Conn whose system hooks are closures: routeSource
// answers local, send records into *out.
func hookConn(ipv6 bool, local netip.Addr, out *[]sent) *Conn {
	return &Conn{
		port: testPort,
		ipv6: ipv6,
		routeSource: func(netip.AddrPort) (netip.Addr, error) {
			return local, nil
		},
		send: func(d []byte, src, dst netip.Addr) error {
			*out = append(*out, sent{bytes.Clone(d), src, dst})
			return nil
		},
	}
}

func TestWriteTo(t *testing.T) {
	payload := stunMessage(stuntest.TypeBindingRequest, stuntest.MagicCookie, testMapped4)[:stunHeaderLen]
	tests := []struct {
		name    string
		ipv6    bool
		local   netip.Addr
		dst     netip.AddrPort
		wantDst netip.Addr
	}{
		{"IPv4", false, testLocal4, netip.AddrPortFrom(testServer4, testServerPort), testServer4},
		{"IPv4-mapped destination on IPv4", false, testLocal4, netip.AddrPortFrom(netip.AddrFrom16(testServer4.As16()), testServerPort), testServer4},
		{"IPv6", true, testLocal6, netip.AddrPortFrom(testServer6, testServerPort), testServer6},
		{"IPv6 link-local keeps zone", true, netip.MustParseAddr("fe80::10%eth0"), netip.MustParseAddrPort("[fe80::7%eth0]:3478"), netip.MustParseAddr("fe80::7%eth0")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out []sent
			c := hookConn(tc.ipv6, tc.local, &out)
			if err := c.WriteTo(payload, tc.dst); err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 {
				t.Fatalf("%d datagrams sent, want 1", len(out))
			}
			s := out[0]
			if s.src != tc.local || s.dst != tc.wantDst {
				t.Errorf("sent %v -> %v, want %v -> %v", s.src, s.dst, tc.local, tc.wantDst)
			}
			d := s.datagram
			if got := binary.BigEndian.Uint16(d[0:2]); got != testPort {
				t.Errorf("source port %d, want %d", got, testPort)
			}
			if got := binary.BigEndian.Uint16(d[2:4]); got != tc.dst.Port() {
				t.Errorf("destination port %d, want %d", got, tc.dst.Port())
			}
			if got := int(binary.BigEndian.Uint16(d[4:6])); got != len(d) || !bytes.Equal(d[8:], payload) {
				t.Errorf("UDP length %d for %d bytes, payload % x", got, len(d), d[8:])
			}
			cs := binary.BigEndian.Uint16(d[6:8])
			d[6], d[7] = 0, 0
			if want := referenceChecksum(s.src, s.dst, d); cs != want {
				t.Errorf("checksum %#04x, want %#04x", cs, want)
			}
		})
	}
}

func TestWriteToErrors(t *testing.T) {
	errRoute := errors.New("network is unreachable")
	errSend := errors.New("no buffer space")
	tests := []struct {
		name    string
		ipv6    bool
		dst     netip.AddrPort
		size    int
		route   error
		sendErr error
		want    error
	}{
		{"IPv6 destination on IPv4", false, netip.AddrPortFrom(testServer6, 3478), 20, nil, nil, errFamily},
		{"IPv4 destination on IPv6", true, netip.AddrPortFrom(testServer4, 3478), 20, nil, nil, errFamily},
		{"IPv4-mapped destination on IPv6", true, netip.AddrPortFrom(netip.AddrFrom16(testServer4.As16()), 3478), 20, nil, nil, errFamily},
		{"zero address", false, netip.AddrPort{}, 20, nil, nil, errBadDestination},
		{"unspecified address", false, netip.MustParseAddrPort("0.0.0.0:3478"), 20, nil, nil, errBadDestination},
		{"port 0", true, netip.AddrPortFrom(testServer6, 0), 20, nil, nil, errBadDestination},
		{"IPv4 payload too large", false, netip.AddrPortFrom(testServer4, 3478), 65508, nil, nil, errPayloadTooLarge},
		{"IPv4 largest payload", false, netip.AddrPortFrom(testServer4, 3478), 65507, nil, nil, nil},
		{"IPv6 payload too large", true, netip.AddrPortFrom(testServer6, 3478), 65528, nil, nil, errPayloadTooLarge},
		{"IPv6 largest payload", true, netip.AddrPortFrom(testServer6, 3478), 65527, nil, nil, nil},
		{"route lookup fails", false, netip.AddrPortFrom(testServer4, 3478), 20, errRoute, nil, errRoute},
		{"send fails", true, netip.AddrPortFrom(testServer6, 3478), 20, nil, errSend, errSend},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			local := testLocal4
			if tc.ipv6 {
				local = testLocal6
			}
			sends := 0
			c := &Conn{
				port: testPort,
				ipv6: tc.ipv6,
				routeSource: func(netip.AddrPort) (netip.Addr, error) {
					return local, tc.route
				},
				send: func([]byte, netip.Addr, netip.Addr) error {
					sends++
					return tc.sendErr
				},
			}
			err := c.WriteTo(make([]byte, tc.size), tc.dst)
			if !errors.Is(err, tc.want) {
				t.Fatalf("WriteTo error = %v, want %v", err, tc.want)
			}
			if tc.want == nil && sends != 1 {
				t.Errorf("%d sends, want 1", sends)
			}
			if (tc.want == errFamily || tc.want == errBadDestination || tc.want == errPayloadTooLarge) && sends != 0 {
				t.Errorf("rejected datagram was sent")
			}
		})
	}
}

type received struct {
	b    []byte
	from netip.Addr
	err  error
}

// queueConn returns a Conn whose recv hook hands out q in order.
func queueConn(ipv6 bool, q []received) *Conn {
	return &Conn{
		port: testPort,
		ipv6: ipv6,
		recv: func(b []byte) (int, netip.Addr, error) {
			if len(q) == 0 {
				return 0, netip.Addr{}, os.ErrDeadlineExceeded
			}
			r := q[0]
			q = q[1:]
			return copy(b, r.b), r.from, r.err
		},
	}
}

func TestReadFromSkipsRejected(t *testing.T) {
	msg := stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, testMapped4)
	v4 := func(dport uint16, payload []byte) []byte {
		return ipv4Packet(nil, 0, protoUDP, testServer4, testLocal4, udpHeader(testServerPort, dport, payload))
	}
	oversized := v4(testPort, append(bytes.Clone(msg), make([]byte, recvBufferSize)...))
	c := queueConn(false, []received{
		{b: v4(testPort, wgHandshakeInitiation())},
		{b: v4(testPort+1, msg)},
		{b: v4(testPort, msg)[:30]},
		{b: oversized}, // arrives cut to recvBufferSize
		{b: v4(testPort, msg)},
	})
	buf := make([]byte, 1500)
	n, src, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:n], msg) {
		t.Errorf("ReadFrom = % x, want % x", buf[:n], msg)
	}
	if want := netip.AddrPortFrom(testServer4, testServerPort); src != want {
		t.Errorf("source %v, want %v", src, want)
	}
	if _, _, err := c.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadFrom on empty queue: %v, want deadline exceeded", err)
	}
}

func TestReadFromIPv6(t *testing.T) {
	msg := stunMessage(stuntest.TypeBindingError, stuntest.MagicCookie, testMapped6)
	c := queueConn(true, []received{
		{b: udpHeader(testServerPort, testPort, msg), from: testServer6},
	})
	buf := make([]byte, 10) // shorter than the message: truncated like UDP
	n, src, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(buf) || !bytes.Equal(buf, msg[:len(buf)]) {
		t.Errorf("ReadFrom = %d bytes % x, want the first %d bytes of the message", n, buf[:n], len(buf))
	}
	if want := netip.AddrPortFrom(testServer6, testServerPort); src != want {
		t.Errorf("source %v, want %v", src, want)
	}
}

func TestReadFromError(t *testing.T) {
	c := queueConn(false, []received{{err: net.ErrClosed}})
	if _, _, err := c.ReadFrom(make([]byte, 100)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrom error %v, want net.ErrClosed", err)
	}
}

func TestListenPortZero(t *testing.T) {
	if _, err := Listen(0, false, 0); !errors.Is(err, errZeroPort) {
		t.Errorf("Listen(0) error %v, want %v", err, errZeroPort)
	}
}
