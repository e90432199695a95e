// Package resolve turns the host:port names in wgstun's configuration (STUN
// servers) into addresses of one family. It is the one place wgstun looks
// names up, and it does so itself rather than through the net package's
// resolver: /etc/hosts, then A or AAAA queries over UDP (TCP when the
// answer is truncated) to the servers of /etc/resolv.conf, with its search
// list, ndots, timeout and attempts, from sockets that follow the egress
// policy (so look-ups stay out of a full tunnel). Everything it reads is
// bounded: the files, the replies, the chain of CNAMEs, the time.
package resolve

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wgstun/wgstun/src/internal/dnswire"
	"github.com/wgstun/wgstun/src/internal/egress"
)

// Timeout bounds one lookup.
const Timeout = 5 * time.Second

// HostPort returns the addresses of hostport's host in the family ipv6 picks,
// each with hostport's port. A literal address of the other family gives no
// addresses and no error; a name is looked up with a Timeout.
func HostPort(ctx context.Context, hostport string, ipv6 bool) ([]netip.AddrPort, error) {
	return system.hostPort(ctx, hostport, ipv6)
}

// resolver reads its configuration from files and sends its queries
// through dial; system is the one HostPort uses.
type resolver struct {
	confPath, hostsPath string
	dial                dnswire.Dial
}

var system = &resolver{confPath: "/etc/resolv.conf", hostsPath: "/etc/hosts", dial: egress.Dial}

func (r *resolver) hostPort(ctx context.Context, hostport string, ipv6 bool) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port of %s: %w", hostport, err)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.Is6() != ipv6 {
			return nil, nil
		}
		return []netip.AddrPort{netip.AddrPortFrom(a, uint16(port))}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	addrs, err := r.lookup(ctx, host, ipv6)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(port)))
	}
	return out, nil
}

// Why a name has no addresses.
var (
	errNoSuchName = errors.New("no such host")
	errNoAddress  = errors.New("no address of that family")
)

// lookup returns host's addresses of one family: from the hosts file if it
// names host, loopback for localhost (RFC 6761), else from DNS.
func (r *resolver) lookup(ctx context.Context, host string, ipv6 bool) ([]netip.Addr, error) {
	name := strings.ToLower(host)
	if _, err := dnswire.AppendName(nil, absolute(name)); err != nil || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("look up %q: not a host name", host)
	}
	if addrs := readHosts(r.hostsPath, name, ipv6); len(addrs) > 0 {
		return addrs, nil
	}
	if bare := strings.TrimSuffix(name, "."); bare == "localhost" || strings.HasSuffix(bare, ".localhost") {
		if ipv6 {
			return []netip.Addr{netip.IPv6Loopback()}, nil
		}
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}, nil
	}
	c := readConf(r.confPath)
	qtype := uint16(dnswire.TypeA)
	if ipv6 {
		qtype = dnswire.TypeAAAA
	}
	var last error
	for _, fqdn := range c.names(name) {
		addrs, err := r.query(ctx, c, fqdn, qtype)
		if err == nil {
			return addrs, nil
		}
		// A name that does not exist says less than one that has no
		// address of the family, or a server that failed: keep those.
		if last == nil || !errors.Is(err, errNoSuchName) {
			last = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("look up %s: %w", host, last)
}

// query asks the servers, in order and for c.attempts rounds, for fqdn's
// records of type qtype. An answer (addresses, no such name, no records
// of the type) ends it; a failure or silence moves on to the next server.
func (r *resolver) query(ctx context.Context, c *conf, fqdn string, qtype uint16) ([]netip.Addr, error) {
	var id [2]byte
	_, _ = rand.Read(id[:])
	msg, err := dnswire.AppendQuery(nil, binary.BigEndian.Uint16(id[:]), dnswire.OpQuery<<11|dnswire.FlagRD, fqdn, qtype)
	if err != nil {
		return nil, err
	}
	var last error
	for range c.attempts {
		for _, srv := range c.servers {
			addrs, err := r.exchange(ctx, c.timeout, srv.String(), msg, fqdn, qtype)
			if err == nil || errors.Is(err, errNoSuchName) || errors.Is(err, errNoAddress) {
				return addrs, err
			}
			last = fmt.Errorf("%s: %w", srv.Addr(), err)
			if ctx.Err() != nil {
				return nil, last
			}
		}
	}
	return nil, last
}

// exchange sends msg to one server over UDP for at most timeout, and over
// TCP when the reply is truncated, and reads the addresses in the reply.
func (r *resolver) exchange(ctx context.Context, timeout time.Duration, server string, msg []byte, fqdn string, qtype uint16) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		addrs     []netip.Addr
		answerErr error
		truncated bool
	)
	check := func(b []byte) error {
		var err error
		addrs, truncated, answerErr, err = readReply(b, msg, fqdn, qtype)
		return err
	}
	// The UDP payload can be larger than a classic 512-byte message; the
	// retry resends a lost query once within the server's time.
	err := dnswire.UDP(ctx, r.dial, server, msg, max(timeout/2, 100*time.Millisecond), check)
	if err == nil && truncated {
		err = dnswire.TCP(ctx, r.dial, server, msg, check)
		if err == nil && truncated {
			return nil, errors.New("reply truncated over TCP")
		}
	}
	if err != nil {
		var bad *dnswire.DiscardedError
		switch {
		case errors.As(err, &bad):
			return nil, fmt.Errorf("no usable reply within %s: %w", timeout, bad.Err)
		case ctx.Err() != nil || dnswire.IsTimeout(err):
			return nil, fmt.Errorf("no reply within %s", timeout)
		}
		return nil, err
	}
	return addrs, answerErr
}

