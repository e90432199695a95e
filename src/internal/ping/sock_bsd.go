//go:build darwin || freebsd

package ping

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openConn opens an ICMP socket of the family for iface. Where the OS
// offers unprivileged ICMP datagram sockets (macOS) it tries one first and
// falls back to a raw socket; FreeBSD has only raw ones (root). The
// socket is tied to iface as far as the OS can (bindIface).
//
// The dgram result tells the prober to skip its identifier check. macOS
// is not known to rewrite the identifier of datagram ICMP sockets, but the
// prober's random 8-byte cookie already marks its own replies, so not
// relying on the identifier costs nothing.
func openConn(iface string, v6 bool) (conn, bool, error) {
	fam, proto, name := unix.AF_INET, unix.IPPROTO_ICMP, "icmp"
	if v6 {
		fam, proto, name = unix.AF_INET6, unix.IPPROTO_ICMPV6, "icmpv6"
	}
	dgram := hasDgramICMP
	var fd int
	var err error
	if dgram {
		fd, err = socket(fam, unix.SOCK_DGRAM, proto)
	}
	if !dgram || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EPROTONOSUPPORT) {
		dgram = false
		fd, err = socket(fam, unix.SOCK_RAW, proto)
	}
	if err != nil {
		return nil, false, fmt.Errorf("ping: open %s socket for %s: %w", name, iface, os.NewSyscallError("socket", err))
	}
	if err := setup(fd, iface, v6, dgram); err != nil {
		unix.Close(fd)
		return nil, false, fmt.Errorf("ping: %s socket on %s: %w", name, iface, err)
	}
	s, err := newSock(fd, name, iface, !v6)
	if err != nil {
		return nil, false, err
	}
	return s, dgram, nil
}

// setup ties fd to iface and, on raw ICMPv6 sockets, lets only echo
// replies in. Raw IPv4 ICMP sockets have no type filter on the BSDs; the
// prober drops what is not its reply.
func setup(fd int, iface string, v6, dgram bool) error {
	if err := bindIface(fd, iface, v6); err != nil {
		return err
	}
	if !v6 || dgram {
		return nil
	}
	filt := unix.ICMPv6Filter{Filt: icmp6PassOnly(typeEchoReply6)}
	err := unix.SetsockoptICMPv6Filter(fd, unix.IPPROTO_ICMPV6, unix.ICMP6_FILTER, &filt)
	return os.NewSyscallError("setsockopt ICMP6_FILTER", err)
}

// dropIPv4Header cuts the IPv4 header off what an ICMP socket read; the
// BSDs deliver it on datagram sockets too.
func dropIPv4Header(b []byte) ([]byte, error) { return cutIPv4Header(b) }
