package bsdbpf

import (
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Iface is what interface selection needs to know about one network
// interface: a net.Interface reduced to plain values, so tests can build
// tables of them.
type Iface struct {
	Name  string
	Index int
	Flags net.Flags
	Addrs []netip.Addr // unicast addresses, zones dropped
}

// listInterfaces returns the system's interfaces with their addresses. It
// is the default lister of Options.Interfaces.
func listInterfaces() ([]Iface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]Iface, 0, len(ifs))
	for _, ifi := range ifs {
		it := Iface{Name: ifi.Name, Index: ifi.Index, Flags: ifi.Flags}
		addrs, err := ifi.Addrs()
		if err != nil {
			// The interface went away between the two calls; it is
			// listed without addresses and so not picked by default.
			addrs = nil
		}
		for _, a := range addrs {
			if pfx, err := netip.ParsePrefix(a.String()); err == nil {
				it.Addrs = append(it.Addrs, pfx.Addr().WithZone(""))
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// wireGuardPrefixes are interface name prefixes that belong to WireGuard
// on each system. FreeBSD's if_wg clones wg0, wg1 ... (OPNsense and
// pfSense keep those names); wireguard-go on macOS runs on utun devices,
// which other VPNs use too, but answers for WireGuard's own port never
// arrive inside a tunnel that WireGuard itself carries.
func wireGuardPrefixes(os OS) []string {
	if os == Darwin {
		return []string{"wg", "utun"}
	}
	return []string{"wg"}
}

// selectIfaces returns the names of the interfaces to capture on, in the
// order of all. With an explicit list (the config's capture key) it returns
// the listed names that exist and are up, in the list's order. Otherwise it
// takes every interface that is up, is not a loopback, is not WireGuard's
// (by name, see wireGuardPrefixes) and has an address of the family (IPv6
// link-local addresses do not count: STUN servers are never on the link).
// That last rule also drops point-to-point tunnels that carry no address of
// the family and a PPPoE interface that is between sessions.
func selectIfaces(all []Iface, explicit []string, ipv6 bool, os OS) []string {
	var out []string
	if len(explicit) > 0 {
		for _, name := range explicit {
			i := slices.IndexFunc(all, func(it Iface) bool { return it.Name == name })
			if i >= 0 && all[i].Flags&net.FlagUp != 0 {
				out = append(out, name)
			}
		}
		return out
	}
	skip := wireGuardPrefixes(os)
	for _, it := range all {
		if it.Flags&net.FlagUp == 0 || it.Flags&net.FlagLoopback != 0 || isLoopbackName(it.Name) {
			continue
		}
		if slices.ContainsFunc(skip, func(p string) bool { return strings.HasPrefix(it.Name, p) }) {
			continue
		}
		if slices.ContainsFunc(it.Addrs, func(a netip.Addr) bool { return usable(a, ipv6) }) {
			out = append(out, it.Name)
		}
	}
	return out
}

// usable reports whether a is an address STUN answers of the family can be
// sent to.
func usable(a netip.Addr, ipv6 bool) bool {
	if ipv6 {
		return a.Is6() && !a.Is4In6() && !a.IsLinkLocalUnicast() && !a.IsLoopback() && !a.IsUnspecified()
	}
	a = a.Unmap()
	return a.Is4() && !a.IsLoopback() && !a.IsUnspecified()
}

// isLoopbackName reports whether name is lo followed by a unit number
// (lo0, lo1), the loopback clones of FreeBSD and macOS.
func isLoopbackName(name string) bool {
	rest, ok := strings.CutPrefix(name, "lo")
	if !ok || rest == "" {
		return false
	}
	return strings.Trim(rest, "0123456789") == ""
}
