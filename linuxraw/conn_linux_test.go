//go:build linux

package linuxraw

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/wgstun/wgstun/src/rawudp"
	"github.com/wgstun/wgstun/src/stun/stuntest"
)

const (
	nsPort      = 51820 // plays WireGuard's listen port
	nsOtherPort = 51821
	nsSTUNPort  = 3478
	waitLong    = 2 * time.Second        // something is expected to arrive
	waitShort   = 200 * time.Millisecond // nothing is expected to arrive
)

type family struct {
	name    string
	ipv6    bool
	network string
	lo      netip.Addr
	any     netip.Addr
}

var families = []family{
	{"ipv4", false, "udp4", netip.MustParseAddr("127.0.0.1"), netip.IPv4Unspecified()},
	{"ipv6", true, "udp6", netip.IPv6Loopback(), netip.IPv6Unspecified()},
}

// nsSockets is the cast of the loopback tests, all created inside a fresh
// namespace: wg plays WireGuard on nsPort, srv a STUN server, other a
// service on nsOtherPort, c the Conn under test.
type nsSockets struct {
	ns              *testNetns
	wg, srv, other  *net.UDPConn
	c               *Conn
	srvAddr, wgAddr netip.AddrPort
}

func newNSSockets(t *testing.T, f family, mark uint32) *nsSockets {
	t.Helper()
	s := &nsSockets{ns: newNetns(t)}
	s.ns.run(func() error {
		var err error
		listen := func(ap netip.AddrPort) *net.UDPConn {
			if err != nil {
				return nil
			}
			var uc *net.UDPConn
			uc, err = net.ListenUDP(f.network, net.UDPAddrFromAddrPort(ap))
			return uc
		}
		s.wg = listen(netip.AddrPortFrom(f.any, nsPort))
		s.srv = listen(netip.AddrPortFrom(f.lo, nsSTUNPort))
		s.other = listen(netip.AddrPortFrom(f.lo, nsOtherPort))
		if err != nil {
			return err
		}
		s.c, err = Listen(nsPort, f.ipv6, mark)
		return err
	})
	t.Cleanup(func() {
		for _, uc := range []*net.UDPConn{s.wg, s.srv, s.other} {
			uc.Close()
		}
		s.c.Close()
	})
	s.srvAddr = netip.AddrPortFrom(f.lo, nsSTUNPort)
	s.wgAddr = netip.AddrPortFrom(f.lo, nsPort)
	return s
}

// readUDP reads one datagram from uc within d.
func readUDP(t *testing.T, uc *net.UDPConn, d time.Duration) ([]byte, netip.AddrPort, error) {
	t.Helper()
	if err := uc.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2048)
	n, from, err := uc.ReadFromUDPAddrPort(b)
	return b[:n], from, err
}

// readConn reads one message from c within d.
func readConn(t *testing.T, c *Conn, d time.Duration) ([]byte, netip.AddrPort, error) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2048)
	n, from, err := c.ReadFrom(b)
	return b[:n], from, err
}

func sendUDP(t *testing.T, uc *net.UDPConn, b []byte, to netip.AddrPort) {
	t.Helper()
	if _, err := uc.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatalf("send to %v: %v", to, err)
	}
}

// filter returns the filter listen attached for family f.
func (s *nsSockets) filter(f family) []bpf.Instruction {
	if f.ipv6 {
		return filterIPv6(nsPort)
	}
	return filterIPv4(nsPort)
}

// recvRaw reads one datagram as the raw socket delivers it, bypassing the
// parser, within waitLong. Checksum, IPv4 ID, TTL and header checksum are
// zeroed so the bytes can be compared with crafted packets.
func recvRaw(t *testing.T, c *Conn) []byte {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, recvBufferSize)
	n, _, err := c.recv(b)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	b = b[:n]
	udp := b
	if !c.ipv6 && len(b) >= ipv4MinHeaderLen {
		b[4], b[5], b[8], b[10], b[11] = 0x12, 0x34, 64, 0, 0
		udp = b[min(len(b), int(b[0]&0x0f)*4):]
	}
	if len(udp) >= udpHeaderLen {
		udp[6], udp[7] = 0, 0
	}
	return b
}

