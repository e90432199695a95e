package bsdbpf

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformedBuffer is wrapped by every error the read-buffer walker
// returns. The kernel never writes such a buffer, so seeing it means the
// header layout assumed for this system is wrong.
var ErrMalformedBuffer = errors.New("malformed bpf read buffer")

var (
	errShortHeader = fmt.Errorf("%w: record header truncated", ErrMalformedBuffer)
	errBadHdrLen   = fmt.Errorf("%w: header length shorter than struct bpf_hdr", ErrMalformedBuffer)
	errHdrBeyond   = fmt.Errorf("%w: header length runs past the buffer", ErrMalformedBuffer)
	errCapBeyond   = fmt.Errorf("%w: capture length runs past the buffer", ErrMalformedBuffer)
)

// hostOrder is the byte order of struct bpf_hdr's fields and of the DLT_NULL
// address family: host order, little-endian on every system NativeSys
// supports (amd64 and arm64).
var hostOrder = binary.LittleEndian

// layout describes struct bpf_hdr on one system: the offsets of bh_caplen,
// bh_datalen and bh_hdrlen, and BPF_ALIGNMENT.
//
// A record's bh_hdrlen may be shorter than sizeof(struct bpf_hdr): the kernel
// pads the header so that the network header after the link header is
// aligned, counting the header as ending just after bh_hdrlen (FreeBSD
// sys/net/bpf.c: SIZEOF_BPF_HDR(type) is offsetof(bh_hdrlen) plus its size;
// xnu bsd/net/bpf.h: SIZEOF_BPF_HDR is 18 when sizeof(struct bpf_hdr) <= 20).
// So the smallest valid bh_hdrlen is hdrlen+2.
type layout struct {
	caplen, datalen, hdrlen int
	align                   int
}

// Offsets in struct bpf_hdr and BPF_ALIGNMENT per system, as constants so
// table_freebsd.go and table_darwin.go can check them at compile time.
const (
	freeBSDCaplen, freeBSDDatalen, freeBSDHdrlen, freeBSDAlign = 16, 20, 24, 8
	darwinCaplen, darwinDatalen, darwinHdrlen, darwinAlign     = 8, 12, 16, 4
)

var (
	// freeBSD64 is FreeBSD on amd64 and arm64 (sys/net/bpf.h): struct
	// timeval bh_tstamp (16 bytes on LP64), then u_int32 bh_caplen,
	// u_int32 bh_datalen, u_short bh_hdrlen; BPF_ALIGNMENT is sizeof(long),
	// 8. x/sys/unix BpfHdr and BPF_ALIGNMENT agree (checked at compile time
	// in table_freebsd.go).
	freeBSD64 = layout{caplen: freeBSDCaplen, datalen: freeBSDDatalen, hdrlen: freeBSDHdrlen, align: freeBSDAlign}
	// darwin64 is macOS on amd64 and arm64 (xnu bsd/net/bpf.h): with
	// __LP64__ bh_tstamp is a struct timeval32 (8 bytes), then the same
	// three fields; BPF_ALIGNMENT is sizeof(int32_t), 4.
	darwin64 = layout{caplen: darwinCaplen, datalen: darwinDatalen, hdrlen: darwinHdrlen, align: darwinAlign}
)

// wordAlign rounds n up to a multiple of align (BPF_WORDALIGN).
func wordAlign(n, align int) int { return (n + align - 1) &^ (align - 1) }

// walk calls fn with the captured bytes and the original length of each
// record in buf, one bpf read(2) result, in order. Records start at offset
// 0 and each next one at BPF_WORDALIGN(bh_hdrlen + bh_caplen) from the
// previous; the last record need not be followed by padding. Every length is
// checked against the buffer before it is used; on a malformed record walk
// stops and returns an error wrapping ErrMalformedBuffer (records before it
// have been delivered). pkt aliases buf and is valid only during the call.
func walk(buf []byte, l layout, fn func(pkt []byte, wirelen int)) error {
	for off := 0; off < len(buf); {
		rec := buf[off:]
		if len(rec) < l.hdrlen+2 {
			return fmt.Errorf("record at offset %d: %w", off, errShortHeader)
		}
		caplen := uint64(hostOrder.Uint32(rec[l.caplen:]))
		datalen := hostOrder.Uint32(rec[l.datalen:])
		hdrlen := int(hostOrder.Uint16(rec[l.hdrlen:]))
		if hdrlen < l.hdrlen+2 {
			return fmt.Errorf("record at offset %d: bh_hdrlen %d: %w", off, hdrlen, errBadHdrLen)
		}
		if hdrlen > len(rec) {
			return fmt.Errorf("record at offset %d: bh_hdrlen %d: %w", off, hdrlen, errHdrBeyond)
		}
		if caplen > uint64(len(rec)-hdrlen) {
			return fmt.Errorf("record at offset %d: bh_caplen %d: %w", off, caplen, errCapBeyond)
		}
		end := hdrlen + int(caplen)
		fn(rec[hdrlen:end:end], int(datalen))
		next := wordAlign(end, l.align)
		if next >= len(rec) {
			return nil
		}
		off += next
	}
	return nil
}
