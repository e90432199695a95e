package resolve

import (
	"context"
	"net/netip"
	"slices"
	"testing"
)

func TestHostPort(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		ipv6    bool
		want    []netip.AddrPort
		wantErr bool
	}{
		{name: "IPv4 literal", in: "192.0.2.1:3478", want: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:3478")}},
		{name: "IPv4 literal asked for IPv6", in: "192.0.2.1:3478", ipv6: true},
		{name: "IPv6 literal", in: "[2001:db8::1]:3478", ipv6: true, want: []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::1]:3478")}},
		{name: "mapped IPv4 is IPv4", in: "[::ffff:192.0.2.1]:3478", want: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:3478")}},
		{name: "localhost", in: "localhost:19302", want: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:19302")}},
		{name: "no port", in: "192.0.2.1", wantErr: true},
		{name: "port out of range", in: "192.0.2.1:65536", wantErr: true},
		{name: "port not a number", in: "192.0.2.1:stun", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HostPort(context.Background(), tt.in, tt.ipv6)
			if (err != nil) != tt.wantErr {
				t.Fatalf("HostPort(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("HostPort(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
