// Package portmap asks a gateway for a UDP port mapping of WireGuard's
// listen port with PCP (RFC 6887) or NAT-PMP (RFC 6886), keeps it renewed
// and deletes it when done.
//
// Both protocols talk to UDP port 5351 of the gateway. A gateway that
// speaks only NAT-PMP answers a PCP request with "unsupported version",
// which is how the auto mode falls back.
package portmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ServerPort is the gateway's port for PCP and NAT-PMP (RFC 6887 §19.1,
// RFC 6886 §3.1).
const ServerPort = 5351

// Wire constants of the two protocols.
const (
	pmpVersion   = 0
	pmpOpAddress = 0
	pmpOpMapUDP  = 1
	pmpReply     = 128 // added to the opcode in a response

	pcpVersion  = 2
	pcpOpMap    = 1
	pcpResponse = 0x80 // the R bit
	pcpHeader   = 24
	pcpMapLen   = 36
	pcpMaxLen   = 1100
	protoUDP    = 17
)

// Errors of a gateway's answer. Result codes map onto these; the message
// around them names the protocol and the code.
var (
	// ErrUnsupportedVersion: the gateway does not speak this protocol
	// version (a NAT-PMP gateway answering PCP says so).
	ErrUnsupportedVersion = errors.New("unsupported version")
	// ErrNotAuthorized: the gateway refuses mappings to this host.
	ErrNotAuthorized = errors.New("not authorized")
	// ErrAddressMismatch: the gateway saw the request come from another
	// address than the one in it: there is another NAT in between.
	ErrAddressMismatch = errors.New("address mismatch")
	// ErrNoResources: the gateway has no port or mapping to give.
	ErrNoResources = errors.New("no resources")
	// ErrNetworkFailure: the gateway has no working external address.
	ErrNetworkFailure = errors.New("network failure")
	// ErrUnsupported: the gateway does not support the request.
	ErrUnsupported = errors.New("request not supported")
	// ErrRefused: any other result code.
	ErrRefused = errors.New("refused")
	// ErrMalformed: the answer is not a well-formed response.
	ErrMalformed = errors.New("malformed response")
	// ErrUnusable: the gateway claimed success with a mapping nobody
	// outside could use: an external address that is not public unicast,
	// port 0 or lifetime 0.
	ErrUnusable = errors.New("unusable mapping")
)

// sharedSpace is 100.64.0.0/10 (RFC 6598), a CGNAT's inside.
var sharedSpace = netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64}), 10)

// usable checks a granted mapping before anyone publishes it.
func usable(m Mapping) error {
	a := m.External.Addr().Unmap()
	if m.External.Port() == 0 || m.Lifetime <= 0 || !a.IsGlobalUnicast() || a.IsPrivate() || sharedSpace.Contains(a) {
		return fmt.Errorf("%w: external address %s, lifetime %s", ErrUnusable, m.External, m.Lifetime)
	}
	return nil
}

// pmpResponse is a decoded NAT-PMP response (RFC 6886 §3.2, §3.3).
type pmpResponse struct {
	op       uint8 // request opcode (without the 128)
	result   uint16
	epoch    uint32 // seconds since start of epoch
	external netip.Addr
	internal uint16
	mapped   uint16
	lifetime uint32
}

// appendPMPAddress appends a NAT-PMP external address request.
func appendPMPAddress(b []byte) []byte { return append(b, pmpVersion, pmpOpAddress) }

// appendPMPMap appends a NAT-PMP UDP mapping request; lifetime 0 with
// suggested port 0 deletes the mapping of internal.
func appendPMPMap(b []byte, internal, suggested uint16, lifetime uint32) []byte {
	b = append(b, pmpVersion, pmpOpMapUDP, 0, 0)
	b = binary.BigEndian.AppendUint16(b, internal)
	b = binary.BigEndian.AppendUint16(b, suggested)
	return binary.BigEndian.AppendUint32(b, lifetime)
}

