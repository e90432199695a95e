package natcheck

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

func TestWithPort(t *testing.T) {
	v4 := &net.IPNet{IP: net.ParseIP("192.168.1.2").To4(), Mask: net.CIDRMask(24, 32)}
	v4in16 := &net.IPNet{IP: net.ParseIP("10.0.0.7"), Mask: net.CIDRMask(120, 128)} // 16-byte form
	v6 := &net.IPNet{IP: net.ParseIP("2001:db8::2"), Mask: net.CIDRMask(64, 128)}
	lo := &net.IPNet{IP: net.IPv4(127, 0, 0, 1).To4(), Mask: net.CIDRMask(8, 32)}
	ifas := []net.Addr{v4, v4in16, v6, lo, &net.IPAddr{IP: net.ParseIP("192.0.2.9")}, &net.IPNet{}}
	tests := []struct {
		name string
		ifas []net.Addr
		v6   bool
		want []string
	}{
		{name: "IPv4 in both forms, unmapped; an IPAddr and an empty IPNet skipped", ifas: ifas, want: []string{"192.168.1.2:5000", "10.0.0.7:5000", "127.0.0.1:5000"}},
		{name: "IPv6", ifas: ifas, v6: true, want: []string{"[2001:db8::2]:5000"}},
		{name: "none", ifas: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []netip.AddrPort
			for _, w := range tt.want {
				want = append(want, netip.MustParseAddrPort(w))
			}
			if got := withPort(tt.ifas, 5000, tt.v6); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// TestLocalAddrs: every host has a loopback address, and LocalAddrs lists
// only the family asked for.
func TestLocalAddrs(t *testing.T) {
	got := LocalAddrs(5000, false)
	if !slices.Contains(got, netip.MustParseAddrPort("127.0.0.1:5000")) {
		t.Errorf("127.0.0.1:5000 missing from %v", got)
	}
	for _, a := range got {
		if !a.Addr().Is4() || a.Port() != 5000 {
			t.Errorf("%s in the IPv4 list", a)
		}
	}
	for _, a := range LocalAddrs(5000, true) {
		if !a.Addr().Is6() || a.Addr().Is4In6() {
			t.Errorf("%s in the IPv6 list", a)
		}
	}
}
