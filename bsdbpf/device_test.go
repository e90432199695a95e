package bsdbpf

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/net/bpf"

	"github.com/wgstun/wgstun/src/rawudp"
)

// fakeSys is a /dev/bpf that lives in memory: it answers open with the
// errnos in openErr (by path; absent paths give ENOENT unless listed in
// exist), records every ioctl with its decoded argument, fails the ioctl
// named in ioctlErr, reports link type dlt and serves reads from reads.
type fakeSys struct {
	exist    map[string]bool
	openErr  map[string]error
	ioctlErr map[string]error
	dlt      uint32
	kernBuf  uint32 // what BIOCSBLEN settles on; 0: as asked
	reads    [][]byte
	calls    []string
	filter   []bpf.RawInstruction
	closed   []int
	next     int
}

func (f *fakeSys) sys() Sys {
	return Sys{
		Open: func(path string, mode int) (int, error) {
			f.calls = append(f.calls, fmt.Sprintf("open %s %d", path, mode))
			if err := f.openErr[path]; err != nil {
				return -1, &fsPathError{path, err}
			}
			if !f.exist[path] {
				return -1, &fsPathError{path, syscall.ENOENT}
			}
			f.next++
			return 100 + f.next, nil
		},
		Ioctl: func(fd int, req uint, arg unsafe.Pointer) error {
			name, desc := f.decode(req, arg)
			f.calls = append(f.calls, fmt.Sprintf("ioctl %d %s %s", fd, name, desc))
			return f.ioctlErr[name]
		},
		Read: func(fd int, p []byte) (int, error) {
			if len(f.reads) == 0 {
				return 0, syscall.EBADF
			}
			if len(p) != int(f.bufLen()) {
				return 0, syscall.EINVAL // bpf(4): the read size must be the buffer size
			}
			b := f.reads[0]
			f.reads = f.reads[1:]
			return copy(p, b), nil
		},
		Close: func(fd int) error {
			f.calls = append(f.calls, fmt.Sprintf("close %d", fd))
			f.closed = append(f.closed, fd)
			return nil
		},
	}
}

func (f *fakeSys) bufLen() uint32 { return f.kernBuf }

// decode names a request and describes its argument as the kernel would
// read it, and writes the kernel's answers.
func (f *fakeSys) decode(req uint, arg unsafe.Pointer) (string, string) {
	switch req {
	case biocSBLEN:
		p := (*uint32)(arg)
		desc := fmt.Sprint(*p)
		if f.kernBuf == 0 {
			f.kernBuf = *p
		}
		*p = f.kernBuf
		return "BIOCSBLEN", desc
	case biocSETIF:
		ifr := (*ifreq)(arg)
		return "BIOCSETIF", string(bytes.TrimRight(ifr.name[:], "\x00"))
	case biocIMMEDIATE:
		return "BIOCIMMEDIATE", fmt.Sprint(*(*uint32)(arg))
	case biocSDIRECTION: // = biocSSEESENT
		return "BIOCSDIRECTION/BIOCSSEESENT", fmt.Sprint(*(*uint32)(arg))
	case biocGDLT:
		*(*uint32)(arg) = f.dlt
		return "BIOCGDLT", ""
	case biocSETF:
		prog := (*bpfProgram)(arg)
		insns := unsafe.Slice(prog.insns, prog.len)
		f.filter = f.filter[:0]
		for _, in := range insns {
			f.filter = append(f.filter, bpf.RawInstruction{Op: in.code, Jt: in.jt, Jf: in.jf, K: in.k})
		}
		return "BIOCSETF", fmt.Sprintf("%d instructions", prog.len)
	case biocGBLEN:
		*(*uint32)(arg) = f.bufLen()
		return "BIOCGBLEN", ""
	}
	return fmt.Sprintf("%#x", req), ""
}

type fsPathError struct {
	path string
	err  error
}

