package bsdbpf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// ErrNotSupported is returned (wrapped) by the calls of NativeSys on
// systems this package has no /dev/bpf support for: anything but FreeBSD
// and macOS on amd64 or arm64.
var ErrNotSupported = errors.New("bsdbpf: /dev/bpf is only supported on FreeBSD and macOS (amd64, arm64)")

var (
	errAllBusy    = errors.New("all /dev/bpf devices are busy")
	errNoDevice   = errors.New("no /dev/bpf device exists")
	errIfaceName  = errors.New("interface name empty or longer than 15 bytes")
	errBufSize    = errors.New("buffer size out of range")
	errNoBufSpace = errors.New("kernel reported buffer size 0")
)

// Sys holds the system calls a Device makes, as function fields, so tests
// on Linux run the whole sequence against a fake.
type Sys struct {
	// Open opens path with the open(2) flags mode and returns a descriptor.
	// The native Open adds O_NONBLOCK and O_CLOEXEC and puts the descriptor
	// in Go's runtime poller.
	Open func(path string, mode int) (fd int, err error)
	// Ioctl performs ioctl(fd, req, arg).
	Ioctl func(fd int, req uint, arg unsafe.Pointer) error
	// Read reads from fd into p, blocking until data arrives or fd is
	// closed (then it returns an error wrapping net.ErrClosed).
	Read func(fd int, p []byte) (int, error)
	// Close closes fd and ends a Read blocked on it.
	Close func(fd int) error
}

// oRDONLY is O_RDONLY, 0 on every Unix.
const oRDONLY = 0

// maxUnit is the highest /dev/bpfN tried when the cloning device is absent
// or busy.
const maxUnit = 255

// ifNameSize is IFNAMSIZ on FreeBSD and macOS.
const ifNameSize = 16

// ioctl request numbers, identical on FreeBSD and macOS for LP64 systems
// (FreeBSD sys/net/bpf.h, xnu bsd/net/bpf.h; the BSD encoding is
// direction | (size & 0x1fff) << 16 | 'B' << 8 | number). table_freebsd.go
// and table_darwin.go fail to compile if x/sys/unix disagrees.
const (
	biocGBLEN     = 0x40044266 // _IOR('B', 102, u_int)
	biocSBLEN     = 0xc0044266 // _IOWR('B', 102, u_int)
	biocSETF      = 0x80104267 // _IOW('B', 103, struct bpf_program), 16 bytes on LP64
	biocGDLT      = 0x4004426a // _IOR('B', 106, u_int)
	biocSETIF     = 0x8020426c // _IOW('B', 108, struct ifreq), 32 bytes
	biocIMMEDIATE = 0x80044270 // _IOW('B', 112, u_int)
	// FreeBSD: BIOCSDIRECTION _IOW('B', 119, u_int), BPF_D_IN = 0 (first
	// member of enum bpf_direction). macOS: BIOCSSEESENT _IOW('B', 119,
	// u_int), 0 = do not see sent packets (macOS's own BIOCSDIRECTION is
	// private). FreeBSD defines BIOCSSEESENT as BIOCSDIRECTION, hence the
	// same number.
	biocSDIRECTION = 0x80044277
	biocSSEESENT   = 0x80044277
	bpfDIn         = 0
)

// ifreq is the part of struct ifreq BIOCSETIF reads: the interface name,
// then a 16-byte union (sockaddr or pointer-sized members) left zero.
type ifreq struct {
	name [ifNameSize]byte
	_    [16]byte
}

// bpfProgram is struct bpf_program: u_int bf_len, then (after 4 bytes of
// padding on LP64, which Go's alignment inserts as C's does) a pointer to
// the instructions.
type bpfProgram struct {
	len   uint32
	insns *bpfInsn
}

// bpfInsn is struct bpf_insn.
type bpfInsn struct {
	code   uint16
	jt, jf uint8
	k      uint32
}

// Device is one /dev/bpf descriptor attached to one interface, filtering
// for STUN answers to one UDP port.
type Device struct {
	sys    Sys
	fd     int
	os     OS
	layout layout
	iface  string
	port   uint16
	dlt    uint32
	closed atomic.Bool

	mu  sync.Mutex // serialises ReadPackets; guards buf
	buf []byte
}

// OpenDevice opens a free /dev/bpf device, attaches it to iface and
// installs the STUN filter for the interface's link type and port. bufSize
// is asked for with BIOCSBLEN; the kernel may round it, and the size it
// settles on is used for every read. An interface whose link type has no
// filter gives an error wrapping ErrUnknownLinkType; one that does not exist
// an error wrapping ENXIO. Every error names the interface.
func OpenDevice(sys Sys, os OS, iface string, port uint16, bufSize int) (*Device, error) {
	d, err := openDevice(sys, os, iface, port, bufSize)
	if err != nil {
		return nil, fmt.Errorf("bsdbpf: open %s: %w", iface, err)
	}
	return d, nil
}

func openDevice(sys Sys, os OS, iface string, port uint16, bufSize int) (*Device, error) {
	var l layout
	switch os {
	case FreeBSD:
		l = freeBSD64
	case Darwin:
		l = darwin64
	default:
		return nil, fmt.Errorf("%w %d", errUnknownOS, int(os))
	}
	if port == 0 {
		return nil, errZeroPort
	}
	if iface == "" || len(iface) >= ifNameSize {
		return nil, fmt.Errorf("%q: %w", iface, errIfaceName)
	}
	if bufSize <= 0 || int64(bufSize) > 1<<31 {
		return nil, fmt.Errorf("%d: %w", bufSize, errBufSize)
	}
	fd, err := openFree(sys)
	if err != nil {
		return nil, err
	}
	d := &Device{sys: sys, fd: fd, os: os, layout: l, iface: iface, port: port}
	if err := d.setup(uint32(bufSize)); err != nil {
		sys.Close(fd)
		return nil, err
	}
	return d, nil
}

