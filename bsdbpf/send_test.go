package bsdbpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// verifyUDPChecksum reports whether datagram's checksum is right for src
// and dst: the one's complement sum over pseudo-header and datagram,
// checksum included, is 0xffff (RFC 1071 section 1).
func verifyUDPChecksum(src, dst netip.Addr, datagram []byte) bool {
	var b []byte
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	b = append(b, 0, txProtoUDP, byte(len(datagram)>>8), byte(len(datagram)))
	b = append(b, datagram...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var sum uint32
	for i := 0; i < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum>>16 != 0 {
		sum = sum>>16 + sum&0xffff
	}
	return sum == 0xffff
}

func TestBuildDatagram(t *testing.T) {
	tests := []struct {
		name     string
		src, dst string
		payload  []byte
	}{
		{name: "ipv4 binding request", src: "192.0.2.10", dst: "203.0.113.1", payload: []byte("\x00\x01\x00\x00\x21\x12\xa4\x42abcdefghijkl")},
		{name: "ipv4 odd length", src: "10.0.0.1", dst: "10.0.0.2", payload: []byte{1, 2, 3}},
		{name: "ipv6", src: "2001:db8::1", dst: "2001:db8::2", payload: []byte("\x00\x01\x00\x00\x21\x12\xa4\x42abcdefghijkl")},
		{name: "empty", src: "10.0.0.1", dst: "10.0.0.2", payload: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := netip.MustParseAddr(tt.src), netip.MustParseAddr(tt.dst)
			b := buildDatagram(src, dst, 51820, 3478, tt.payload)
			if len(b) != 8+len(tt.payload) || binary.BigEndian.Uint16(b[0:2]) != 51820 ||
				binary.BigEndian.Uint16(b[2:4]) != 3478 || int(binary.BigEndian.Uint16(b[4:6])) != len(b) {
				t.Fatalf("header % x", b[:8])
			}
			if string(b[8:]) != string(tt.payload) {
				t.Errorf("payload % x", b[8:])
			}
			if !verifyUDPChecksum(src, dst, b) {
				t.Errorf("checksum %#04x does not verify", binary.BigEndian.Uint16(b[6:8]))
			}
			// Another source address must give another checksum: the
			// pseudo-header is covered.
			other := src.Next()
			if verifyUDPChecksum(other, dst, b) {
				t.Errorf("checksum also verifies for source %v", other)
			}
			if z := buildDatagram(netip.Addr{}, netip.Addr{}, 51820, 3478, tt.payload); binary.BigEndian.Uint16(z[6:8]) != 0 {
				t.Errorf("without addresses the checksum is %#04x, want 0 for the kernel", binary.BigEndian.Uint16(z[6:8]))
			}
		})
	}
}

// A payload whose sum makes the checksum compute to zero must be sent as
// 0xffff (RFC 768).
func TestBuildDatagramZeroChecksum(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	b := buildDatagram(src, dst, 1, 2, []byte{0, 0})
	// Choose the payload word so that the whole sum is 0xffff.
	cs := binary.BigEndian.Uint16(b[6:8])
	binary.BigEndian.PutUint16(b[8:10], cs)
	b2 := buildDatagram(src, dst, 1, 2, b[8:10])
	if got := binary.BigEndian.Uint16(b2[6:8]); got != 0xffff {
		t.Fatalf("checksum %#04x, want 0xffff", got)
	}
	if !verifyUDPChecksum(src, dst, b2) {
		t.Error("0xffff does not verify")
	}
}

// fakeSendSys records the socket calls of the send path.
type fakeSendSys struct {
	calls  []string
	nextFD int
	local  netip.Addr // what LocalAddr reports
	fail   string     // call name that fails
	sent   [][]byte
	open   map[int]bool
}

var errFake = errors.New("fake failure")

func (f *fakeSendSys) rec(format string, args ...any) error {
	c := fmt.Sprintf(format, args...)
	f.calls = append(f.calls, c)
	if f.fail != "" && strings.HasPrefix(c, f.fail) {
		return errFake
	}
	return nil
}