func (e *fsPathError) Error() string { return "open " + e.path + ": " + e.err.Error() }
func (e *fsPathError) Unwrap() error { return e.err }

func newFake(dlt uint32) *fakeSys {
	return &fakeSys{exist: map[string]bool{"/dev/bpf": true}, dlt: dlt}
}

func TestOpenDeviceSequence(t *testing.T) {
	for _, tc := range []struct {
		os        OS
		direction string
	}{
		{FreeBSD, "ioctl 101 BIOCSDIRECTION/BIOCSSEESENT 0"}, // BPF_D_IN
		{Darwin, "ioctl 101 BIOCSDIRECTION/BIOCSSEESENT 0"},  // see sent: no
	} {
		t.Run(tc.os.String(), func(t *testing.T) {
			f := newFake(dltEN10MB)
			f.kernBuf = 8192
			d, err := OpenDevice(f.sys(), tc.os, "igb0", tPort, 32768)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				"open /dev/bpf 0",
				"ioctl 101 BIOCSBLEN 32768",
				"ioctl 101 BIOCSETIF igb0",
				"ioctl 101 BIOCIMMEDIATE 1",
				tc.direction,
				"ioctl 101 BIOCGDLT ",
			}
			wantF, _ := Filter(dltEN10MB, tPort, tc.os)
			want = append(want, fmt.Sprintf("ioctl 101 BIOCSETF %d instructions", len(wantF)), "ioctl 101 BIOCGBLEN ")
			if !reflect.DeepEqual(f.calls, want) {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
			}
			if !reflect.DeepEqual(f.filter, wantF) {
				t.Error("BIOCSETF installed another program than Filter's")
			}
			if d.DLT() != dltEN10MB || d.Iface() != "igb0" || len(d.buf) != 8192 {
				t.Errorf("DLT %d, Iface %q, buffer %d; want 1, igb0, 8192 (from BIOCGBLEN)", d.DLT(), d.Iface(), len(d.buf))
			}
		})
	}
}

func TestOpenDeviceFallback(t *testing.T) {
	busy := syscall.EBUSY
	tests := []struct {
		name     string
		exist    []string
		openErr  map[string]error
		wantOpen string // the path opened; "" when OpenDevice fails
		wantErr  error
	}{
		{"cloning device", []string{"/dev/bpf"}, nil, "/dev/bpf", nil},
		{"no cloning device", []string{"/dev/bpf0"}, nil, "/dev/bpf0", nil},
		{"cloning device busy", []string{"/dev/bpf", "/dev/bpf0"}, map[string]error{"/dev/bpf": busy}, "/dev/bpf0", nil},
		{"skip busy units", []string{"/dev/bpf2"}, map[string]error{"/dev/bpf0": busy, "/dev/bpf1": busy}, "/dev/bpf2", nil},
		{"all busy", nil, map[string]error{"/dev/bpf": busy, "/dev/bpf0": busy, "/dev/bpf1": busy}, "", errAllBusy},
		{"no device at all", nil, nil, "", errNoDevice},
		{"permission denied", []string{"/dev/bpf0"}, map[string]error{"/dev/bpf": syscall.EACCES}, "", syscall.EACCES},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(dltNull)
			f.exist = map[string]bool{}
			for _, p := range tc.exist {
				f.exist[p] = true
			}
			f.openErr = tc.openErr
			d, err := OpenDevice(f.sys(), FreeBSD, "wg0", tPort, 4096)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("OpenDevice error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "wg0") {
					t.Errorf("error %q does not name the interface", err)
				}
				if tc.wantErr == errAllBusy && !strings.Contains(err.Error(), "all /dev/bpf devices are busy") {
					t.Errorf("error %q", err)
				}
				return
			}
			var last string
			for _, c := range f.calls {
				if strings.HasPrefix(c, "open ") {
					last = c
				}
			}
			if want := "open " + tc.wantOpen + " 0"; last != want {
				t.Errorf("last open %q, want %q", last, want)
			}
			d.Close()
		})
	}
}

