package bsdbpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/wgstun/wgstun/src/rawudp"
	"github.com/wgstun/wgstun/src/stun/stuntest"
)

type frameCase struct {
	name  string
	frame []byte
	src   netip.AddrPort // the sender when accepted; zero: dropped
}

var (
	from4 = netip.AddrPortFrom(tServer4, tServerPort)
	from6 = netip.AddrPortFrom(tServer6, tServerPort)
)

// ipCases are IP packets (no link header) with the verdict every link type
// must reach once they are framed.
func ipCases() []frameCase {
	udp := func(dport uint16, payload []byte) []byte { return udpDgram(tServerPort, dport, payload) }
	v4 := func(body []byte) []byte { return ipv4Dgram(nil, 0, protoUDP, tServer4, tLocal4, body) }
	v6 := func(body []byte) []byte { return ipv6Dgram(protoUDP, tServer6, tLocal6, body) }
	stun := goodSTUN()
	cases := []frameCase{
		{"v4 binding success", good4(), from4},
		{"v4 binding error", v4(udp(tPort, stunMsg(stuntest.TypeBindingError, stuntest.MagicCookie))), from4},
		{"v4 DF set", ipv4Dgram(nil, 0x4000, protoUDP, tServer4, tLocal4, udp(tPort, stun)), from4},
		{"v4 options IHL 6", ipv4Dgram([]byte{1, 1, 1, 0}, 0, protoUDP, tServer4, tLocal4, udp(tPort, stun)), from4},
		{"v4 options IHL 15", ipv4Dgram(make([]byte, 40), 0, protoUDP, tServer4, tLocal4, udp(tPort, stun)), from4},
		{"v4 header-only STUN", v4(udp(tPort, stun[:stunHeaderLen])), from4},
		{"v4 wrong port", v4(udp(tPort+1, stun)), netip.AddrPort{}},
		{"v4 our port is the source", ipv4Dgram(nil, 0, protoUDP, tServer4, tLocal4, udpDgram(tPort, tServerPort, stun)), netip.AddrPort{}},
		{"v4 wrong cookie", v4(udp(tPort, stunMsg(stuntest.TypeBindingSuccess, 0x2112A443))), netip.AddrPort{}},
		{"v4 binding request (path check)", v4(udp(tPort, stunMsg(stuntest.TypeBindingRequest, stuntest.MagicCookie))), from4},
		{"v4 binding indication", v4(udp(tPort, stunMsg(stuntest.TypeBindingIndication, stuntest.MagicCookie))), netip.AddrPort{}},
		{"v4 WireGuard initiation", v4(udp(tPort, wgInitiation())), netip.AddrPort{}},
		{"v4 empty UDP payload", v4(udp(tPort, nil)), netip.AddrPort{}},
		{"v4 19-byte payload", v4(udp(tPort, stun[:19])), netip.AddrPort{}},
		{"v4 MF set", ipv4Dgram(nil, 0x2000, protoUDP, tServer4, tLocal4, udp(tPort, stun)), netip.AddrPort{}},
		{"v4 fragment offset 1", ipv4Dgram(nil, 0x0001, protoUDP, tServer4, tLocal4, udp(tPort, stun)), netip.AddrPort{}},
		{"v4 TCP", ipv4Dgram(nil, 0, 6, tServer4, tLocal4, udp(tPort, stun)), netip.AddrPort{}},

		{"v6 binding success", good6(), from6},
		{"v6 binding error", v6(udp(tPort, stunMsg(stuntest.TypeBindingError, stuntest.MagicCookie))), from6},
		{"v6 wrong port", v6(udp(tPort-1, stun)), netip.AddrPort{}},
		{"v6 wrong cookie", v6(udp(tPort, stunMsg(stuntest.TypeBindingSuccess, 0))), netip.AddrPort{}},
		{"v6 binding request (path check)", v6(udp(tPort, stunMsg(stuntest.TypeBindingRequest, stuntest.MagicCookie))), from6},
		{"v6 binding indication", v6(udp(tPort, stunMsg(stuntest.TypeBindingIndication, stuntest.MagicCookie))), netip.AddrPort{}},
		{"v6 19-byte payload", v6(udp(tPort, stun[:19])), netip.AddrPort{}},
		{"v6 fragment header", ipv6Dgram(44, tServer6, tLocal6, append([]byte{protoUDP, 0, 0, 0, 0, 0, 0, 1}, udp(tPort, stun)...)), netip.AddrPort{}},
		{"v6 hop-by-hop header", ipv6Dgram(0, tServer6, tLocal6, append([]byte{protoUDP, 0, 1, 4, 0, 0, 0, 0}, udp(tPort, stun)...)), netip.AddrPort{}},
		{"v6 TCP", ipv6Dgram(6, tServer6, tLocal6, udp(tPort, stun)), netip.AddrPort{}},
	}
	badIHL := good4()
	badIHL[0] = 0x44
	cases = append(cases, frameCase{"v4 IHL 4", badIHL, netip.AddrPort{}})
	// Truncated inside every header the filter reads.
	for _, n := range []int{1, 9, 19, 20, 23, 27, 28, 31, 35} {
		cases = append(cases, frameCase{"v4 truncated to " + strconv.Itoa(n), good4()[:n], netip.AddrPort{}})
	}
	for _, n := range []int{1, 6, 39, 43, 47, 51, 55} {
		cases = append(cases, frameCase{"v6 truncated to " + strconv.Itoa(n), good6()[:n], netip.AddrPort{}})
	}
	longHeader := ipv4Dgram(make([]byte, 40), 0, protoUDP, tServer4, tLocal4, udp(tPort, stun))
	cases = append(cases, frameCase{"v4 truncated inside options", longHeader[:50], netip.AddrPort{}})
	return cases
}