// udpPayload returns the UDP payload of a raw datagram from recvRaw.
func udpPayload(t *testing.T, f family, raw []byte) []byte {
	t.Helper()
	udp := raw
	if !f.ipv6 {
		if len(raw) < ipv4MinHeaderLen || len(raw) < int(raw[0]&0x0f)*4 {
			t.Fatalf("short IPv4 packet % x", raw)
		}
		udp = raw[int(raw[0]&0x0f)*4:]
	}
	if len(udp) < udpHeaderLen || int(binary.BigEndian.Uint16(udp[4:6])) > len(udp) {
		t.Fatalf("bad UDP datagram % x", udp)
	}
	return udp[udpHeaderLen:binary.BigEndian.Uint16(udp[4:6])]
}

// mapped returns a distinct XOR-MAPPED-ADDRESS so messages can be told apart.
func mapped(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), uint16(40000+i))
}

// TestConnLoopback is the round trip wgstun makes: a request from
// WireGuard's port to a STUN server and the response back, with WireGuard
// still bound to the port and receiving everything sent to it.
func TestConnLoopback(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			s := newNSSockets(t, f, 0)

			// (a) The request leaves from WireGuard's port, and the kernel
			// accepted its checksum, or srv would not see it.
			req := stunMessage(stuntest.TypeBindingRequest, stuntest.MagicCookie, mapped(0))[:stunHeaderLen]
			binary.BigEndian.PutUint16(req[2:4], 0)
			if err := s.c.WriteTo(req, s.srvAddr); err != nil {
				t.Fatal(err)
			}
			got, from, err := readUDP(t, s.srv, waitLong)
			if err != nil {
				t.Fatalf("server did not receive the request: %v", err)
			}
			if from != s.wgAddr {
				t.Errorf("server saw the request from %v, want %v", from, s.wgAddr)
			}
			if !bytes.Equal(got, req) {
				t.Errorf("server got % x, want % x", got, req)
			}

			// (d) Noise first: nothing of it may come out of ReadFrom.
			noise := []struct {
				to netip.AddrPort
				b  []byte
			}{
				{s.wgAddr, wgHandshakeInitiation()},
				{s.wgAddr, stunMessage(stuntest.TypeBindingIndication, stuntest.MagicCookie, mapped(1))}, // an indication (a punch)
				{s.wgAddr, stunMessage(stuntest.TypeBindingSuccess, 0x2112A443, mapped(2))},
				{netip.AddrPortFrom(f.lo, nsOtherPort), stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, mapped(3))},
			}
			for _, n := range noise {
				sendUDP(t, s.srv, n.b, n.to)
			}
			resp := stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, from)
			sendUDP(t, s.srv, resp, s.wgAddr)

			// (b) ReadFrom returns exactly the response, from the server.
			got, src, err := readConn(t, s.c, waitLong)
			if err != nil {
				t.Fatalf("ReadFrom: %v", err)
			}
			if !bytes.Equal(got, resp) {
				t.Errorf("ReadFrom = % x, want the response % x", got, resp)
			}
			if src != s.srvAddr {
				t.Errorf("ReadFrom source %v, want %v", src, s.srvAddr)
			}
			// (f) and nothing else: the read times out.
			if got, _, err := readConn(t, s.c, waitShort); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("second ReadFrom = % x, %v; want os.ErrDeadlineExceeded", got, err)
			}

			// (c) WireGuard's socket received everything sent to its port,
			// the STUN response included, in order.
			want := [][]byte{noise[0].b, noise[1].b, noise[2].b, resp}
			for i, w := range want {
				got, from, err := readUDP(t, s.wg, waitLong)
				if err != nil {
					t.Fatalf("WireGuard socket, datagram %d: %v", i, err)
				}
				if !bytes.Equal(got, w) || from != s.srvAddr {
					t.Errorf("WireGuard socket datagram %d = % x from %v, want % x from %v", i, got, from, w, s.srvAddr)
				}
			}
			if got, _, err := readUDP(t, s.other, waitLong); err != nil || !bytes.Equal(got, noise[3].b) {
				t.Errorf("other port got % x, %v", got, err)
			}
		})
	}
}

