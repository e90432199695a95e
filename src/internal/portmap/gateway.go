package portmap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

var (
	// ErrNoRoute: no route with a gateway leads to the destination.
	ErrNoRoute = errors.New("no route through a gateway")
	// ErrGatewayLookup: this OS has no gateway lookup here; set gateway in
	// the configuration.
	ErrGatewayLookup = errors.New("finding the gateway is not supported on this OS; set gateway")
)

// FindGateway returns the next hop of the route toward dst (the default
// route's when dst is the zero Addr): IPv4 only, from the routing table.
func FindGateway(dst netip.Addr) (netip.Addr, error) {
	return findGateway(dst)
}

// parseProcRoute picks from /proc/net/route text the gateway of the most
// specific up route that covers dst (lowest metric among equals). The
// addresses are hex in the host's byte order, given as order. A direct
// route (no gateway flag) that is the best match means dst is on a link:
// ErrNoRoute.
func parseProcRoute(text []byte, dst netip.Addr, order binary.ByteOrder) (netip.Addr, error) {
	const (
		rtfUp      = 0x1
		rtfGateway = 0x2
	)
	if !dst.IsValid() {
		dst = netip.IPv4Unspecified()
	}
	dst = dst.Unmap()
	if !dst.Is4() {
		return netip.Addr{}, fmt.Errorf("route to %s: %w (IPv4 only)", dst, ErrNoRoute)
	}
	best, bestBits, bestMetric, found := netip.Addr{}, -1, uint64(0), false
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 0; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if n == 0 || len(f) < 8 {
			continue // header, or not a route line
		}
		dest, err1 := hexAddr(f[1], order)
		gw, err2 := hexAddr(f[2], order)
		flags, err3 := strconv.ParseUint(f[3], 16, 32)
		metric, err4 := strconv.ParseUint(f[6], 10, 32)
		mask, err5 := hexAddr(f[7], order)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || flags&rtfUp == 0 {
			continue
		}
		bits := maskBits(mask)
		if bits < 0 {
			continue
		}
		p := netip.PrefixFrom(dest, bits)
		if !p.Contains(dst) || bits < bestBits || bits == bestBits && metric >= bestMetric && found {
			continue
		}
		best, bestBits, bestMetric, found = netip.Addr{}, bits, metric, true
		if flags&rtfGateway != 0 {
			best = gw
		}
	}
	if !best.IsValid() {
		if dst.IsUnspecified() {
			return netip.Addr{}, fmt.Errorf("default route: %w", ErrNoRoute)
		}
		return netip.Addr{}, fmt.Errorf("route to %s: %w", dst, ErrNoRoute)
	}
	return best, nil
}

func hexAddr(s string, order binary.ByteOrder) (netip.Addr, error) {
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil || len(s) != 8 {
		return netip.Addr{}, fmt.Errorf("route field %q: not 8 hex digits", s)
	}
	var b [4]byte
	order.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), nil
}

// maskBits is the prefix length of a contiguous netmask, -1 otherwise.
func maskBits(m netip.Addr) int {
	b := m.As4()
	v := binary.BigEndian.Uint32(b[:])
	bits := 0
	for v&(1<<31) != 0 {
		bits++
		v <<= 1
	}
	if v != 0 {
		return -1
	}
	return bits
}