// linkCases are the framed ipCases for dlt on os plus the cases that test
// the link header itself.
func linkCases(dlt uint32, os OS) []frameCase {
	var cases []frameCase
	for _, c := range ipCases() {
		cases = append(cases, frameCase{c.name, frameFor(dlt, os, c.frame), c.src})
	}
	af6, _ := os.afInet6()
	otherAF6 := uint32(afInet6Darwin)
	if os == Darwin {
		otherAF6 = afInet6FreeBSD
	}
	none := netip.AddrPort{}
	switch dlt {
	case dltEN10MB:
		cases = append(cases,
			frameCase{"VLAN IPv4", ether(etherTypeIPv4, []uint16{etherTypeVLAN}, good4()), from4},
			frameCase{"VLAN IPv6", ether(etherTypeIPv6, []uint16{etherTypeVLAN}, good6()), from6},
			frameCase{"VLAN IPv4 with options", ether(etherTypeIPv4, []uint16{etherTypeVLAN}, ipv4Dgram([]byte{1, 1, 1, 0}, 0, protoUDP, tServer4, tLocal4, udpDgram(tServerPort, tPort, goodSTUN()))), from4},
			frameCase{"VLAN IPv4 wrong port", ether(etherTypeIPv4, []uint16{etherTypeVLAN}, ipv4Dgram(nil, 0, protoUDP, tServer4, tLocal4, udpDgram(tServerPort, tPort+1, goodSTUN()))), none},
			frameCase{"VLAN IPv4 fragment", ether(etherTypeIPv4, []uint16{etherTypeVLAN}, ipv4Dgram(nil, 0x2000, protoUDP, tServer4, tLocal4, udpDgram(tServerPort, tPort, goodSTUN()))), none},
			frameCase{"double VLAN tag", ether(etherTypeIPv4, []uint16{etherTypeVLAN, etherTypeVLAN}, good4()), none},
			frameCase{"802.1ad outer tag", ether(etherTypeIPv4, []uint16{0x88a8, etherTypeVLAN}, good4()), none},
			frameCase{"VLAN ARP", ether(0x0806, []uint16{etherTypeVLAN}, good4()), none},
			frameCase{"ARP EtherType", ether(0x0806, nil, good4()), none},
			frameCase{"IPv4 EtherType, IPv6 packet", ether(etherTypeIPv4, nil, good6()), none},
			frameCase{"IPv6 EtherType, IPv4 packet", ether(etherTypeIPv6, nil, good4()), none},
			frameCase{"padded to 60 bytes", append(ether(etherTypeIPv4, nil, ipv4Dgram(nil, 0, protoUDP, tServer4, tLocal4, udpDgram(tServerPort, tPort, goodSTUN()[:20]))), make([]byte, 6)...), from4},
			frameCase{"truncated Ethernet header", ether(etherTypeIPv4, nil, nil)[:13], none},
			frameCase{"truncated VLAN tag", ether(etherTypeIPv4, []uint16{etherTypeVLAN}, nil)[:17], none},
		)
	case dltNull, dltLoop:
		order, wrong := binary.AppendByteOrder(binary.LittleEndian), binary.AppendByteOrder(binary.BigEndian)
		if dlt == dltLoop {
			order, wrong = wrong, order
		}
		cases = append(cases,
			frameCase{"AF_INET in the other byte order", family(wrong, afInet, good4()), none},
			frameCase{"AF_INET6 in the other byte order", family(wrong, af6, good6()), none},
			frameCase{"the other system's AF_INET6", family(order, otherAF6, good6()), none},
			frameCase{"NetBSD AF_INET6 24", family(order, 24, good6()), none},
			frameCase{"AF_INET, IPv6 packet", family(order, afInet, good6()), none},
			frameCase{"AF_INET6, IPv4 packet", family(order, af6, good4()), none},
			frameCase{"truncated family", family(order, afInet, nil)[:3], none},
		)
	case dltRaw:
		bad := good4()
		bad[0] = 0x55
		cases = append(cases, frameCase{"version 5", bad, none}, frameCase{"empty", nil, none})
	}
	return cases
}

