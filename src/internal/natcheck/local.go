package natcheck

import (
	"net"
	"net/netip"
)

// LocalAddrs is every address of this host's interfaces of the family
// (IPv6 when v6) with port: the Options.Local of a check run from a socket
// on this host. A mapping equal to one of them means there is no NAT.
func LocalAddrs(port uint16, v6 bool) []netip.AddrPort {
	ifas, _ := net.InterfaceAddrs()
	return withPort(ifas, port, v6)
}

// withPort keeps the addresses in ifas (as net.InterfaceAddrs lists them)
// of the family, unmapped, each with port.
func withPort(ifas []net.Addr, port uint16, v6 bool) []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range ifas {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || ip.Unmap().Is4() == v6 {
			continue
		}
		out = append(out, netip.AddrPortFrom(ip.Unmap(), port))
	}
	return out
}
