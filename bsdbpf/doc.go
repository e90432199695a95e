// Package bsdbpf is the receive side of wgstun's packet path on FreeBSD and
// macOS: it reads STUN Binding responses sent to WireGuard's UDP port from
// /dev/bpf, one device per interface, with hand-written ioctls and no pcap
// library.
//
// # Method
//
// BSD systems have no system-wide raw socket that sees inbound UDP, so the
// answers to wgstun's STUN requests are copied off each interface by bpf(4).
// OpenDevice opens a free /dev/bpf device, sets the buffer size, attaches it
// to one interface (BIOCSETIF), asks for immediate delivery and for inbound
// packets only, reads the interface's link type (BIOCGDLT) and installs a
// classic BPF program for that link type (BIOCSETF) that keeps only
// unfragmented UDP datagrams to the WireGuard port that carry a STUN Binding
// success or error response. WireGuard still receives every packet: bpf
// gets a copy.
//
// A read(2) returns a buffer of records, each a struct bpf_hdr (whose layout
// differs between FreeBSD and macOS) followed by the captured frame, aligned
// to BPF_ALIGNMENT. The pure walker steps through the records using each
// header's own header and capture lengths; decode strips the link header and
// parses IPv4 or IPv6 and UDP with the same checks as the filter, so nothing
// the kernel filter let through by mistake reaches a caller.
//
// # Link types
//
// Ethernet (DLT_EN10MB, with or without one 802.1Q tag), BSD loopback and
// tunnel headers (DLT_NULL: a 4-byte address family in host byte order;
// DLT_LOOP: the same in network byte order; AF_INET6 is 28 on FreeBSD and 30
// on macOS) and raw IP (DLT_RAW). Any other link type is refused with
// ErrUnknownLinkType; the caller logs it with the interface name.
//
// # Systems
//
// All logic is OS-independent and tested on Linux. The system calls go
// through the function fields of Sys, so tests run the whole open, attach
// and read sequence against a fake; NativeSys returns the real calls on
// FreeBSD and macOS (amd64 and arm64), where the bpf descriptor sits in Go's
// runtime poller so a read never sleep-polls and Close ends a pending read.
//
// # Importing
//
// This package is public, the BSD counterpart of linuxraw. It logs interface
// changes through the small Logger interface in Options (Info and Warn with
// key, value pairs), which *slog.Logger satisfies.
package bsdbpf