// TestFilterKernelMatchesVM sends each datagram through the kernel and
// compares whether the attached filter let it through with the BPF VM's
// verdict on the same bytes as the raw socket sees them.
func TestFilterKernelMatchesVM(t *testing.T) {
	type kcase struct {
		name    string
		port    uint16
		payload []byte
		options bool // IPv4 only: sender sets 4 bytes of IP options
	}
	cases := []kcase{
		{"binding success", nsPort, stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, mapped(10)), false},
		{"binding error", nsPort, stunMessage(stuntest.TypeBindingError, stuntest.MagicCookie, mapped(11)), false},
		{"binding request", nsPort, stunMessage(stuntest.TypeBindingRequest, stuntest.MagicCookie, mapped(12)), false},
		{"binding indication", nsPort, stunMessage(stuntest.TypeBindingIndication, stuntest.MagicCookie, mapped(18)), false},
		{"wrong cookie", nsPort, stunMessage(stuntest.TypeBindingSuccess, 0x12345678, mapped(13)), false},
		{"WireGuard handshake", nsPort, wgHandshakeInitiation(), false},
		{"other port", nsOtherPort, stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, mapped(14)), false},
		{"short payload", nsPort, stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, mapped(15))[:10], false},
		{"empty payload", nsPort, nil, false},
		{"IP options binding success", nsPort, stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, mapped(16)), true},
		{"IP options binding request", nsPort, stunMessage(stuntest.TypeBindingRequest, stuntest.MagicCookie, mapped(17)), true},
	}
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			s := newNSSockets(t, f, 0)
			var optSender *net.UDPConn
			if !f.ipv6 {
				s.ns.run(func() error {
					var err error
					optSender, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(f.lo, 0)))
					if err != nil {
						return err
					}
					rc, err := optSender.SyscallConn()
					if err != nil {
						return err
					}
					var serr error
					err = rc.Control(func(fd uintptr) {
						// Three NOPs and an end-of-list: IHL becomes 6.
						serr = unix.SetsockoptString(int(fd), unix.IPPROTO_IP, unix.IP_OPTIONS, "\x01\x01\x01\x00")
					})
					if err == nil {
						err = serr
					}
					return err
				})
				t.Cleanup(func() { optSender.Close() })
			}
			marker := stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, mapped(99))
			for _, tc := range cases {
				if tc.options && f.ipv6 {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					sender, srcPort := s.srv, uint16(nsSTUNPort)
					var opts []byte
					if tc.options {
						sender = optSender
						srcPort = optSender.LocalAddr().(*net.UDPAddr).AddrPort().Port()
						opts = []byte{1, 1, 1, 0}
					}
					// The packet as the raw socket will see it, checksum
					// and IPv4 ID, TTL and header checksum aside.
					vmInput := udpHeader(srcPort, tc.port, tc.payload)
					if !f.ipv6 {
						vmInput = ipv4Packet(opts, 0x4000, protoUDP, f.lo, f.lo, vmInput)
					}
					vmAccepts := runFilter(t, s.filter(f), vmInput)

					sendUDP(t, sender, tc.payload, netip.AddrPortFrom(f.lo, tc.port))
					sendUDP(t, s.srv, marker, s.wgAddr)
					// Read below ReadFrom's parser: the raw socket's queue
					// holds exactly what the attached filter accepted.
					raw := recvRaw(t, s.c)
					kernelAccepts := !bytes.Equal(udpPayload(t, f, raw), marker)
					if kernelAccepts {
						if !bytes.Equal(raw, vmInput) {
							t.Fatalf("raw socket got % x, want the case packet % x or the marker", raw, vmInput)
						}
						if got := udpPayload(t, f, recvRaw(t, s.c)); !bytes.Equal(got, marker) {
							t.Fatalf("after the accepted case: % x, want the marker", got)
						}
						// And ReadFrom's parser agrees with the filter.
						if _, _, err := parseIPv4(raw, nsPort); !f.ipv6 && err != nil {
							t.Errorf("parseIPv4 rejects what the filter accepted: %v", err)
						}
						if _, _, err := parseIPv6(raw, f.lo, nsPort); f.ipv6 && err != nil {
							t.Errorf("parseIPv6 rejects what the filter accepted: %v", err)
						}
					}
					if kernelAccepts != vmAccepts {
						t.Errorf("kernel accepts = %v, VM accepts = %v", kernelAccepts, vmAccepts)
					}
				})
			}
		})
	}
}

