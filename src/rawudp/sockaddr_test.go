//go:build unix

package rawudp

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSockaddr(t *testing.T) {
	lookup := func(name string) (int, error) {
		if name == "en0" {
			return 4, nil
		}
		return 0, errors.New("no such interface")
	}
	tests := []struct {
		name    string
		in      string
		want    unix.Sockaddr
		wantErr bool
	}{
		{name: "ipv4", in: "192.0.2.1:3478", want: &unix.SockaddrInet4{Port: 3478, Addr: [4]byte{192, 0, 2, 1}}},
		{name: "mapped ipv4 becomes ipv4", in: "[::ffff:192.0.2.1]:0", want: &unix.SockaddrInet4{Addr: [4]byte{192, 0, 2, 1}}},
		{name: "ipv6", in: "[2001:db8::1]:3478", want: &unix.SockaddrInet6{Port: 3478, Addr: netip.MustParseAddr("2001:db8::1").As16()}},
		{name: "numeric zone", in: "[fe80::1%7]:1", want: &unix.SockaddrInet6{Port: 1, ZoneId: 7, Addr: netip.MustParseAddr("fe80::1").As16()}},
		{name: "named zone", in: "[fe80::1%en0]:1", want: &unix.SockaddrInet6{Port: 1, ZoneId: 4, Addr: netip.MustParseAddr("fe80::1").As16()}},
		{name: "unknown zone", in: "[fe80::1%en9]:1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Sockaddr(netip.MustParseAddrPort(tt.in), lookup)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := Sockaddr(netip.AddrPort{}, lookup); err == nil {
		t.Error("zero AddrPort: no error")
	}
}

func TestSockaddrAddr(t *testing.T) {
	tests := []struct {
		name string
		in   unix.Sockaddr
		want netip.Addr
	}{
		{name: "ipv4", in: &unix.SockaddrInet4{Addr: [4]byte{10, 0, 0, 1}}, want: netip.MustParseAddr("10.0.0.1")},
		{name: "ipv6 with scope", in: &unix.SockaddrInet6{ZoneId: 3, Addr: netip.MustParseAddr("fe80::1").As16()}, want: netip.MustParseAddr("fe80::1%3")},
		{name: "unix socket", in: &unix.SockaddrUnix{Name: "/x"}, want: netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SockaddrAddr(tt.in); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
