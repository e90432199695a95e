package linuxraw

import (
	"bytes"
	"net/netip"
	"strconv"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/wgstun/wgstun/src/rawudp"
	"github.com/wgstun/wgstun/src/stun/stuntest"
)

const (
	testPort       = 51820
	testServerPort = 3478
)

var (
	testServer4 = netip.MustParseAddr("198.51.100.7")
	testLocal4  = netip.MustParseAddr("192.0.2.10")
	testServer6 = netip.MustParseAddr("2001:db8::7")
	testLocal6  = netip.MustParseAddr("2001:db8:1::10")
	testMapped4 = netip.MustParseAddrPort("203.0.113.5:40001")
	testMapped6 = netip.MustParseAddrPort("[2001:db8:2::5]:40001")
)

type packetCase struct {
	name   string
	packet []byte
	want   bool // filter accepts and parser returns the STUN message
}

// ipv4Cases are datagrams as an AF_INET raw socket sees them.
func ipv4Cases() []packetCase {
	success := stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, testMapped4)
	udp := func(dport uint16, payload []byte) []byte { return udpHeader(testServerPort, dport, payload) }
	v4 := func(body []byte) []byte { return ipv4Packet(nil, 0, protoUDP, testServer4, testLocal4, body) }
	good := v4(udp(testPort, success))

	cases := []packetCase{
		{"binding success", good, true},
		{"binding error", v4(udp(testPort, stunMessage(stuntest.TypeBindingError, stuntest.MagicCookie, testMapped4))), true},
		{"DF set", ipv4Packet(nil, 0x4000, protoUDP, testServer4, testLocal4, udp(testPort, success)), true},
		{"IP options IHL 6", ipv4Packet([]byte{1, 1, 1, 0}, 0, protoUDP, testServer4, testLocal4, udp(testPort, success)), true},
		{"IP options IHL 7", ipv4Packet([]byte{1, 1, 1, 1, 1, 1, 1, 0}, 0, protoUDP, testServer4, testLocal4, udp(testPort, success)), true},
		{"IP options IHL 15", ipv4Packet(make([]byte, 40), 0, protoUDP, testServer4, testLocal4, udp(testPort, success)), true},
		{"header-only STUN", v4(udp(testPort, success[:stunHeaderLen])), true},
		{"wrong port", v4(udp(testPort+1, success)), false},
		{"source port is ours, destination is not", ipv4Packet(nil, 0, protoUDP, testServer4, testLocal4, udpHeader(testPort, testServerPort, success)), false},
		{"wrong cookie", v4(udp(testPort, stunMessage(stuntest.TypeBindingSuccess, 0x2112A443, testMapped4))), false},
		{"binding request (path check)", v4(udp(testPort, stunMessage(stuntest.TypeBindingRequest, stuntest.MagicCookie, testMapped4))), true},
		{"binding indication", v4(udp(testPort, stunMessage(stuntest.TypeBindingIndication, stuntest.MagicCookie, testMapped4))), false},
		{"binding indication", v4(udp(testPort, stunMessage(stuntest.TypeBindingIndication, stuntest.MagicCookie, testMapped4))), false},
		{"WireGuard handshake initiation", v4(udp(testPort, wgHandshakeInitiation())), false},
		{"empty UDP payload", v4(udp(testPort, nil)), false},
		{"19-byte UDP payload", v4(udp(testPort, success[:19])), false},
		{"MF set", ipv4Packet(nil, 0x2000, protoUDP, testServer4, testLocal4, udp(testPort, success)), false},
		{"fragment offset 1", ipv4Packet(nil, 0x0001, protoUDP, testServer4, testLocal4, udp(testPort, success)), false},
		{"fragment offset max", ipv4Packet(nil, 0x1fff, protoUDP, testServer4, testLocal4, udp(testPort, success)), false},
		{"TCP", ipv4Packet(nil, 0, 6, testServer4, testLocal4, udp(testPort, success)), false},
		{"ICMP", ipv4Packet(nil, 0, 1, testServer4, testLocal4, udp(testPort, success)), false},
		{"IPv6 packet", ipv6Packet(protoUDP, testServer6, testLocal6, udp(testPort, success)), false},
		{"empty", nil, false},
	}

	badIHL := bytes.Clone(good)
	badIHL[0] = 0x44
	cases = append(cases, packetCase{"IHL 4", badIHL, false})

	// IHL 15 claims 60 header bytes; cut the packet inside the options.
	longHeader := ipv4Packet(make([]byte, 40), 0, protoUDP, testServer4, testLocal4, udp(testPort, success))
	cases = append(cases, packetCase{"truncated inside IP options", longHeader[:50], false})

	// Truncation at every interesting boundary: inside the IPv4 header,
	// inside the UDP header, before and inside the STUN type and cookie.
	for _, n := range []int{1, 9, 10, 19, 20, 23, 27, 28, 29, 31, 33, 35} {
		cases = append(cases, packetCase{"truncated to " + strconv.Itoa(n), good[:n], false})
	}
	return cases
}

