package linuxraw

import "golang.org/x/net/bpf"

// STUN constants the filters and the parser test (RFC 8489 section 5).
const (
	stunMagicCookie    = 0x2112A442
	stunBindingRequest = 0x0001 // a peer's path check
	stunBindingSuccess = 0x0101
	stunBindingError   = 0x0111
	stunHeaderLen      = 20

	udpHeaderLen     = 8
	ipv4MinHeaderLen = 20
	protoUDP         = 17

	// ipv4FragMask covers the MF flag (0x2000) and the 13-bit fragment
	// offset (0x1fff) of the IPv4 flags/fragment-offset field.
	ipv4FragMask = 0x3fff

	// filterAccept is the socket filter verdict "keep the whole packet": an
	// IP datagram is at most 65535 bytes.
	filterAccept = 0xffff
	filterDrop   = 0
)

// skip returns the jump distance from instruction from to instruction to.
func skip(from, to int) uint8 { return uint8(to - from - 1) }

// filterIPv4 returns the socket filter for an AF_INET raw IPPROTO_UDP socket,
// which sees each datagram from its IPv4 header on. It accepts an
// unfragmented IPv4 UDP datagram to port whose payload is at least a STUN
// header and is a Binding success or error response, or a Binding request
// (a peer's path check, answered by the daemon).
//
//	offset     size  field
//	0          1     version (high nibble, must be 4) | IHL (low nibble, >= 5)
//	6          2     flags | fragment offset (MF|offset = 0x3fff must be 0)
//	9          1     protocol (17 = UDP)
//	X = 4*IHL        start of UDP header (LoadMemShift; IP options allowed)
//	X+2        2     UDP destination port (must be port)
//	X+4        2     UDP length (>= 8 + 20: room for a STUN header)
//	X+8        2     STUN message type (0x0101, 0x0111 or 0x0001)
//	X+12       4     STUN magic cookie (0x2112A442)
//
// A packet too short for any load is dropped by the BPF machine itself.
func filterIPv4(port uint16) []bpf.Instruction {
	const accept, drop = 21, 22
	return []bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: 0, Size: 1},
		/* 1 */ bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0},
		/* 2 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x40, SkipFalse: skip(2, drop)},
		/* 3 */ bpf.LoadAbsolute{Off: 0, Size: 1},
		/* 4 */ bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f},
		/* 5 */ bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: ipv4MinHeaderLen / 4, SkipFalse: skip(5, drop)},
		/* 6 */ bpf.LoadAbsolute{Off: 9, Size: 1},
		/* 7 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoUDP, SkipFalse: skip(7, drop)},
		/* 8 */ bpf.LoadAbsolute{Off: 6, Size: 2},
		/* 9 */ bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: ipv4FragMask, SkipTrue: skip(9, drop)},
		/* 10 */ bpf.LoadMemShift{Off: 0},
		/* 11 */ bpf.LoadIndirect{Off: 2, Size: 2},
		/* 12 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipFalse: skip(12, drop)},
		/* 13 */ bpf.LoadIndirect{Off: 4, Size: 2},
		/* 14 */ bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: udpHeaderLen + stunHeaderLen, SkipFalse: skip(14, drop)},
		/* 15 */ bpf.LoadIndirect{Off: udpHeaderLen + 4, Size: 4},
		/* 16 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: stunMagicCookie, SkipFalse: skip(16, drop)},
		/* 17 */ bpf.LoadIndirect{Off: udpHeaderLen, Size: 2},
		/* 18 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: stunBindingSuccess, SkipTrue: skip(18, accept)},
		/* 19 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: stunBindingError, SkipTrue: skip(19, accept)},
		/* 20 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: stunBindingRequest, SkipTrue: skip(20, accept), SkipFalse: skip(20, drop)},
		/* 21 */ bpf.RetConstant{Val: filterAccept},
		/* 22 */ bpf.RetConstant{Val: filterDrop},
	}
}

// filterIPv6 returns the socket filter for an AF_INET6 raw IPPROTO_UDP
// socket, which sees each datagram from its UDP header on (the kernel has
// already walked extension headers and reassembled fragments). It accepts a
// UDP datagram to port whose payload is at least a STUN header and is a
// Binding success or error response or a Binding request.
//
//	offset  size  field
//	2       2     UDP destination port (must be port)
//	4       2     UDP length (>= 8 + 20: room for a STUN header)
//	8       2     STUN message type (0x0101, 0x0111 or 0x0001)
//	12      4     STUN magic cookie (0x2112A442)
func filterIPv6(port uint16) []bpf.Instruction {
	const accept, drop = 10, 11
	return []bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: 2, Size: 2},
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipFalse: skip(1, drop)},
		/* 2 */ bpf.LoadAbsolute{Off: 4, Size: 2},
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: udpHeaderLen + stunHeaderLen, SkipFalse: skip(3, drop)},
		/* 4 */ bpf.LoadAbsolute{Off: udpHeaderLen + 4, Size: 4},
		/* 5 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: stunMagicCookie, SkipFalse: skip(5, drop)},
		/* 6 */ bpf.LoadAbsolute{Off: udpHeaderLen, Size: 2},
		/* 7 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: stunBindingSuccess, SkipTrue: skip(7, accept)},
		/* 8 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: stunBindingError, SkipTrue: skip(8, accept)},
		/* 9 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: stunBindingRequest, SkipTrue: skip(9, accept), SkipFalse: skip(9, drop)},
		/* 10 */ bpf.RetConstant{Val: filterAccept},
		/* 11 */ bpf.RetConstant{Val: filterDrop},
	}
}