func (f *fakeSendSys) sys() SendSys {
	f.open = map[int]bool{}
	fd := func(kind string, ipv6 bool) (int, error) {
		if err := f.rec("%s %s", kind, familyName(ipv6)); err != nil {
			return -1, err
		}
		f.nextFD++
		f.open[f.nextFD] = true
		return f.nextFD, nil
	}
	return SendSys{
		OpenRaw:           func(ipv6 bool) (int, error) { return fd("raw", ipv6) },
		OpenUDP:           func(ipv6 bool) (int, error) { return fd("udp", ipv6) },
		SetFIB:            func(fd, fib int) error { return f.rec("fib %d %d", fd, fib) },
		BindInterface:     func(fd int, ipv6 bool, idx int) error { return f.rec("boundif %d %v %d", fd, ipv6, idx) },
		SetChecksumOffset: func(fd, off int) error { return f.rec("checksum %d %d", fd, off) },
		Connect:           func(fd int, dst netip.AddrPort) error { return f.rec("connect %d %v", fd, dst) },
		LocalAddr: func(fd int) (netip.Addr, error) {
			return f.local, f.rec("local %d", fd)
		},
		SendTo: func(fd int, p []byte, dst netip.AddrPort) error {
			f.sent = append(f.sent, slices.Clone(p))
			return f.rec("sendto %d %v", fd, dst)
		},
		Close: func(fd int) error {
			delete(f.open, fd)
			return f.rec("close %d", fd)
		},
		IfIndex: func(name string) (int, error) {
			if name == "en0" {
				return 4, f.rec("ifindex %s", name)
			}
			f.rec("ifindex %s: no such interface", name)
			return 0, errFake
		},
	}
}

