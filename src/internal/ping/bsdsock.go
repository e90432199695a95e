package ping

// Pure helpers of the FreeBSD and macOS ICMP sockets (sock_bsd.go), kept
// free of build tags so their tests run on Linux.

// cutIPv4Header returns the ICMP message in what an IPv4 ICMP socket on a
// BSD delivered. FreeBSD raw sockets put the IPv4 header in front; so do
// macOS datagram and raw ICMP sockets unless IP_STRIPHDR took it off
// (x/net/icmp sets that option for the same reason, golang.org/issue/9395).
// A message that starts with version nibble 4 carries a header: an echo
// reply, the only message the prober keeps, starts with type 0, so the two
// cannot be confused. The header is cut by its IHL alone. Its total-length
// field is left unread because its meaning differs by OS: network order
// with the header counted on FreeBSD 11 and later, host order without the
// header on macOS (x/net/ipv4 header.go, ParseHeader); the kernel hands
// raw sockets exactly one datagram either way.
//
//	offset 0: version (high nibble), IHL in 32-bit words (low nibble)
//	offset 9: protocol (1 = ICMP)
func cutIPv4Header(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0]>>4 != 4 {
		return b, nil
	}
	if len(b) < 20 {
		return nil, errShort
	}
	if b[9] != 1 {
		return nil, errNotICMP
	}
	hl := int(b[0]&0x0f) * 4
	if hl < 20 || hl > len(b) {
		return nil, errBadLength
	}
	return b[hl:], nil
}

// icmp6PassOnly is the ICMP6_FILTER of RFC 3542 section 3.2 that passes
// only messages of type typ. Unlike Linux's ICMPV6_FILTER, where a set bit
// blocks a type, a set bit passes it here (ICMP6_FILTER_SETPASS in
// netinet/icmp6.h on FreeBSD and macOS).
func icmp6PassOnly(typ uint8) [8]uint32 {
	var f [8]uint32
	f[typ>>5] = 1 << (typ & 31)
	return f
}