// ipv6Cases are datagrams as an AF_INET6 raw socket sees them: from the UDP
// header on.
func ipv6Cases() []packetCase {
	success := stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, testMapped6)
	udp := func(dport uint16, payload []byte) []byte { return udpHeader(testServerPort, dport, payload) }
	good := udp(testPort, success)

	cases := []packetCase{
		{"binding success", good, true},
		{"binding success IPv4 mapped address", udp(testPort, stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, testMapped4)), true},
		{"binding error", udp(testPort, stunMessage(stuntest.TypeBindingError, stuntest.MagicCookie, testMapped6)), true},
		{"wrong port", udp(testPort-1, success), false},
		{"wrong cookie", udp(testPort, stunMessage(stuntest.TypeBindingSuccess, 0, testMapped6)), false},
		{"binding request (path check)", udp(testPort, stunMessage(stuntest.TypeBindingRequest, stuntest.MagicCookie, testMapped6)), true},
		{"binding indication", udp(testPort, stunMessage(stuntest.TypeBindingIndication, stuntest.MagicCookie, testMapped6)), false},
		{"WireGuard handshake initiation", udp(testPort, wgHandshakeInitiation()), false},
		{"empty UDP payload", udp(testPort, nil), false},
		{"19-byte UDP payload", udp(testPort, success[:19]), false},
		{"empty", nil, false},
	}
	for _, n := range []int{1, 3, 4, 8, 9, 11, 12, 15} {
		cases = append(cases, packetCase{"truncated to " + strconv.Itoa(n), good[:n], false})
	}
	return cases
}

func runFilter(t testing.TB, filter []bpf.Instruction, packet []byte) bool {
	t.Helper()
	vm, err := bpf.NewVM(filter)
	if err != nil {
		t.Fatalf("bpf.NewVM: %v", err)
	}
	n, err := vm.Run(packet)
	if err != nil {
		t.Fatalf("vm.Run: %v", err)
	}
	return n != 0
}

func TestFilterIPv4(t *testing.T) {
	filter := filterIPv4(testPort)
	for _, tc := range ipv4Cases() {
		t.Run(tc.name, func(t *testing.T) {
			if got := runFilter(t, filter, tc.packet); got != tc.want {
				t.Errorf("filter accepts = %v, want %v", got, tc.want)
			}
			payload, src, err := parseIPv4(tc.packet, testPort)
			if got := err == nil; got != tc.want {
				t.Fatalf("parseIPv4 accepts = %v (err %v), want %v", got, err, tc.want)
			}
			if !tc.want {
				return
			}
			if want := netip.AddrPortFrom(testServer4, testServerPort); src != want {
				t.Errorf("source = %v, want %v", src, want)
			}
			if !rawudp.IsSTUNResponse(payload) || len(payload) < stunHeaderLen {
				t.Errorf("payload % x is not the STUN message", payload)
			}
		})
	}
}

func TestFilterIPv6(t *testing.T) {
	filter := filterIPv6(testPort)
	for _, tc := range ipv6Cases() {
		t.Run(tc.name, func(t *testing.T) {
			if got := runFilter(t, filter, tc.packet); got != tc.want {
				t.Errorf("filter accepts = %v, want %v", got, tc.want)
			}
			payload, src, err := parseIPv6(tc.packet, testServer6, testPort)
			if got := err == nil; got != tc.want {
				t.Fatalf("parseIPv6 accepts = %v (err %v), want %v", got, err, tc.want)
			}
			if !tc.want {
				return
			}
			if want := netip.AddrPortFrom(testServer6, testServerPort); src != want {
				t.Errorf("source = %v, want %v", src, want)
			}
			if !bytes.Equal(payload, tc.packet[udpHeaderLen:]) {
				t.Errorf("payload % x, want % x", payload, tc.packet[udpHeaderLen:])
			}
		})
	}
}

// TestFilterPort checks the port is compiled in, including ports whose high
// bit is set.
func TestFilterPort(t *testing.T) {
	for _, port := range []uint16{1, 443, 51820, 65535} {
		t.Run(strconv.Itoa(int(port)), func(t *testing.T) {
			msg := stunMessage(stuntest.TypeBindingSuccess, stuntest.MagicCookie, testMapped4)
			p4 := ipv4Packet(nil, 0, protoUDP, testServer4, testLocal4, udpHeader(testServerPort, port, msg))
			if !runFilter(t, filterIPv4(port), p4) {
				t.Error("IPv4 filter drops a response to its port")
			}
			if runFilter(t, filterIPv4(port^1), p4) {
				t.Error("IPv4 filter accepts a response to another port")
			}
			p6 := udpHeader(testServerPort, port, msg)
			if !runFilter(t, filterIPv6(port), p6) {
				t.Error("IPv6 filter drops a response to its port")
			}
			if runFilter(t, filterIPv6(port^1), p6) {
				t.Error("IPv6 filter accepts a response to another port")
			}
		})
	}
}

func TestFiltersAssemble(t *testing.T) {
	for name, f := range map[string][]bpf.Instruction{"ipv4": filterIPv4(testPort), "ipv6": filterIPv6(testPort)} {
		if _, err := bpf.Assemble(f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
