package bsdbpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/wgstun/wgstun/src/rawudp"
)

// Reasons decode rejects a captured frame. ReadPackets drops such frames
// silently; they are sentinels so tests can tell the reasons apart.
var (
	errTruncated       = rawudp.ErrTruncated
	errNotIP           = errors.New("not an IPv4 or IPv6 packet")
	errBadHeaderLen    = rawudp.ErrBadHeaderLen
	errNotUDP          = rawudp.ErrNotUDP
	errFragment        = rawudp.ErrFragment
	errBadUDPLen       = rawudp.ErrBadUDPLen
	errOtherPort       = rawudp.ErrOtherPort
	errNotSTUNResponse = rawudp.ErrNotSTUNResponse
	errBadSource       = errors.New("bad source address")
)

// decode strips the link header of pkt (a frame captured on a link of type
// dlt on system os) and returns the UDP payload and the sender when the
// frame passes the same checks as program(dlt, port, os). It also requires
// the IP and UDP lengths to fit the captured bytes, so a frame cut short by
// the capture is rejected. The payload aliases pkt.
func decode(pkt []byte, dlt uint32, os OS, port uint16) ([]byte, netip.AddrPort, error) {
	ip, version, err := stripLink(pkt, dlt, os)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	if len(ip) == 0 {
		return nil, netip.AddrPort{}, errTruncated
	}
	v := ip[0] >> 4
	if version != 0 && v != version {
		return nil, netip.AddrPort{}, errNotIP
	}
	switch v {
	case 4:
		return rawudp.ParseIPv4(ip, port)
	case 6:
		return parseIPv6(ip, port)
	}
	return nil, netip.AddrPort{}, errNotIP
}

// stripLink returns the IP packet inside a frame of link type dlt and the
// IP version the link header announces (0 for DLT_RAW, which has none).
func stripLink(pkt []byte, dlt uint32, os OS) ([]byte, byte, error) {
	switch dlt {
	case dltEN10MB:
		if len(pkt) < etherHdrLen {
			return nil, 0, errTruncated
		}
		typ, rest := binary.BigEndian.Uint16(pkt[12:14]), pkt[etherHdrLen:]
		if typ == etherTypeVLAN {
			if len(rest) < vlanTagLen {
				return nil, 0, errTruncated
			}
			typ, rest = binary.BigEndian.Uint16(rest[2:4]), rest[vlanTagLen:]
		}
		switch typ {
		case etherTypeIPv4:
			return rest, 4, nil
		case etherTypeIPv6:
			return rest, 6, nil
		}
		return nil, 0, errNotIP
	case dltNull, dltLoop:
		af6, err := os.afInet6()
		if err != nil {
			return nil, 0, err
		}
		if len(pkt) < nullHdrLen {
			return nil, 0, errTruncated
		}
		af := hostOrder.Uint32(pkt)
		if dlt == dltLoop {
			af = binary.BigEndian.Uint32(pkt)
		}
		switch af {
		case afInet:
			return pkt[nullHdrLen:], 4, nil
		case af6:
			return pkt[nullHdrLen:], 6, nil
		}
		return nil, 0, errNotIP
	case dltRaw:
		return pkt, 0, nil
	}
	return nil, 0, fmt.Errorf("link type %d: %w", dlt, ErrUnknownLinkType)
}

// parseIPv6 checks an IPv6 datagram whose fixed header is followed directly
// by UDP and returns its UDP payload and source.
func parseIPv6(b []byte, port uint16) ([]byte, netip.AddrPort, error) {
	if len(b) < ipv6HeaderLen {
		return nil, netip.AddrPort{}, errTruncated
	}
	total := ipv6HeaderLen + int(binary.BigEndian.Uint16(b[4:6]))
	if total > len(b) {
		return nil, netip.AddrPort{}, errTruncated
	}
	b = b[:total]
	if b[6] != protoUDP {
		return nil, netip.AddrPort{}, errNotUDP
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	if src.Is4In6() || src.IsUnspecified() || src.IsMulticast() {
		return nil, netip.AddrPort{}, errBadSource
	}
	payload, sport, err := rawudp.ParseUDP(b[ipv6HeaderLen:], port)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return payload, netip.AddrPortFrom(src, sport), nil
}