func TestSenderSequence(t *testing.T) {
	v4dst := netip.MustParseAddrPort("203.0.113.1:3478")
	v6dst := netip.MustParseAddrPort("[2001:db8::9]:3478")
	tests := []struct {
		name     string
		ipv6     bool
		fib      int
		boundIf  string
		local    string
		fail     string
		dst      netip.AddrPort
		wantOpen string // error from newSender, "" for none
		wantSend string // error from send
		want     []string
	}{
		{
			name: "ipv4 plain", local: "192.0.2.10", dst: v4dst,
			want: []string{"raw ipv4", "udp ipv4", "connect 2 203.0.113.1:3478", "local 2", "close 2", "sendto 1 203.0.113.1:0", "close 1"},
		},
		{
			name: "ipv4 in FIB 2 on both sockets", fib: 2, local: "192.0.2.10", dst: v4dst,
			want: []string{"raw ipv4", "fib 1 2", "udp ipv4", "fib 2 2", "connect 2 203.0.113.1:3478", "local 2", "close 2", "sendto 1 203.0.113.1:0", "close 1"},
		},
		{
			name: "ipv4 bound to en0 on both sockets", boundIf: "en0", local: "192.0.2.10", dst: v4dst,
			want: []string{"ifindex en0", "raw ipv4", "boundif 1 false 4", "udp ipv4", "boundif 2 false 4", "connect 2 203.0.113.1:3478", "local 2", "close 2", "sendto 1 203.0.113.1:0", "close 1"},
		},
		{
			name: "ipv6 lets the kernel checksum, no route lookup", ipv6: true, boundIf: "en0", dst: v6dst,
			want: []string{"ifindex en0", "raw ipv6", "boundif 1 true 4", "checksum 1 6", "sendto 1 [2001:db8::9]:0", "close 1"},
		},
		{
			name: "unknown interface to bind", boundIf: "en9", dst: v4dst, wantOpen: "interface en9 to bind to",
			want: []string{"ifindex en9: no such interface"},
		},
		{
			name: "FIB refused closes the raw socket", fib: 7, fail: "fib", dst: v4dst, wantOpen: "set FIB 7",
			want: []string{"raw ipv4", "fib 1 7", "close 1"},
		},
		{
			name: "IPV6_CHECKSUM refused closes the raw socket", ipv6: true, fail: "checksum", dst: v6dst, wantOpen: "IPV6_CHECKSUM",
			want: []string{"raw ipv6", "checksum 1 6", "close 1"},
		},
		{
			name: "no route sends nothing", fail: "connect", dst: v4dst, wantSend: "route lookup towards 203.0.113.1:3478",
			want: []string{"raw ipv4", "udp ipv4", "connect 2 203.0.113.1:3478", "close 2", "close 1"},
		},
		{
			name: "unspecified source sends nothing", local: "0.0.0.0", dst: v4dst, wantSend: "no usable source",
			want: []string{"raw ipv4", "udp ipv4", "connect 2 203.0.113.1:3478", "local 2", "close 2", "close 1"},
		},
		{
			name: "sendto failure is reported", local: "192.0.2.10", fail: "sendto", dst: v4dst, wantSend: "sendto: fake failure",
			want: []string{"raw ipv4", "udp ipv4", "connect 2 203.0.113.1:3478", "local 2", "close 2", "sendto 1 203.0.113.1:0", "close 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSendSys{fail: tt.fail}
			if tt.local != "" {
				f.local = netip.MustParseAddr(tt.local)
			}
			payload := []byte("\x00\x01\x00\x00\x21\x12\xa4\x42abcdefghijkl")
			s, err := newSender(f.sys(), tt.ipv6, 51820, tt.fib, tt.boundIf)
			if tt.wantOpen != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantOpen) {
					t.Fatalf("newSender: %v, want %q", err, tt.wantOpen)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				err = s.send(payload, tt.dst)
				if tt.wantSend == "" && err != nil {
					t.Fatalf("send: %v", err)
				}
				if tt.wantSend != "" && (err == nil || !strings.Contains(err.Error(), tt.wantSend)) {
					t.Fatalf("send: %v, want %q", err, tt.wantSend)
				}
				if err := s.close(); err != nil {
					t.Fatal(err)
				}
				if err := s.send(payload, tt.dst); !errors.Is(err, errSendClosed) && tt.ipv6 {
					t.Errorf("send after close: %v", err)
				}
			}
			got := f.calls
			// A send after close may do a route lookup (IPv4) but never
			// reaches sendto; cut those calls off the comparison.
			if len(got) > len(tt.want) {
				for _, c := range got[len(tt.want):] {
					if strings.HasPrefix(c, "sendto") {
						t.Errorf("sendto after close: %q", got)
					}
				}
				got = got[:len(tt.want)]
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("calls\n got %q\nwant %q", got, tt.want)
			}
			if len(f.open) != 0 {
				t.Errorf("descriptors left open: %v", f.open)
			}
			if tt.wantSend == "" && tt.wantOpen == "" {
				if len(f.sent) != 1 {
					t.Fatalf("sent %d datagrams", len(f.sent))
				}
				d := f.sent[0]
				if binary.BigEndian.Uint16(d[0:2]) != 51820 || binary.BigEndian.Uint16(d[2:4]) != tt.dst.Port() || string(d[8:]) != string(payload) {
					t.Errorf("datagram % x", d)
				}
				cs := binary.BigEndian.Uint16(d[6:8])
				if tt.ipv6 && cs != 0 {
					t.Errorf("ipv6 checksum %#04x, want 0 for IPV6_CHECKSUM", cs)
				}
				if !tt.ipv6 && !verifyUDPChecksum(f.local, tt.dst.Addr(), d) {
					t.Errorf("ipv4 checksum %#04x does not verify for source %v", cs, f.local)
				}
			}
		})
	}
}

func TestSenderTooLarge(t *testing.T) {
	f := &fakeSendSys{local: netip.MustParseAddr("192.0.2.1")}
	s, err := newSender(f.sys(), false, 51820, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.send(make([]byte, 65507), netip.MustParseAddrPort("203.0.113.1:3478")); err != nil {
		t.Errorf("largest IPv4 payload: %v", err)
	}
	if err := s.send(make([]byte, 65508), netip.MustParseAddrPort("203.0.113.1:3478")); !errors.Is(err, errSendTooLarge) {
		t.Errorf("one byte more: %v", err)
	}
}
