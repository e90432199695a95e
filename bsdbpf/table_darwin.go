//go:build darwin && (amd64 || arm64)

package bsdbpf

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Compile-time checks that the OS-independent tables match x/sys/unix on
// macOS: an index other than 0 into a one-element array, or a negative
// one, does not compile.
var (
	_ = [1]struct{}{}[unix.BIOCGBLEN-biocGBLEN]
	_ = [1]struct{}{}[unix.BIOCSBLEN-biocSBLEN]
	_ = [1]struct{}{}[unix.BIOCSETF-biocSETF]
	_ = [1]struct{}{}[unix.BIOCGDLT-biocGDLT]
	_ = [1]struct{}{}[unix.BIOCSETIF-biocSETIF]
	_ = [1]struct{}{}[unix.BIOCIMMEDIATE-biocIMMEDIATE]
	_ = [1]struct{}{}[unix.BIOCSSEESENT-biocSSEESENT]

	_ = [1]struct{}{}[unix.DLT_NULL-dltNull]
	_ = [1]struct{}{}[unix.DLT_EN10MB-dltEN10MB]
	_ = [1]struct{}{}[unix.DLT_RAW-dltRaw]
	_ = [1]struct{}{}[unix.DLT_LOOP-dltLoop]
	_ = [1]struct{}{}[unix.AF_INET-afInet]
	_ = [1]struct{}{}[unix.AF_INET6-afInet6Darwin]
	_ = [1]struct{}{}[unix.IFNAMSIZ-ifNameSize]

	_ = [1]struct{}{}[unix.BPF_ALIGNMENT-darwinAlign]
	_ = [1]struct{}{}[unsafe.Offsetof(unix.BpfHdr{}.Caplen)-darwinCaplen]
	_ = [1]struct{}{}[unsafe.Offsetof(unix.BpfHdr{}.Datalen)-darwinDatalen]
	_ = [1]struct{}{}[unsafe.Offsetof(unix.BpfHdr{}.Hdrlen)-darwinHdrlen]
	_ = [1]struct{}{}[unsafe.Sizeof(unix.BpfProgram{})-unsafe.Sizeof(bpfProgram{})]
	_ = [1]struct{}{}[unsafe.Offsetof(unix.BpfProgram{}.Insns)-unsafe.Offsetof(bpfProgram{}.insns)]
	_ = [1]struct{}{}[unsafe.Sizeof(unix.BpfInsn{})-unsafe.Sizeof(bpfInsn{})]
	_ = [1]struct{}{}[unsafe.Sizeof(ifreq{})-(unix.BIOCSETIF>>16&0x1fff)]
)