// openFree opens the cloning /dev/bpf, or else the first /dev/bpfN that is
// not busy. A missing /dev/bpfN ends the search: units are numbered from 0
// (macOS creates the next node when the last one is opened).
func openFree(sys Sys) (int, error) {
	fd, err := sys.Open("/dev/bpf", oRDONLY)
	if err == nil {
		return fd, nil
	}
	if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.EBUSY) {
		return -1, err
	}
	busy := errors.Is(err, syscall.EBUSY)
	for i := 0; i <= maxUnit; i++ {
		fd, err := sys.Open(fmt.Sprintf("/dev/bpf%d", i), oRDONLY)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, syscall.EBUSY):
			busy = true
		case errors.Is(err, syscall.ENOENT):
			if busy {
				return -1, errAllBusy
			}
			return -1, errNoDevice
		default:
			return -1, err
		}
	}
	return -1, errAllBusy
}

// setup runs the ioctl sequence on a fresh descriptor. BIOCSBLEN must come
// before BIOCSETIF (bpf(4)); the filter depends on the link type, known
// only once attached. BIOCSETF also discards whatever was captured before
// it, and decode re-checks every packet anyway.
func (d *Device) setup(bufSize uint32) error {
	v := bufSize
	if err := d.ioctl(biocSBLEN, "BIOCSBLEN", unsafe.Pointer(&v)); err != nil {
		return err
	}
	var ifr ifreq
	copy(ifr.name[:], d.iface)
	if err := d.ioctl(biocSETIF, "BIOCSETIF", unsafe.Pointer(&ifr)); err != nil {
		return err
	}
	v = 1
	if err := d.ioctl(biocIMMEDIATE, "BIOCIMMEDIATE", unsafe.Pointer(&v)); err != nil {
		return err
	}
	if d.os == FreeBSD {
		v = bpfDIn
		if err := d.ioctl(biocSDIRECTION, "BIOCSDIRECTION", unsafe.Pointer(&v)); err != nil {
			return err
		}
	} else {
		v = 0
		if err := d.ioctl(biocSSEESENT, "BIOCSSEESENT", unsafe.Pointer(&v)); err != nil {
			return err
		}
	}
	var dlt uint32
	if err := d.ioctl(biocGDLT, "BIOCGDLT", unsafe.Pointer(&dlt)); err != nil {
		return err
	}
	d.dlt = dlt
	raw, err := Filter(dlt, d.port, d.os)
	if err != nil {
		return err
	}
	insns := make([]bpfInsn, len(raw))
	for i, r := range raw {
		insns[i] = bpfInsn{code: r.Op, jt: r.Jt, jf: r.Jf, k: r.K}
	}
	prog := bpfProgram{len: uint32(len(insns)), insns: &insns[0]}
	err = d.ioctl(biocSETF, "BIOCSETF", unsafe.Pointer(&prog))
	runtime.KeepAlive(insns)
	if err != nil {
		return err
	}
	var blen uint32
	if err := d.ioctl(biocGBLEN, "BIOCGBLEN", unsafe.Pointer(&blen)); err != nil {
		return err
	}
	if blen == 0 {
		return errNoBufSpace
	}
	d.buf = make([]byte, blen)
	return nil
}

func (d *Device) ioctl(req uint, name string, arg unsafe.Pointer) error {
	if err := d.sys.Ioctl(d.fd, req, arg); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// DLT returns the interface's link type (BIOCGDLT).
func (d *Device) DLT() uint32 { return d.dlt }

// Iface returns the name of the interface the device is attached to.
func (d *Device) Iface() string { return d.iface }

// ReadPackets makes one read(2), which blocks until the kernel has
// something for the filter, and calls fn with every STUN answer in the
// buffer that passes decode's checks, with its sender (an IPv6 link-local
// sender gets the interface as its zone). payload aliases the read buffer
// and is valid only during the call. It returns the read error (wrapping
// net.ErrClosed after Close) or, for a buffer the walker cannot parse, an
// error wrapping ErrMalformedBuffer; answers before the bad record have
// been delivered. Calls are serialised.
func (d *Device) ReadPackets(fn func(payload []byte, src netip.AddrPort)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return fmt.Errorf("bsdbpf: read %s: %w", d.iface, net.ErrClosed)
	}
	n, err := d.sys.Read(d.fd, d.buf)
	if err != nil {
		if d.closed.Load() {
			err = net.ErrClosed
		}
		return fmt.Errorf("bsdbpf: read %s: %w", d.iface, err)
	}
	if n < 0 || n > len(d.buf) {
		return fmt.Errorf("bsdbpf: read %s: %d bytes: %w", d.iface, n, ErrMalformedBuffer)
	}
	err = walk(d.buf[:n], d.layout, func(pkt []byte, _ int) {
		payload, src, err := decode(pkt, d.dlt, d.os, d.port)
		if err != nil {
			return
		}
		if a := src.Addr(); a.Is6() && a.IsLinkLocalUnicast() {
			src = netip.AddrPortFrom(a.WithZone(d.iface), src.Port())
		}
		fn(payload, src)
	})
	if err != nil {
		return fmt.Errorf("bsdbpf: read %s: %w", d.iface, err)
	}
	return nil
}

// Close closes the descriptor; a ReadPackets blocked in read returns an
// error wrapping net.ErrClosed. Closing twice returns net.ErrClosed.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return fmt.Errorf("bsdbpf: close %s: %w", d.iface, net.ErrClosed)
	}
	if err := d.sys.Close(d.fd); err != nil {
		return fmt.Errorf("bsdbpf: close %s: %w", d.iface, err)
	}
	return nil
}
