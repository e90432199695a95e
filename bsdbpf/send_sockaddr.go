//go:build unix

package bsdbpf

import (
	"fmt"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// toSockaddr converts ap to a unix.Sockaddr. An IPv6 zone may be an
// interface name, looked up with ifIndex, or a number. An IPv4-mapped
// address becomes IPv4.
func toSockaddr(ap netip.AddrPort, ifIndex func(string) (int, error)) (unix.Sockaddr, error) {
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
			idx, err := ifIndex(z)
			if err != nil {
				return nil, fmt.Errorf("zone of %v: %w", a, err)
			}
			sa.ZoneId = uint32(idx)
		}
	}
	return sa, nil
}

// fromSockaddr returns the address in sa, an IPv6 scope as a numeric zone,
// or the zero Addr for other socket address types.
func fromSockaddr(sa unix.Sockaddr) netip.Addr {
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
