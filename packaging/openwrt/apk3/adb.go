// Package apk3 writes apk-tools v3 packages (the "ADB" container OpenWrt 25.12 and later
// install with apk) without apk-tools, from a staged file tree, as `apk mkpkg` would.
//
// Container layout (facts from apk-tools' doc/apk-v3.5.scd and src/adb.h; all integers
// little-endian):
//
//	file      = "ADBd" raw-deflate(stream)     (the default compression of apk mkpkg)
//	stream    = "ADB." schema(u32) block...    schema "pckg" for a package
//	block     = type_size(u32) payload pad     type = top 2 bits (0 ADB, 1 SIG, 2 DATA),
//	                                           size = low 30 bits = 4 + len(payload);
//	                                           zero padding to a multiple of 8
//	ADB block = compat_ver(u8)=0 ver(u8)=0 reserved(u16)=0 root(val) data...
//	DATA      = path_idx(u32) file_idx(u32) file bytes   (indices into the sorted paths/files)
//
// A val is a u32 tag: top 4 bits the type, low 28 bits a direct value or the offset of the
// value inside the ADB block payload: 0x0 special (0 null), 0x1 int (direct), 0x2 int32,
// 0x3 int64, 0x8/0x9/0xa blob with u8/u16/u32 length prefix (aligned to the prefix size),
// 0xd array, 0xe object (u32 slots, aligned to 4; slot 0 = number of slots including itself).
package apk3

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Value tag types (high 4 bits of a val).
const (
	typeSpecial = 0x0 << 28
	typeInt     = 0x1 << 28
	typeInt32   = 0x2 << 28
	typeInt64   = 0x3 << 28
	typeBlob8   = 0x8 << 28
	typeBlob16  = 0x9 << 28
	typeBlob32  = 0xa << 28
	typeArray   = 0xd << 28
	typeObject  = 0xe << 28
	valueMask   = 0x0fffffff
)

// Block types and the container magic.
const (
	blockADB       = 0
	blockSIG       = 1
	blockDATA      = 2
	blockAlignment = 8
	maxBlockLen    = 0x3fffffff - 4

	fileMagic     = "ADB."
	deflateMagic  = "ADBd"
	schemaPackage = 0x676b6370 // "pckg"
)

var errTooLarge = errors.New("apk3: ADB payload over the 28-bit offset limit")

// adbWriter builds the payload of an ADB block. Equal values are written once and shared,
// as apk-tools' writer does with its hash buckets.
type adbWriter struct {
	buf  []byte
	seen map[string]uint32 // content -> offset
	err  error
}

func newADBWriter() *adbWriter {
	// The header: compat_ver 0, ver 0, reserved 0, root (set last).
	return &adbWriter{buf: make([]byte, 8), seen: map[string]uint32{}}
}

// data appends b aligned to align, or returns the offset of an equal earlier copy with the
// same alignment.
func (w *adbWriter) data(b []byte, align int) uint32 {
	if off, ok := w.seen[string(b)]; ok && int(off)%align == 0 {
		return off
	}
	for len(w.buf)%align != 0 {
		w.buf = append(w.buf, 0)
	}
	off := len(w.buf)
	if off > valueMask {
		w.err = errTooLarge
		return 0
	}
	w.buf = append(w.buf, b...)
	w.seen[string(b)] = uint32(off)
	return uint32(off)
}

// blob writes a length-prefixed byte string; empty is null, as in apk-tools.
func (w *adbWriter) blob(b []byte) uint32 {
	n := len(b)
	switch {
	case n == 0:
		return 0
	case n <= 0xff:
		return typeBlob8 | w.data(append([]byte{byte(n)}, b...), 1)
	case n <= 0xffff:
		return typeBlob16 | w.data(append(binary.LittleEndian.AppendUint16(nil, uint16(n)), b...), 2)
	default:
		return typeBlob32 | w.data(append(binary.LittleEndian.AppendUint32(nil, uint32(n)), b...), 4)
	}
}

func (w *adbWriter) str(s string) uint32 { return w.blob([]byte(s)) }

// integer writes v directly in the tag when it fits in 28 bits, else as int32/int64.
func (w *adbWriter) integer(v uint64) uint32 {
	switch {
	case v <= valueMask:
		return typeInt | uint32(v)
	case v <= 0xffffffff:
		return typeInt32 | w.data(binary.LittleEndian.AppendUint32(nil, uint32(v)), 4)
	default:
		return typeInt64 | w.data(binary.LittleEndian.AppendUint64(nil, v), 4)
	}
}

// object writes slots 1..n (vals[0] is ignored and becomes the slot count) with trailing
// nulls dropped; an object with no set slot is null.
func (w *adbWriter) object(typ uint32, vals []uint32) uint32 {
	n := len(vals)
	for n > 1 && vals[n-1] == 0 {
		n--
	}
	if n <= 1 {
		return 0
	}
	b := make([]byte, 0, 4*n)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	for _, v := range vals[1:n] {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return typ | w.data(b, 4)
}

// list writes items as slots 1..len(items).
func (w *adbWriter) list(typ uint32, items []uint32) uint32 {
	return w.object(typ, append([]uint32{0}, items...))
}

func (w *adbWriter) setRoot(v uint32) { binary.LittleEndian.PutUint32(w.buf[4:8], v) }

// appendBlock frames payload as one block of type typ, padded to the block alignment.
func appendBlock(dst []byte, typ uint32, payload ...[]byte) ([]byte, error) {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	if n > maxBlockLen {
		return dst, fmt.Errorf("apk3: block of %d bytes: over the 30-bit size limit", n)
	}
	raw := 4 + n
	dst = binary.LittleEndian.AppendUint32(dst, typ<<30|uint32(raw))
	for _, p := range payload {
		dst = append(dst, p...)
	}
	for ; raw%blockAlignment != 0; raw++ {
		dst = append(dst, 0)
	}
	return dst, nil
}