// maxCNAMEs bounds the chain of aliases followed in one reply.
const maxCNAMEs = 8

// readReply reads a reply b to query q for fqdn's records of type qtype.
// err is dnswire.ErrNotOurs for a datagram that does not answer q, another
// error for a malformed reply; otherwise truncated reports TC, and addrs
// and answerErr are the answer: the addresses of fqdn (through CNAMEs in
// the reply), errNoSuchName, errNoAddress, or the server's failure.
func readReply(b, q []byte, fqdn string, qtype uint16) (addrs []netip.Addr, truncated bool, answerErr, err error) {
	m, err := dnswire.ParseMessage(b)
	if err != nil {
		return nil, false, nil, err
	}
	if m.ID != binary.BigEndian.Uint16(q) || m.Flags&dnswire.FlagQR == 0 || m.Opcode() != dnswire.OpQuery || m.QD > 1 {
		return nil, false, nil, dnswire.ErrNotOurs
	}
	if m.QD == 1 {
		name, off, err := dnswire.ReadName(b, dnswire.HeaderLen)
		if err != nil || name != fqdn || binary.BigEndian.Uint16(b[off:]) != qtype {
			return nil, false, nil, dnswire.ErrNotOurs
		}
	}
	if m.Flags&dnswire.FlagTC != 0 {
		return nil, true, nil, nil
	}
	switch rc := m.Rcode(); rc {
	case dnswire.RcodeNoError:
	case dnswire.RcodeNXDomain:
		return nil, false, fmt.Errorf("%w (%s: NXDOMAIN)", errNoSuchName, fqdn), nil
	default:
		return nil, false, fmt.Errorf("server answered %s", dnswire.RcodeName(rc)), nil
	}
	names := map[string]bool{fqdn: true}
	for range maxCNAMEs {
		grew := false
		for _, a := range m.Answers() {
			if a.Type != dnswire.TypeCNAME || a.Class != dnswire.ClassIN || !names[a.Name] {
				continue
			}
			target, _, err := dnswire.ReadName(b[:a.Off+len(a.Data)], a.Off)
			if err != nil {
				return nil, false, nil, err
			}
			if !names[target] {
				names[target], grew = true, true
			}
		}
		if !grew {
			break
		}
	}
	for _, a := range m.Answers() {
		if a.Type != qtype || a.Class != dnswire.ClassIN || !names[a.Name] {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.Data)
		if !ok || (qtype == dnswire.TypeA) != ip.Is4() {
			return nil, false, nil, fmt.Errorf("%w: %d-byte address in a type %d record", dnswire.ErrMalformed, len(a.Data), qtype)
		}
		addrs = append(addrs, ip)
	}
	if len(addrs) == 0 {
		return nil, false, fmt.Errorf("%w (%s)", errNoAddress, fqdn), nil
	}
	return addrs, false, nil, nil
}

// absolute adds the root's dot to a name that lacks it.
func absolute(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}
