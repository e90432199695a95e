package bsdbpf

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

const up = net.FlagUp | net.FlagRunning

// A FreeBSD router (OPNsense-like) and a Mac, as ifconfig lists them.
var (
	routerIfaces = []Iface{
		{Name: "igb0", Flags: up | net.FlagBroadcast, Addrs: addrs("192.0.2.10", "fe80::1")},
		{Name: "igb1", Flags: up | net.FlagBroadcast, Addrs: addrs("10.0.0.1", "2001:db8:1::1")},
		{Name: "igb2", Flags: net.FlagBroadcast, Addrs: addrs("10.9.0.1")}, // down
		{Name: "lo0", Flags: up | net.FlagLoopback, Addrs: addrs("127.0.0.1", "::1")},
		{Name: "pppoe0", Flags: up | net.FlagPointToPoint, Addrs: addrs("198.51.100.7")},
		{Name: "pppoe1", Flags: up | net.FlagPointToPoint},                                   // between sessions
		{Name: "wg0", Flags: up | net.FlagPointToPoint, Addrs: addrs("10.8.0.1", "fd00::1")}, // if_wg
		{Name: "wg1", Flags: up, Addrs: addrs("10.8.1.1")},
		{Name: "enc0", Flags: 0},
		{Name: "gif0", Flags: up | net.FlagPointToPoint, Addrs: addrs("fe80::2")}, // link-local only
		{Name: "lagg0", Flags: up, Addrs: addrs("203.0.113.5")},
	}
	macIfaces = []Iface{
		{Name: "lo0", Flags: up | net.FlagLoopback, Addrs: addrs("127.0.0.1")},
		{Name: "en0", Flags: up | net.FlagBroadcast, Addrs: addrs("192.168.1.20", "fe80::aa", "2001:db8:2::20")},
		{Name: "awdl0", Flags: up | net.FlagBroadcast, Addrs: addrs("fe80::bb")},
		{Name: "utun0", Flags: up | net.FlagPointToPoint, Addrs: addrs("fe80::cc")},
		{Name: "utun4", Flags: up | net.FlagPointToPoint, Addrs: addrs("10.8.0.2")}, // wireguard-go
		{Name: "bridge0", Flags: up | net.FlagBroadcast},
	}
)

func TestSelectIfaces(t *testing.T) {
	tests := []struct {
		name     string
		all      []Iface
		explicit []string
		ipv6     bool
		os       OS
		want     []string
	}{
		{name: "router ipv4 default", all: routerIfaces, os: FreeBSD, want: []string{"igb0", "igb1", "pppoe0", "lagg0"}},
		{name: "router ipv6 default skips link-local-only", all: routerIfaces, ipv6: true, os: FreeBSD, want: []string{"igb1"}},
		{name: "router explicit list keeps its order", all: routerIfaces, explicit: []string{"pppoe0", "igb0"}, os: FreeBSD, want: []string{"pppoe0", "igb0"}},
		{name: "explicit interface without address is kept", all: routerIfaces, explicit: []string{"pppoe1"}, os: FreeBSD, want: []string{"pppoe1"}},
		{name: "explicit down or absent interfaces wait", all: routerIfaces, explicit: []string{"igb2", "ix0"}, os: FreeBSD, want: nil},
		{name: "explicit may name a wg interface", all: routerIfaces, explicit: []string{"wg0"}, os: FreeBSD, want: []string{"wg0"}},
		{name: "mac ipv4 skips utun", all: macIfaces, os: Darwin, want: []string{"en0"}},
		{name: "mac ipv6", all: macIfaces, ipv6: true, os: Darwin, want: []string{"en0"}},
		{name: "utun is not wireguard on freebsd", all: []Iface{{Name: "utun0", Flags: up, Addrs: addrs("10.1.1.1")}}, os: FreeBSD, want: []string{"utun0"}},
		{name: "loopback by name without the flag", all: []Iface{{Name: "lo1", Flags: up, Addrs: addrs("10.1.1.1")}, {Name: "lom0", Flags: up, Addrs: addrs("10.2.2.2")}}, os: FreeBSD, want: []string{"lom0"}},
		{name: "mapped addresses count as ipv4", all: []Iface{{Name: "em0", Flags: up, Addrs: addrs("::ffff:192.0.2.1")}}, os: FreeBSD, want: []string{"em0"}},
		{name: "nothing", all: nil, os: FreeBSD, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := selectIfaces(tt.all, tt.explicit, tt.ipv6, tt.os)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListInterfacesHasLoopback(t *testing.T) {
	all, err := listInterfaces()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(all, func(it Iface) bool { return it.Flags&net.FlagLoopback != 0 })
	if i < 0 {
		t.Fatalf("no loopback among %+v", all)
	}
	if !slices.Contains(all[i].Addrs, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("loopback %s has addresses %v, want 127.0.0.1 among them", all[i].Name, all[i].Addrs)
	}
}
