//go:build unix

package rawudp

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// Sockaddr converts ap to a unix.Sockaddr for the raw sockets of the packet
// paths. An IPv6 zone may be a number or an interface name, looked up with
// ifIndex (nil: net.InterfaceByName). An IPv4-mapped address becomes IPv4.
func Sockaddr(ap netip.AddrPort, ifIndex func(string) (int, error)) (unix.Sockaddr, error) {
	a := ap.Addr()
	if !a.IsValid() {
		return nil, fmt.Errorf("invalid address %v", ap)
	}
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.ZoneId = uint32(n)
		} else {
			if ifIndex == nil {
				ifIndex = indexByName
			}
			idx, err := ifIndex(z)
			if err != nil {
				return nil, fmt.Errorf("zone of %v: %w", a, err)
			}
			sa.ZoneId = uint32(idx)
		}
	}
	return sa, nil
}

// SockaddrAddr returns the address in sa, an IPv6 scope as a numeric zone,
// or the zero Addr for other socket address types.
func SockaddrAddr(sa unix.Sockaddr) netip.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr)
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(sa.ZoneId), 10))
		}
		return a
	}
	return netip.Addr{}
}

func indexByName(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}