// TestChecksumKernel lets the kernel judge our checksums: a UDP socket only
// receives a datagram whose checksum the kernel verified. A corrupted
// checksum sent just before a correct one must be dropped, which proves
// loopback really verifies.
func TestChecksumKernel(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			s := newNSSockets(t, f, 0)
			for i, size := range []int{0, 1, 20, 333, 1400} {
				good := bytes.Repeat([]byte{byte(i + 1), 0xa5}, size)[:size]
				bad := append([]byte{0xba, 0xd0}, good...)
				src, err := s.c.routeSource(s.srvAddr)
				if err != nil {
					t.Fatal(err)
				}
				if src != f.lo {
					t.Errorf("route source %v, want %v", src, f.lo)
				}
				d := rawudp.BuildUDP(src, f.lo, nsPort, nsSTUNPort, bad)
				d[6] ^= 0x01
				if err := s.c.send(d, src, f.lo); err != nil {
					t.Fatal(err)
				}
				if err := s.c.WriteTo(good, s.srvAddr); err != nil {
					t.Fatal(err)
				}
				got, _, err := readUDP(t, s.srv, waitLong)
				if err != nil {
					t.Fatalf("size %d: %v", size, err)
				}
				if !bytes.Equal(got, good) {
					t.Fatalf("size %d: server got % x; the corrupted datagram was not dropped", size, got[:min(len(got), 16)])
				}
			}
		})
	}
}

// TestChecksumMatchesKernel compares our checksum with one the kernel
// computed itself in software: with lo's MTU lowered, an ordinary UDP
// datagram larger than the MTU is fragmented, which forces a full software
// checksum; the raw socket sees it reassembled.
func TestChecksumMatchesKernel(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			s := newNSSockets(t, f, 0)
			s.ns.ip("-n", s.ns.name, "link", "set", "lo", "mtu", "1280")
			payload := append(stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, mapped(5)), bytes.Repeat([]byte{0x5a}, 1500)...)
			sendUDP(t, s.srv, payload, s.wgAddr)
			if err := s.c.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, recvBufferSize)
			n, from, err := s.c.recv(b)
			if err != nil {
				t.Fatal(err)
			}
			b = b[:n]
			udp := b
			if !f.ipv6 {
				if _, _, err := parseIPv4(b, nsPort); err != nil {
					t.Fatalf("parseIPv4: %v", err)
				}
				udp = b[int(b[0]&0x0f)*4:]
				from = netip.AddrFrom4([4]byte(b[12:16]))
			}
			if len(udp) != udpHeaderLen+len(payload) {
				t.Fatalf("got %d UDP bytes, want %d", len(udp), udpHeaderLen+len(payload))
			}
			kernel := binary.BigEndian.Uint16(udp[6:8])
			udp[6], udp[7] = 0, 0
			if ours := rawudp.UDPChecksum(from, f.lo, udp); ours != kernel {
				t.Errorf("udpChecksum = %#04x, kernel wrote %#04x", ours, kernel)
			}
		})
	}
}