var allDLTs = []uint32{dltEN10MB, dltNull, dltLoop, dltRaw}

// vmRun returns the number of bytes the filter keeps. The kernel reads a
// BPF return value as an unsigned 32-bit snapshot length; x/net/bpf returns
// it as an int, which on a 32-bit CPU turns "keep everything" (0xffffffff)
// into -1, so the value is taken back to uint32 here.
func vmRun(t testing.TB, prog []bpf.Instruction, frame []byte) uint32 {
	t.Helper()
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("bpf.NewVM: %v", err)
	}
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatalf("vm.Run: %v", err)
	}
	return uint32(n)
}

// TestFilterAndDecode runs every filter in x/net/bpf's VM, assembled and
// disassembled again as the kernel gets it, and checks that decode reaches
// the same verdict and finds the sender and the STUN message.
func TestFilterAndDecode(t *testing.T) {
	for _, os := range []OS{FreeBSD, Darwin} {
		for _, dlt := range allDLTs {
			raw, err := Filter(dlt, tPort, os)
			if err != nil {
				t.Fatalf("Filter(%d, %v): %v", dlt, os, err)
			}
			prog, ok := bpf.Disassemble(raw)
			if !ok {
				t.Fatalf("Filter(%d, %v) does not disassemble", dlt, os)
			}
			for _, tc := range linkCases(dlt, os) {
				t.Run(fmt.Sprintf("%v/dlt%d/%s", os, dlt, tc.name), func(t *testing.T) {
					want := tc.src.IsValid()
					n := vmRun(t, prog, tc.frame)
					if got := n != 0; got != want {
						t.Errorf("filter accepts = %v, want %v", got, want)
					}
					if want && n < uint32(len(tc.frame)) {
						t.Errorf("filter keeps %d of %d bytes", n, len(tc.frame))
					}
					payload, src, err := decode(tc.frame, dlt, os, tPort)
					if got := err == nil; got != want {
						t.Fatalf("decode accepts = %v (err %v), want %v", got, err, want)
					}
					if !want {
						return
					}
					if src != tc.src {
						t.Errorf("source %v, want %v", src, tc.src)
					}
					if !rawudp.IsSTUNResponse(payload) || !bytes.Equal(payload[8:20], tTxID[:]) {
						t.Errorf("payload % x is not the STUN message", payload)
					}
				})
			}
		}
	}
}

// TestFilterPort checks the port is compiled in, also with the high bit set.
func TestFilterPort(t *testing.T) {
	for _, port := range []uint16{1, 443, 51820, 65535} {
		ip := ipv4Dgram(nil, 0, protoUDP, tServer4, tLocal4, udpDgram(tServerPort, port, goodSTUN()))
		frame := frameFor(dltEN10MB, FreeBSD, ip)
		for _, p := range []uint16{port, port ^ 0x8000} {
			prog, err := program(dltEN10MB, p, FreeBSD)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := vmRun(t, prog, frame) != 0, p == port; got != want {
				t.Errorf("filter for port %d on a packet to %d: accepts = %v, want %v", p, port, got, want)
			}
		}
	}
}

func TestFilterErrors(t *testing.T) {
	tests := []struct {
		name string
		dlt  uint32
		port uint16
		os   OS
		want error
	}{
		{"PPP", 9, tPort, FreeBSD, ErrUnknownLinkType},
		{"802.11 radio", 127, tPort, Darwin, ErrUnknownLinkType},
		{"LINKTYPE_RAW is not a DLT", 101, tPort, FreeBSD, ErrUnknownLinkType},
		{"OpenBSD DLT_RAW", 14, tPort, FreeBSD, ErrUnknownLinkType},
		{"port 0", dltEN10MB, 0, FreeBSD, errZeroPort},
		{"unknown OS", dltEN10MB, tPort, OS(7), errUnknownOS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Filter(tc.dlt, tc.port, tc.os)
			if !errors.Is(err, tc.want) {
				t.Errorf("Filter error = %v, want %v", err, tc.want)
			}
			_, _, err = decode(good4(), tc.dlt, tc.os, tc.port)
			if tc.want == ErrUnknownLinkType && !errors.Is(err, tc.want) {
				t.Errorf("decode error = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestFilterSize keeps every program within BPF_MAXINSNS (512) with room
// to spare.
func TestFilterSize(t *testing.T) {
	for _, dlt := range allDLTs {
		raw, err := Filter(dlt, tPort, FreeBSD)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > 128 {
			t.Errorf("dlt %d: %d instructions", dlt, len(raw))
		}
	}
}
