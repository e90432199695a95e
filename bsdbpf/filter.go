package bsdbpf

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// ErrUnknownLinkType is returned (wrapped) for a link type that has no
// filter. The caller skips that interface and logs it by name; the package
// never guesses a link header.
var ErrUnknownLinkType = errors.New("unsupported link type")

var (
	errUnknownOS = errors.New("unknown OS")
	errZeroPort  = errors.New("port 0")
)

// Link types (DLT_* in FreeBSD sys/net/bpf.h and xnu bsd/net/bpf.h; the
// values are the same on both and in x/sys/unix for both).
const (
	dltNull   = 0   // BSD loopback/tunnel: 4-byte address family, host order
	dltEN10MB = 1   // Ethernet
	dltRaw    = 12  // raw IP, no link header
	dltLoop   = 108 // like DLT_NULL, address family in network order
)

// Header values the filters and the decoder check.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100 // IEEE 802.1Q
	etherHdrLen   = 14
	vlanTagLen    = 4
	nullHdrLen    = 4

	afInet         = 2  // AF_INET on FreeBSD and macOS
	afInet6FreeBSD = 28 // AF_INET6, FreeBSD sys/sys/socket.h
	afInet6Darwin  = 30 // AF_INET6, xnu bsd/sys/socket.h

	stunMagicCookie    = 0x2112A442
	stunBindingRequest = 0x0001
	stunBindingSuccess = 0x0101
	stunBindingError   = 0x0111
	stunHeaderLen      = 20

	ipv4MinHeaderLen = 20
	ipv6HeaderLen    = 40
	udpHeaderLen     = 8
	protoUDP         = 17
	// ipv4FragMask covers the MF flag (0x2000) and the 13-bit fragment
	// offset (0x1fff).
	ipv4FragMask = 0x3fff

	// filterAccept keeps the whole packet: bpf stores min(verdict, length).
	filterAccept = 0xffffffff
	filterDrop   = 0
)

// OS selects the per-system constants (ioctl numbers, header layout,
// AF_INET6 value).
type OS int

const (
	FreeBSD OS = iota + 1
	Darwin
)

func (o OS) String() string {
	switch o {
	case FreeBSD:
		return "freebsd"
	case Darwin:
		return "darwin"
	}
	return fmt.Sprintf("OS(%d)", int(o))
}

// afInet6 returns AF_INET6 as the system writes it into DLT_NULL and
// DLT_LOOP headers: 28 on FreeBSD (sys/sys/socket.h), 30 on macOS
// (xnu bsd/sys/socket.h); x/sys/unix agrees (table_*.go check it).
func (o OS) afInet6() (uint32, error) {
	switch o {
	case FreeBSD:
		return afInet6FreeBSD, nil
	case Darwin:
		return afInet6Darwin, nil
	}
	return 0, fmt.Errorf("%w %d", errUnknownOS, int(o))
}

// Filter returns the assembled bpf program for link type dlt on system os
// that accepts exactly the packets decode accepts: unfragmented IPv4 (any
// header length) or IPv6 (UDP as the first next header) UDP datagrams to
// port whose payload starts with a STUN Binding success or error response
// header carrying the magic cookie. An unknown dlt gives an error wrapping
// ErrUnknownLinkType.
func Filter(dlt uint32, port uint16, os OS) ([]bpf.RawInstruction, error) {
	prog, err := program(dlt, port, os)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble filter for link type %d: %w", dlt, err)
	}
	return raw, nil
}