// parsePMP decodes a NAT-PMP response. A response with a non-zero result
// carries only the common 8 bytes; that is enough to read it.
func parsePMP(b []byte) (pmpResponse, error) {
	var r pmpResponse
	if len(b) < 8 {
		return r, fmt.Errorf("%w: NAT-PMP answer of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != pmpVersion || b[1] < pmpReply {
		return r, fmt.Errorf("%w: not a NAT-PMP response (version %d, opcode %d)", ErrMalformed, b[0], b[1])
	}
	r.op = b[1] - pmpReply
	r.result = binary.BigEndian.Uint16(b[2:4])
	r.epoch = binary.BigEndian.Uint32(b[4:8])
	if r.result != 0 {
		return r, nil
	}
	switch r.op {
	case pmpOpAddress:
		if len(b) < 12 {
			return r, fmt.Errorf("%w: NAT-PMP address answer of %d bytes", ErrMalformed, len(b))
		}
		r.external = netip.AddrFrom4([4]byte(b[8:12]))
	case pmpOpMapUDP:
		if len(b) < 16 {
			return r, fmt.Errorf("%w: NAT-PMP mapping answer of %d bytes", ErrMalformed, len(b))
		}
		r.internal = binary.BigEndian.Uint16(b[8:10])
		r.mapped = binary.BigEndian.Uint16(b[10:12])
		r.lifetime = binary.BigEndian.Uint32(b[12:16])
	default:
		return r, fmt.Errorf("%w: NAT-PMP opcode %d", ErrMalformed, b[1])
	}
	return r, nil
}

// pmpError turns a NAT-PMP result code into an error (nil for success).
func pmpError(code uint16) error {
	var err error
	switch code {
	case 0:
		return nil
	case 1:
		err = ErrUnsupportedVersion
	case 2:
		err = ErrNotAuthorized
	case 3:
		err = ErrNetworkFailure
	case 4:
		err = ErrNoResources
	case 5:
		err = ErrUnsupported
	default:
		err = ErrRefused
	}
	return fmt.Errorf("%w (NAT-PMP result %d)", err, code)
}

// pcpMap is a PCP MAP request or response (RFC 6887 §7, §11.1).
type pcpMap struct {
	// common header
	response bool
	version  uint8
	result   uint8
	lifetime uint32
	epoch    uint32     // responses
	client   netip.Addr // requests: the client's own address
	// MAP opcode
	nonce    [12]byte
	protocol uint8
	internal uint16
	port     uint16     // suggested (request) or assigned (response)
	addr     netip.Addr // suggested (request) or assigned (response)
}

// appendPCPMap appends a PCP MAP request. IPv4 addresses go on the wire
// IPv4-mapped; an invalid suggested address asks for any IPv4 address
// (::ffff:0.0.0.0) when the client is IPv4, any address (::) otherwise.
func appendPCPMap(b []byte, m pcpMap) []byte {
	b = append(b, pcpVersion, pcpOpMap, 0, 0)
	b = binary.BigEndian.AppendUint32(b, m.lifetime)
	b = append16(b, m.client)
	b = append(b, m.nonce[:]...)
	b = append(b, m.protocol, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, m.internal)
	b = binary.BigEndian.AppendUint16(b, m.port)
	sugg := m.addr
	if !sugg.IsValid() {
		sugg = netip.IPv6Unspecified()
		if m.client.Unmap().Is4() {
			sugg = netip.IPv4Unspecified()
		}
	}
	return append16(b, sugg)
}

func append16(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		a = netip.AddrFrom16(a.As16())
	}
	s := a.As16()
	return append(b, s[:]...)
}