// TestOpenDeviceAllUnitsBusy checks the search stops after /dev/bpf255.
func TestOpenDeviceAllUnitsBusy(t *testing.T) {
	f := newFake(dltNull)
	f.openErr = map[string]error{"/dev/bpf": syscall.EBUSY}
	for i := 0; i <= 300; i++ {
		f.openErr[fmt.Sprintf("/dev/bpf%d", i)] = syscall.EBUSY
	}
	_, err := OpenDevice(f.sys(), Darwin, "en0", tPort, 4096)
	if !errors.Is(err, errAllBusy) {
		t.Fatalf("error = %v, want %v", err, errAllBusy)
	}
	if n := len(f.calls); n != 1+maxUnit+1 {
		t.Errorf("%d opens, want %d", n, 1+maxUnit+1)
	}
}

func TestOpenDeviceErrors(t *testing.T) {
	tests := []struct {
		name     string
		dlt      uint32
		ioctlErr map[string]error
		iface    string
		port     uint16
		bufSize  int
		want     error
		opened   bool // a device was opened and must be closed again
	}{
		{"interface gone", dltEN10MB, map[string]error{"BIOCSETIF": syscall.ENXIO}, "igb1", tPort, 4096, syscall.ENXIO, true},
		{"unknown link type", 9, nil, "ppp0", tPort, 4096, ErrUnknownLinkType, true},
		{"BIOCSETF refused", dltNull, map[string]error{"BIOCSETF": syscall.EINVAL}, "wg0", tPort, 4096, syscall.EINVAL, true},
		{"BIOCSBLEN refused", dltNull, map[string]error{"BIOCSBLEN": syscall.EINVAL}, "wg0", tPort, 4096, syscall.EINVAL, true},
		{"empty name", dltNull, nil, "", tPort, 4096, errIfaceName, false},
		{"name too long", dltNull, nil, "abcdefghijklmnop", tPort, 4096, errIfaceName, false},
		{"port 0", dltNull, nil, "wg0", 0, 4096, errZeroPort, false},
		{"buffer 0", dltNull, nil, "wg0", tPort, 0, errBufSize, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(tc.dlt)
			f.ioctlErr = tc.ioctlErr
			_, err := OpenDevice(f.sys(), FreeBSD, tc.iface, tc.port, tc.bufSize)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if tc.iface != "" && !strings.Contains(err.Error(), tc.iface) {
				t.Errorf("error %q does not name the interface", err)
			}
			if got := len(f.closed) == 1; got != tc.opened {
				t.Errorf("closed %v, want a close: %v", f.closed, tc.opened)
			}
		})
	}
}

