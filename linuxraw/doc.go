// Package linuxraw lets wgstun send and receive STUN messages on a UDP port
// that WireGuard owns, on Linux, without binding that port.
//
// # Method
//
// WireGuard (the kernel module or wireguard-go) has bound UDP port P. To learn
// the public address a NAT maps P to, wgstun must send STUN Binding requests
// whose UDP source port is P and read the responses, which come back to P.
// Binding P a second time is impossible (or, with SO_REUSEPORT, would steal
// WireGuard's packets), so this package works one layer lower:
//
//   - Send: an AF_INET or AF_INET6 SOCK_RAW socket with protocol IPPROTO_UDP
//     and without IP_HDRINCL. The kernel writes the IP header (source address,
//     TTL, DF, fragmentation if ever needed); wgstun writes the 8-byte UDP
//     header with source port P, followed by the STUN payload.
//   - Receive: the same socket. A raw IPPROTO_UDP socket is handed a copy of
//     every inbound UDP datagram of its address family before UDP delivery;
//     the original continues to the UDP socket bound to P. A classic BPF
//     program attached with SO_ATTACH_FILTER keeps only unfragmented UDP
//     datagrams to port P whose payload carries the STUN magic cookie and a
//     Binding success or error response type, so the socket's queue never
//     fills with WireGuard traffic. IPv4 raw sockets see the IP header (whose
//     length, IHL, the filter and parser honour); IPv6 raw sockets start at
//     the UDP header and report the source address through recvfrom.
//
// # Why WireGuard is undisturbed
//
// Nothing here binds, connects or filters port P. A raw socket receives a
// clone; the kernel still delivers each datagram, STUN responses included,
// to WireGuard, which discards anything that is not a WireGuard message (STUN
// message types never equal WireGuard's 1..4 little-endian message types).
// The price is one skb clone and a run of a ~20-instruction BPF program per
// inbound UDP datagram of the family.
//
// # Checksums
//
// Because the UDP header is ours, so is its checksum. It covers a
// pseudo-header holding the source address the kernel will choose. WriteTo
// asks the kernel for that address by connecting a route-lookup UDP socket
// (opened by Listen next to the raw socket, with the same SO_MARK and in the
// same network namespace) to the destination, reading getsockname and
// disconnecting again; nothing is sent on it. It then pins exactly that
// address on the raw send with an IP_PKTINFO or IPV6_PKTINFO control
// message, so the checksum and the IP header can never disagree even if
// routes change in between. Both families use this one path; IPv6 therefore
// does not need IPV6_CHECKSUM (which would also make the kernel verify
// inbound checksums and turn failures into read errors). The lookup is
// repeated per send: STUN requests are rare and it costs three system calls.
//
// Inbound IPv4 checksums are not verified: raw sockets see datagrams before
// UDP does, and on loopback a checksum may legitimately be only partially
// filled in. The STUN layer's own checks (transaction ID, FINGERPRINT) apply.
//
// # fwmark
//
// Listen's mark sets SO_MARK on the raw socket and on the route-lookup socket.
// Pass WireGuard's fwmark: with wg-quick's full-tunnel policy routing
// ("not fwmark M table T"), marked packets skip the tunnel route, so STUN goes
// out of the physical interface just like WireGuard's own packets. SO_MARK
// needs CAP_NET_ADMIN; the raw socket needs CAP_NET_RAW.
//
// # Start-up race
//
// Between socket() and SO_ATTACH_FILTER the queue may collect unfiltered
// datagrams. Listen attaches the filter and then drains whatever is queued,
// and ReadFrom re-checks every datagram with a pure parser that applies the
// same rules as the filter, so nothing unfiltered can ever reach a caller.
//
// # Importing
//
// This package is public: any Linux program that must talk STUN (or any UDP)
// from a port another process owns can import it. Its logging is the
// caller's; it logs nothing itself.
package linuxraw