// program returns the filter for dlt as instructions. Per link type:
//
//	DLT_EN10MB  [12:14] EtherType: 0x0800 -> IPv4 at 14, 0x86dd -> IPv6 at 14,
//	            0x8100 -> [16:18] inner EtherType: IPv4 or IPv6 at 18
//	            (a second tag or anything else is dropped)
//	DLT_NULL    [0:4] address family, host (little-endian) order:
//	            AF_INET -> IPv4 at 4, AF_INET6 -> IPv6 at 4
//	DLT_LOOP    [0:4] address family, network order; as DLT_NULL
//	DLT_RAW     [0] version nibble: 4 -> IPv4 at 0, 6 -> IPv6 at 0
//
// then, with the IP header at offset b, ipv4Block or ipv6Block.
func program(dlt uint32, port uint16, os OS) ([]bpf.Instruction, error) {
	af6, err := os.afInet6()
	if err != nil {
		return nil, err
	}
	if port == 0 {
		return nil, errZeroPort
	}
	a := newAsm()
	switch dlt {
	case dltEN10MB:
		a.add(bpf.LoadAbsolute{Off: 12, Size: 2})
		a.jumpIf(bpf.JumpEqual, etherTypeIPv4, "v4", "")
		a.jumpIf(bpf.JumpEqual, etherTypeIPv6, "v6", "")
		a.jumpIf(bpf.JumpEqual, etherTypeVLAN, "", "drop")
		a.add(bpf.LoadAbsolute{Off: 16, Size: 2})
		a.jumpIf(bpf.JumpEqual, etherTypeIPv4, "vlan4", "")
		a.jumpIf(bpf.JumpEqual, etherTypeIPv6, "vlan6", "drop")
		a.label("v4")
		ipv4Block(a, etherHdrLen, port)
		a.label("v6")
		ipv6Block(a, etherHdrLen, port)
		a.label("vlan4")
		ipv4Block(a, etherHdrLen+vlanTagLen, port)
		a.label("vlan6")
		ipv6Block(a, etherHdrLen+vlanTagLen, port)
	case dltNull, dltLoop:
		v4, v6 := uint32(afInet), af6
		if dlt == dltNull {
			// BPF loads are big-endian; the header is little-endian.
			v4, v6 = swap32(v4), swap32(v6)
		}
		a.add(bpf.LoadAbsolute{Off: 0, Size: 4})
		a.jumpIf(bpf.JumpEqual, v4, "v4", "")
		a.jumpIf(bpf.JumpEqual, v6, "v6", "drop")
		a.label("v4")
		ipv4Block(a, nullHdrLen, port)
		a.label("v6")
		ipv6Block(a, nullHdrLen, port)
	case dltRaw:
		a.add(bpf.LoadAbsolute{Off: 0, Size: 1})
		a.add(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
		a.jumpIf(bpf.JumpEqual, 0x40, "v4", "")
		a.jumpIf(bpf.JumpEqual, 0x60, "v6", "drop")
		a.label("v4")
		ipv4Block(a, 0, port)
		a.label("v6")
		ipv6Block(a, 0, port)
	default:
		return nil, fmt.Errorf("link type %d: %w", dlt, ErrUnknownLinkType)
	}
	a.label("accept")
	a.add(bpf.RetConstant{Val: filterAccept})
	a.label("drop")
	a.add(bpf.RetConstant{Val: filterDrop})
	return a.done()
}

// ipv4Block checks an IPv4 header at offset b and jumps to "accept" or
// "drop":
//
//	b+0        1  version (high nibble 4) | IHL (low nibble >= 5)
//	b+6        2  flags | fragment offset (MF|offset = 0x3fff must be 0)
//	b+9        1  protocol (17 = UDP)
//	X = 4*IHL     (LoadMemShift; IP options allowed)
//	X+b+2      2  UDP destination port (must be port)
//	X+b+4      2  UDP length (>= 8 + 20: room for a STUN header)
//	X+b+8      2  STUN message type (0x0101 or 0x0111)
//	X+b+12     4  STUN magic cookie (0x2112A442)
//
// A load past the end of the packet makes bpf return 0: truncated frames
// are dropped by the machine itself.
func ipv4Block(a *asm, b uint32, port uint16) {
	a.add(bpf.LoadAbsolute{Off: b, Size: 1})
	a.add(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	a.jumpIf(bpf.JumpEqual, 0x40, "", "drop")
	a.add(bpf.LoadAbsolute{Off: b, Size: 1})
	a.add(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	a.jumpIf(bpf.JumpGreaterOrEqual, ipv4MinHeaderLen/4, "", "drop")
	a.add(bpf.LoadAbsolute{Off: b + 9, Size: 1})
	a.jumpIf(bpf.JumpEqual, protoUDP, "", "drop")
	a.add(bpf.LoadAbsolute{Off: b + 6, Size: 2})
	a.jumpIf(bpf.JumpBitsSet, ipv4FragMask, "drop", "")
	a.add(bpf.LoadMemShift{Off: b})
	udpBlock(a, func(off uint32, size int) bpf.Instruction {
		return bpf.LoadIndirect{Off: b + off, Size: size}
	}, port)
}

// ipv6Block checks an IPv6 header at offset b whose next header is UDP
// (extension headers, fragments included, are not followed: dropped):
//
//	b+0        1  version (high nibble 6)
//	b+6        1  next header (17 = UDP)
//	b+40+2     2  UDP destination port (must be port)
//	b+40+4     2  UDP length (>= 8 + 20)
//	b+40+8     2  STUN message type (0x0101 or 0x0111)
//	b+40+12    4  STUN magic cookie
func ipv6Block(a *asm, b uint32, port uint16) {
	a.add(bpf.LoadAbsolute{Off: b, Size: 1})
	a.add(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	a.jumpIf(bpf.JumpEqual, 0x60, "", "drop")
	a.add(bpf.LoadAbsolute{Off: b + 6, Size: 1})
	a.jumpIf(bpf.JumpEqual, protoUDP, "", "drop")
	udpBlock(a, func(off uint32, size int) bpf.Instruction {
		return bpf.LoadAbsolute{Off: b + ipv6HeaderLen + off, Size: size}
	}, port)
}

// udpBlock checks the UDP header and STUN header; load(off, size) reads at
// off from the start of the UDP header.
func udpBlock(a *asm, load func(off uint32, size int) bpf.Instruction, port uint16) {
	a.add(load(2, 2))
	a.jumpIf(bpf.JumpEqual, uint32(port), "", "drop")
	a.add(load(4, 2))
	a.jumpIf(bpf.JumpGreaterOrEqual, udpHeaderLen+stunHeaderLen, "", "drop")
	a.add(load(udpHeaderLen+4, 4))
	a.jumpIf(bpf.JumpEqual, stunMagicCookie, "", "drop")
	a.add(load(udpHeaderLen, 2))
	a.jumpIf(bpf.JumpEqual, stunBindingSuccess, "accept", "")
	a.jumpIf(bpf.JumpEqual, stunBindingError, "accept", "")
	a.jumpIf(bpf.JumpEqual, stunBindingRequest, "accept", "drop") // a peer's path check
}

func swap32(v uint32) uint32 {
	return v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24
}

// asm collects instructions whose conditional jumps name labels ("" is the
// next instruction) and resolves them to forward skips in done.
type asm struct {
	ins    []bpf.Instruction
	labels map[string]int
	jumps  []labelJump
}

type labelJump struct {
	at          int
	true, false string
}

func newAsm() *asm { return &asm{labels: map[string]int{}} }

func (a *asm) add(i bpf.Instruction) { a.ins = append(a.ins, i) }

func (a *asm) label(name string) { a.labels[name] = len(a.ins) }

func (a *asm) jumpIf(cond bpf.JumpTest, val uint32, t, f string) {
	a.jumps = append(a.jumps, labelJump{at: len(a.ins), true: t, false: f})
	a.add(bpf.JumpIf{Cond: cond, Val: val})
}

func (a *asm) done() ([]bpf.Instruction, error) {
	for _, j := range a.jumps {
		t, err := a.skip(j.at, j.true)
		if err != nil {
			return nil, err
		}
		f, err := a.skip(j.at, j.false)
		if err != nil {
			return nil, err
		}
		ji := a.ins[j.at].(bpf.JumpIf)
		ji.SkipTrue, ji.SkipFalse = t, f
		a.ins[j.at] = ji
	}
	return a.ins, nil
}

// skip returns the jump distance from instruction at to label name.
func (a *asm) skip(at int, name string) (uint8, error) {
	if name == "" {
		return 0, nil
	}
	to, ok := a.labels[name]
	if !ok {
		return 0, fmt.Errorf("filter: undefined label %q", name)
	}
	d := to - at - 1
	if d < 0 || d > 0xff {
		return 0, fmt.Errorf("filter: jump from %d to %q (%d) out of range", at, name, to)
	}
	return uint8(d), nil
}