func TestReadPackets(t *testing.T) {
	for _, os := range []OS{FreeBSD, Darwin} {
		t.Run(os.String(), func(t *testing.T) {
			l := freeBSD64
			if os == Darwin {
				l = darwin64
			}
			ll := netip.MustParseAddr("fe80::7")
			frames := [][]byte{
				frameFor(dltEN10MB, os, good4()),
				ether(etherTypeIPv6, []uint16{etherTypeVLAN}, good6()),
				{0xde, 0xad},                      // garbage
				frameFor(dltEN10MB, os, wgIPv4()), // WireGuard, not ours
				ether(etherTypeIPv6, nil, ipv6Dgram(protoUDP, ll, tLocal6, udpDgram(tServerPort, tPort, goodSTUN()))),
			}
			f := newFake(dltEN10MB)
			f.reads = [][]byte{buffer(l, etherHdrLen, false, frames...), nil}
			d, err := OpenDevice(f.sys(), os, "em0", tPort, 4096)
			if err != nil {
				t.Fatal(err)
			}
			var got []netip.AddrPort
			read := func(payload []byte, src netip.AddrPort) {
				if !rawudp.IsSTUNResponse(payload) {
					t.Errorf("payload % x is not a STUN answer", payload)
				}
				got = append(got, src)
			}
			if err := d.ReadPackets(read); err != nil {
				t.Fatal(err)
			}
			want := []netip.AddrPort{from4, from6, netip.AddrPortFrom(ll.WithZone("em0"), tServerPort)}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("answers from %v, want %v", got, want)
			}
			got = nil
			if err := d.ReadPackets(read); err != nil || len(got) != 0 {
				t.Errorf("empty read: %v, %d answers", err, len(got))
			}
			if err := d.ReadPackets(read); !errors.Is(err, syscall.EBADF) || !strings.Contains(err.Error(), "em0") {
				t.Errorf("read error = %v, want EBADF naming em0", err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if err := d.ReadPackets(read); !errors.Is(err, net.ErrClosed) {
				t.Errorf("read after Close = %v, want net.ErrClosed", err)
			}
			if err := d.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Close = %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestReadPacketsMalformed checks a buffer the walker rejects is reported,
// after the answers before the bad record.
func TestReadPacketsMalformed(t *testing.T) {
	f := newFake(dltNull)
	good := frameFor(dltNull, FreeBSD, good4())
	buf := append(buffer(freeBSD64, nullHdrLen, true, good), record(freeBSD64, 0, 1000, 0, good)...)
	f.reads = [][]byte{buf}
	d, err := OpenDevice(f.sys(), FreeBSD, "wg0", tPort, 4096)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = d.ReadPackets(func([]byte, netip.AddrPort) { n++ })
	if !errors.Is(err, ErrMalformedBuffer) || n != 1 {
		t.Errorf("ReadPackets = %v after %d answers; want ErrMalformedBuffer after 1", err, n)
	}
}

// wgIPv4 is a WireGuard handshake initiation to tPort.
func wgIPv4() []byte {
	return ipv4Dgram(nil, 0, protoUDP, tServer4, tLocal4, udpDgram(tServerPort, tPort, wgInitiation()))
}

// TestIoctlArgumentSizes checks the size encoded in each request number
// matches the Go type passed with it (the BSD _IOC encoding puts the
// argument size in bits 16..28).
func TestIoctlArgumentSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the request table is for LP64 systems")
	}
	u := unsafe.Sizeof(uint32(0))
	for _, tc := range []struct {
		name string
		req  uint
		size uintptr
	}{
		{"BIOCGBLEN", biocGBLEN, u},
		{"BIOCSBLEN", biocSBLEN, u},
		{"BIOCSETF", biocSETF, unsafe.Sizeof(bpfProgram{})},
		{"BIOCGDLT", biocGDLT, u},
		{"BIOCSETIF", biocSETIF, unsafe.Sizeof(ifreq{})},
		{"BIOCIMMEDIATE", biocIMMEDIATE, u},
		{"BIOCSDIRECTION", biocSDIRECTION, u},
	} {
		if got := uintptr(tc.req >> 16 & 0x1fff); got != tc.size {
			t.Errorf("%s encodes size %d, Go type has %d", tc.name, got, tc.size)
		}
		if g := tc.req >> 8 & 0xff; g != 'B' {
			t.Errorf("%s group %q, want 'B'", tc.name, rune(g))
		}
	}
	if unsafe.Sizeof(bpfInsn{}) != 8 || unsafe.Offsetof(bpfProgram{}.insns) != 8 {
		t.Error("struct bpf_insn or struct bpf_program layout is off")
	}
}

func TestNativeSysUnsupported(t *testing.T) {
	if runtime.GOOS == "freebsd" || runtime.GOOS == "darwin" {
		t.Skip("NativeSys is the real one here")
	}
	if _, err := NativeSys().Open("/dev/bpf", 0); !errors.Is(err, ErrNotSupported) {
		t.Errorf("NativeSys().Open on %s = %v, want ErrNotSupported", "this system", err)
	}
}