// TestConnClose checks that Close wakes a blocked ReadFrom and that the
// Conn reports net.ErrClosed afterwards.
func TestConnClose(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			s := newNSSockets(t, f, 0)
			errc := make(chan error, 1)
			go func() {
				_, _, err := s.c.ReadFrom(make([]byte, 100))
				errc <- err
			}()
			time.Sleep(50 * time.Millisecond) // let ReadFrom block; the result does not depend on it
			if err := s.c.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("blocked ReadFrom returned %v, want net.ErrClosed", err)
				}
			case <-time.After(waitLong):
				t.Fatal("Close did not unblock ReadFrom")
			}
			if _, _, err := s.c.ReadFrom(make([]byte, 100)); !errors.Is(err, net.ErrClosed) {
				t.Errorf("ReadFrom after Close: %v, want net.ErrClosed", err)
			}
			if err := s.c.WriteTo([]byte("x"), s.srvAddr); !errors.Is(err, net.ErrClosed) {
				t.Errorf("WriteTo after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestConnMark checks SO_MARK on the raw socket and that the route lookup
// for the checksum honours the mark: a policy rule sends marked lookups to a
// table whose route has a different preferred source.
func TestConnMark(t *testing.T) {
	const mark = 0xca6c
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			s := newNSSockets(t, f, mark)
			var gotMark int
			var gerr error
			if err := s.c.control(func(fd uintptr) {
				gotMark, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK)
			}); err != nil {
				t.Fatal(err)
			}
			if gerr != nil || gotMark != mark {
				t.Errorf("SO_MARK = %#x, %v; want %#x", gotMark, gerr, mark)
			}

			var unmarked *Conn
			s.ns.run(func() error {
				var err error
				unmarked, err = Listen(nsPort, f.ipv6, 0)
				return err
			})
			defer unmarked.Close()

			n := s.ns.name
			var plain, marked, dst netip.Addr
			if f.ipv6 {
				plain, marked, dst = netip.MustParseAddr("2001:db8:a::1"), netip.MustParseAddr("2001:db8:a::2"), netip.MustParseAddr("2001:db8:ff::7")
				s.ns.ip("-n", n, "addr", "add", plain.String()+"/128", "dev", "lo", "nodad")
				s.ns.ip("-n", n, "addr", "add", marked.String()+"/128", "dev", "lo", "nodad")
				s.ns.ip("-n", n, "route", "add", "2001:db8:ff::/64", "dev", "lo", "src", plain.String())
				s.ns.ip("-n", n, "route", "add", "2001:db8:ff::/64", "dev", "lo", "src", marked.String(), "table", "100")
				s.ns.ip("-n", n, "-6", "rule", "add", "fwmark", strconv.Itoa(mark), "table", "100")
			} else {
				plain, marked, dst = netip.MustParseAddr("10.200.0.1"), netip.MustParseAddr("10.200.0.2"), netip.MustParseAddr("198.51.100.7")
				s.ns.ip("-n", n, "addr", "add", plain.String()+"/32", "dev", "lo")
				s.ns.ip("-n", n, "addr", "add", marked.String()+"/32", "dev", "lo")
				s.ns.ip("-n", n, "route", "add", "198.51.100.0/24", "dev", "lo", "src", plain.String())
				s.ns.ip("-n", n, "route", "add", "198.51.100.0/24", "dev", "lo", "src", marked.String(), "table", "100")
				s.ns.ip("-n", n, "rule", "add", "fwmark", strconv.Itoa(mark), "table", "100")
			}
			for _, tc := range []struct {
				name string
				c    *Conn
				want netip.Addr
			}{{"marked", s.c, marked}, {"unmarked", unmarked, plain}} {
				got, err := tc.c.routeSource(netip.AddrPortFrom(dst, nsSTUNPort))
				if err != nil || got != tc.want {
					t.Errorf("%s route source = %v, %v; want %v", tc.name, got, err, tc.want)
				}
			}
		})
	}
}