// parsePCP decodes a PCP response. An answer with version 0 is a NAT-PMP
// gateway's "unsupported version" to our PCP request: it comes back with
// version 0 and the result in NAT-PMP's place (RFC 6887 §9).
func parsePCP(b []byte) (pcpMap, error) {
	var m pcpMap
	if len(b) >= 4 && b[0] == pmpVersion {
		m.version = 0
		m.response = b[1]&pcpResponse != 0
		m.result = uint8(min(binary.BigEndian.Uint16(b[2:4]), 255))
		return m, nil
	}
	if len(b) < pcpHeader {
		return m, fmt.Errorf("%w: PCP answer of %d bytes", ErrMalformed, len(b))
	}
	if len(b) > pcpMaxLen || len(b)%4 != 0 {
		return m, fmt.Errorf("%w: PCP answer of %d bytes", ErrMalformed, len(b))
	}
	m.version = b[0]
	m.response = b[1]&pcpResponse != 0
	if !m.response {
		return m, fmt.Errorf("%w: PCP request, not a response", ErrMalformed)
	}
	m.result = b[3]
	m.lifetime = binary.BigEndian.Uint32(b[4:8])
	m.epoch = binary.BigEndian.Uint32(b[8:12])
	if m.version != pcpVersion {
		return m, nil // only the result is meaningful
	}
	if op := b[1] &^ pcpResponse; op != pcpOpMap {
		return m, fmt.Errorf("%w: PCP opcode %d, want MAP", ErrMalformed, op)
	}
	if len(b) < pcpHeader+pcpMapLen {
		return m, fmt.Errorf("%w: PCP MAP answer of %d bytes", ErrMalformed, len(b))
	}
	p := b[pcpHeader:]
	m.nonce = [12]byte(p[0:12])
	m.protocol = p[12]
	m.internal = binary.BigEndian.Uint16(p[16:18])
	m.port = binary.BigEndian.Uint16(p[18:20])
	m.addr = netip.AddrFrom16([16]byte(p[20:36])).Unmap()
	return m, nil
}

// pcpError turns a PCP result code into an error (nil for success).
func pcpError(code uint8) error {
	var err error
	var name string
	switch code {
	case 0:
		return nil
	case 1:
		err, name = ErrUnsupportedVersion, "UNSUPP_VERSION"
	case 2:
		err, name = ErrNotAuthorized, "NOT_AUTHORIZED"
	case 3:
		err, name = ErrUnsupported, "MALFORMED_REQUEST"
	case 4:
		err, name = ErrUnsupported, "UNSUPP_OPCODE"
	case 5:
		err, name = ErrUnsupported, "UNSUPP_OPTION"
	case 6:
		err, name = ErrUnsupported, "MALFORMED_OPTION"
	case 7:
		err, name = ErrNetworkFailure, "NETWORK_FAILURE"
	case 8:
		err, name = ErrNoResources, "NO_RESOURCES"
	case 9:
		err, name = ErrUnsupported, "UNSUPP_PROTOCOL"
	case 10:
		err, name = ErrNoResources, "USER_EX_QUOTA"
	case 11:
		err, name = ErrNoResources, "CANNOT_PROVIDE_EXTERNAL"
	case 12:
		err, name = ErrAddressMismatch, "ADDRESS_MISMATCH"
	case 13:
		err, name = ErrNoResources, "EXCESSIVE_REMOTE_PEERS"
	default:
		err, name = ErrRefused, "unknown"
	}
	return fmt.Errorf("%w (PCP result %d %s)", err, code, name)
}

// epochLost reports whether a server's epoch shows that it lost its state
// (restarted) between two answers: the epoch went backwards, or it grew
// less than the client's clock did, with the slack RFC 6887 §8.5 allows
// (RFC 6886 §3.6 asks the same with 7/8). prev and cur are the server's
// epochs, elapsed the client's time between the answers.
func epochLost(prev, cur uint32, elapsedSec int64) bool {
	if cur+1 < prev {
		return true
	}
	client, server := elapsedSec, int64(cur)-int64(prev)
	return client+2 < server-server/16 || server+2 < client-client/16
}
