package bsdbpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/wgstun/wgstun/src/stun/stuntest"
)

// bpfLab is a fake FreeBSD with /dev/bpf: interfaces that come and go,
// bpf descriptors whose reads block until the test delivers a crafted
// read buffer, and a recorded send path. It checks the ioctl arguments
// the way the kernel would where the Conn depends on it.
type bpfLab struct {
	t *testing.T

	mu      sync.Mutex
	ifaces  map[string]*labIface
	fds     map[int]*labFD
	nextFD  int
	opened  []string // interface of every successful BIOCSETIF, in order
	openErr error    // returned by Open when set
	reading int      // Reads in progress
	send    fakeSendSys
}

type labIface struct {
	it   Iface
	dlt  uint32
	gone chan struct{} // closed when the interface is destroyed
}

type labFD struct {
	iface  *labIface
	blen   uint32
	bufs   chan []byte
	closed chan struct{}
}

func newBPFLab(t *testing.T) *bpfLab {
	return &bpfLab{t: t, ifaces: map[string]*labIface{}, fds: map[int]*labFD{}}
}

// add creates interface name with link type dlt and IPv4 address addr.
func (l *bpfLab) add(name string, dlt uint32, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ifaces[name] = &labIface{
		it:   Iface{Name: name, Flags: net.FlagUp | net.FlagRunning, Addrs: addrs(addr)},
		dlt:  dlt,
		gone: make(chan struct{}),
	}
}

// destroy removes interface name; reads on its devices fail with ENXIO.
func (l *bpfLab) destroy(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.ifaces[name].gone)
	delete(l.ifaces, name)
}

func (l *bpfLab) list() ([]Iface, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Iface
	for _, i := range l.ifaces {
		out = append(out, i.it)
	}
	slices.SortFunc(out, func(a, b Iface) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// deliver hands buf to the read of the open device on iface.
func (l *bpfLab) deliver(iface string, buf []byte) {
	l.t.Helper()
	l.mu.Lock()
	var fd *labFD
	for _, f := range l.fds {
		if f.iface != nil && f.iface.it.Name == iface {
			fd = f
		}
	}
	l.mu.Unlock()
	if fd == nil {
		l.t.Fatalf("no device open on %s", iface)
	}
	select {
	case fd.bufs <- buf:
	case <-time.After(5 * time.Second):
		l.t.Fatalf("nobody reads %s", iface)
	}
}

func (l *bpfLab) openFDs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fds)
}

func (l *bpfLab) sys() Sys {
	return Sys{
		Open: func(path string, mode int) (int, error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			if path != "/dev/bpf" || mode != 0 {
				l.t.Errorf("open %q mode %d", path, mode)
			}
			if l.openErr != nil {
				return -1, l.openErr
			}
			l.nextFD++
			l.fds[l.nextFD] = &labFD{bufs: make(chan []byte), closed: make(chan struct{})}
			return l.nextFD, nil
		},
		Ioctl: func(fd int, req uint, arg unsafe.Pointer) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			f := l.fds[fd]
			if f == nil {
				return syscall.EBADF
			}
			switch req {
			case biocSBLEN:
				f.blen = *(*uint32)(arg)
			case biocGBLEN:
				*(*uint32)(arg) = f.blen
			case biocSETIF:
				ifr := (*ifreq)(arg)
				name := string(bytes.TrimRight(ifr.name[:], "\x00"))
				i := l.ifaces[name]
				if i == nil {
					return syscall.ENXIO
				}
				f.iface = i
				l.opened = append(l.opened, name)
			case biocGDLT:
				if f.iface == nil {
					return syscall.EINVAL
				}
				*(*uint32)(arg) = f.iface.dlt
			case biocIMMEDIATE, biocSDIRECTION, biocSETF:
				if f.iface == nil && req != biocIMMEDIATE {
					return syscall.EINVAL
				}
			default:
				l.t.Errorf("unexpected ioctl %#x", req)
				return syscall.ENOTTY
			}
			return nil
		},
		Read: func(fd int, p []byte) (int, error) {
			l.mu.Lock()
			f := l.fds[fd]
			if f == nil {
				l.mu.Unlock()
				return 0, net.ErrClosed
			}
			l.reading++
			l.mu.Unlock()
			defer func() {
				l.mu.Lock()
				l.reading--
				l.mu.Unlock()
			}()
			select {
			case b := <-f.bufs:
				return copy(p, b), nil
			case <-f.closed:
				return 0, net.ErrClosed
			case <-f.iface.gone:
				return 0, os.NewSyscallError("read", syscall.ENXIO)
			}
		},
		Close: func(fd int) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			f := l.fds[fd]
			if f == nil {
				return syscall.EBADF
			}
			close(f.closed)
			delete(l.fds, fd)
			return nil
		},
	}
}

// stunAnswer is the STUN Binding success response (stuntest's) that
// answer frames and readAnswer expects: transaction ID twelve times id,
// XOR-MAPPED-ADDRESS 198.51.100.7:51820, FINGERPRINT.
func stunAnswer(id byte) []byte {
	var tx [12]byte
	for i := range tx {
		tx[i] = id
	}
	return stuntest.BindingSuccess(tx, netip.MustParseAddrPort("198.51.100.7:51820"))
}

// answer builds a FreeBSD bpf read buffer holding one record: the STUN
// answer stunAnswer(txid) from src to port, framed for link type dlt.
func answer(dlt uint32, src netip.AddrPort, port uint16, txid byte) []byte {
	msg := stunAnswer(txid)
	udp := make([]byte, 8+len(msg))
	binary.BigEndian.PutUint16(udp[0:2], src.Port())
	binary.BigEndian.PutUint16(udp[2:4], port)
	binary.BigEndian.PutUint16(udp[4:6], uint16(len(udp)))
	copy(udp[8:], msg)
	ip := make([]byte, 20+len(udp))
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(len(ip)))
	ip[8], ip[9] = 64, 17
	s := src.Addr().As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], []byte{192, 0, 2, 10})
	copy(ip[20:], udp)
	var link []byte
	switch dlt {
	case dltEN10MB:
		link = make([]byte, 14)
		binary.BigEndian.PutUint16(link[12:14], 0x0800)
	case dltNull:
		link = binary.LittleEndian.AppendUint32(nil, 2) // AF_INET, host order
	}
	frame := append(link, ip...)
	hdrlen := 26 // SIZEOF_BPF_HDR on FreeBSD LP64
	rec := make([]byte, hdrlen, hdrlen+len(frame))
	binary.LittleEndian.PutUint32(rec[16:20], uint32(len(frame)))
	binary.LittleEndian.PutUint32(rec[20:24], uint32(len(frame)))
	binary.LittleEndian.PutUint16(rec[24:26], uint16(hdrlen))
	return append(rec, frame...)
}

// labConn listens on the lab with a tick channel the test drives and a
// channel that reports the captured interfaces after every rescan.
func labConn(t *testing.T, l *bpfLab, opts Options) (*Conn, chan time.Time, chan []string, *bytes.Buffer) {
	t.Helper()
	tick := make(chan time.Time)
	scans := make(chan []string, 16)
	var logBuf syncBuffer
	opts.Sys = l.sys()
	opts.OS = FreeBSD
	l.send.local = netip.MustParseAddr("192.0.2.10")
	opts.Send = l.send.sys()
	opts.Interfaces = l.list
	opts.Tick = func(time.Duration) (<-chan time.Time, func()) { return tick, func() {} }
	opts.Log = textLogger{&logBuf}
	opts.onRescan = func(names []string) { scans <- names }
	c, err := Listen(51820, false, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, tick, scans, &logBuf.b
}

// textLogger writes "msg key=value ..." lines, enough for the tests to
// find an interface name in what a Conn logged.
type textLogger struct{ w io.Writer }

func (l textLogger) Info(msg string, args ...any) { l.line("INFO", msg, args) }
func (l textLogger) Warn(msg string, args ...any) { l.line("WARN", msg, args) }

func (l textLogger) line(level, msg string, args []any) {
	s := level + " " + msg
	for i := 0; i+1 < len(args); i += 2 {
		s += fmt.Sprintf(" %v=%v", args[i], args[i+1])
	}
	io.WriteString(l.w, s+"\n")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func nextScan(t *testing.T, scans chan []string) []string {
	t.Helper()
	select {
	case s := <-scans:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no rescan")
		return nil
	}
}

// readAnswer reads one datagram, checks it is exactly an answer's STUN
// message, and returns its id and sender.
func readAnswer(t *testing.T, c *Conn) (byte, netip.AddrPort) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, src, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("ReadFrom: %v", err)
	}
	if !bytes.Equal(buf[:n], stunAnswer(buf[8])) {
		t.Fatalf("read % x", buf[:n])
	}
	return buf[8], src
}

func TestConnAnswersFromTwoInterfaces(t *testing.T) {
	l := newBPFLab(t)
	l.add("igb0", dltEN10MB, "192.0.2.10")
	l.add("pppoe0", dltNull, "198.51.100.7")
	l.add("wg0", dltNull, "10.8.0.1")
	c, _, scans, _ := labConn(t, l, Options{})
	if got := nextScan(t, scans); !slices.Equal(got, []string{"igb0", "pppoe0"}) {
		t.Fatalf("capturing on %q, want igb0 and pppoe0 (never wg0)", got)
	}
	s1 := netip.MustParseAddrPort("203.0.113.1:3478")
	s2 := netip.MustParseAddrPort("203.0.113.2:19302")
	l.deliver("igb0", answer(dltEN10MB, s1, 51820, 1))
	l.deliver("pppoe0", answer(dltNull, s2, 51820, 2))
	l.deliver("igb0", answer(dltEN10MB, s1, 9999, 3)) // another port: dropped
	got := map[byte]netip.AddrPort{}
	for range 2 {
		id, src := readAnswer(t, c)
		got[id] = src
	}
	if got[1] != s1 || got[2] != s2 {
		t.Errorf("answers %v", got)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := c.ReadFrom(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("answer to another port was delivered: %v", err)
	}

	// The send path: source port 51820, checksum for the looked-up source.
	req := stuntest.Message(stuntest.TypeBindingRequest, [12]byte([]byte("abcdefghijkl")))
	if err := c.WriteTo(req, s1); err != nil {
		t.Fatal(err)
	}
	if len(l.send.sent) != 1 || !verifyUDPChecksum(l.send.local, s1.Addr(), l.send.sent[0]) ||
		binary.BigEndian.Uint16(l.send.sent[0][0:2]) != 51820 {
		t.Errorf("sent %x", l.send.sent)
	}
	for _, dst := range []string{"[2001:db8::1]:3478", "0.0.0.0:3478", "203.0.113.1:0"} {
		if err := c.WriteTo([]byte("x"), netip.MustParseAddrPort(dst)); err == nil {
			t.Errorf("WriteTo %s: no error", dst)
		}
	}
}

func TestConnDeadlines(t *testing.T) {
	l := newBPFLab(t)
	l.add("igb0", dltEN10MB, "192.0.2.10")
	c, _, _, _ := labConn(t, l, Options{})
	buf := make([]byte, 64)

	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, _, err := c.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: %v", err)
	}
	// A pending read is interrupted by a deadline set in the past from
	// another goroutine (what stun.Client.Close does).
	c.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(buf)
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("read returned early: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	c.SetReadDeadline(time.Now().Add(-time.Second))
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("interrupted read: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("deadline did not interrupt the read")
	}
	// A future deadline expires on its own; after clearing it an answer
	// arrives.
	c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, _, err := c.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("short deadline: %v", err)
	}
	go l.deliver("igb0", answer(dltEN10MB, netip.MustParseAddrPort("203.0.113.1:3478"), 51820, 7))
	if id, _ := readAnswer(t, c); id != 7 {
		t.Errorf("answer %d", id)
	}
}

func TestConnCloseStopsEverything(t *testing.T) {
	l := newBPFLab(t)
	l.add("igb0", dltEN10MB, "192.0.2.10")
	l.add("igb1", dltEN10MB, "192.0.2.11")
	c, _, scans, _ := labConn(t, l, Options{})
	nextScan(t, scans)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 64))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond) // let the read block (not a correctness wait)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("pending read: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadFrom")
	}
	// Close waited for every reader: no bpf descriptor is open, no read is
	// in progress, and the raw socket is closed.
	if n := l.openFDs(); n != 0 {
		t.Errorf("%d bpf descriptors open after Close", n)
	}
	l.mu.Lock()
	reading := l.reading
	l.mu.Unlock()
	if reading != 0 {
		t.Errorf("%d reads still running after Close", reading)
	}
	if len(l.send.open) != 0 {
		t.Errorf("send sockets open after Close: %v", l.send.open)
	}
	if _, _, err := c.ReadFrom(make([]byte, 64)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: %v", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if err := c.WriteTo([]byte("x"), netip.MustParseAddrPort("203.0.113.1:3478")); !errors.Is(err, errSendClosed) {
		t.Errorf("write after Close: %v", err)
	}
}

// A PPPoE WAN that reconnects: its interface is destroyed (reads fail with
// ENXIO), then created again; the Conn lets go of it at once and attaches
// again at the next rescan.
func TestConnInterfaceComesBack(t *testing.T) {
	l := newBPFLab(t)
	l.add("igb0", dltEN10MB, "10.0.0.1")
	l.add("pppoe0", dltNull, "198.51.100.7")
	c, tick, scans, logs := labConn(t, l, Options{})
	if got := nextScan(t, scans); !slices.Equal(got, []string{"igb0", "pppoe0"}) {
		t.Fatalf("capturing on %q", got)
	}
	l.destroy("pppoe0")
	if got := nextScan(t, scans); !slices.Equal(got, []string{"igb0"}) {
		t.Fatalf("after pppoe0 went away: capturing on %q", got)
	}
	if n := l.openFDs(); n != 1 {
		t.Errorf("%d bpf descriptors open, want 1", n)
	}
	tick <- time.Now()
	if got := nextScan(t, scans); !slices.Equal(got, []string{"igb0"}) {
		t.Fatalf("tick without pppoe0: capturing on %q", got)
	}
	l.add("pppoe0", dltNull, "198.51.100.99")
	tick <- time.Now()
	if got := nextScan(t, scans); !slices.Equal(got, []string{"igb0", "pppoe0"}) {
		t.Fatalf("after pppoe0 came back: capturing on %q", got)
	}
	src := netip.MustParseAddrPort("203.0.113.1:3478")
	l.deliver("pppoe0", answer(dltNull, src, 51820, 9))
	if id, from := readAnswer(t, c); id != 9 || from != src {
		t.Errorf("answer %d from %v", id, from)
	}
	if !strings.Contains(logs.String(), "iface=pppoe0") {
		t.Errorf("log does not name pppoe0:\n%s", logs)
	}
}

func TestConnUnknownLinkTypeLoggedOnce(t *testing.T) {
	l := newBPFLab(t)
	l.add("igb0", dltEN10MB, "10.0.0.1")
	l.add("ipsec0", 9999, "10.1.0.1")
	_, tick, scans, logs := labConn(t, l, Options{})
	if got := nextScan(t, scans); !slices.Equal(got, []string{"igb0"}) {
		t.Fatalf("capturing on %q", got)
	}
	tick <- time.Now()
	nextScan(t, scans)
	tick <- time.Now()
	nextScan(t, scans)
	if n := strings.Count(logs.String(), "unknown link type"); n != 1 {
		t.Errorf("%d log lines about the unknown link type, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "iface=ipsec0") {
		t.Errorf("log does not name the interface:\n%s", logs)
	}
	if got := strings.Count(strings.Join(l.opened, " "), "ipsec0"); got != 1 {
		t.Errorf("ipsec0 attached %d times, want once", got)
	}
}

func TestConnExplicitList(t *testing.T) {
	l := newBPFLab(t)
	l.add("igb0", dltEN10MB, "10.0.0.1")
	l.add("igb1", dltEN10MB, "10.0.1.1")
	_, tick, scans, logs := labConn(t, l, Options{Capture: []string{"igb1", "pppoe0"}})
	if got := nextScan(t, scans); !slices.Equal(got, []string{"igb1"}) {
		t.Fatalf("capturing on %q, want igb1", got)
	}
	if !strings.Contains(logs.String(), "iface=pppoe0") {
		t.Errorf("missing pppoe0 not logged:\n%s", logs)
	}
	l.add("pppoe0", dltNull, "198.51.100.7")
	tick <- time.Now()
	if got := nextScan(t, scans); !slices.Equal(got, []string{"igb1", "pppoe0"}) {
		t.Fatalf("capturing on %q, want igb1 and pppoe0", got)
	}
}

func TestListenErrors(t *testing.T) {
	l := newBPFLab(t)
	l.add("igb0", dltEN10MB, "10.0.0.1")
	l.openErr = os.NewSyscallError("open", syscall.EACCES)
	opts := Options{Sys: l.sys(), OS: FreeBSD, Send: l.send.sys(), Interfaces: l.list}
	_, err := Listen(51820, false, opts)
	if !errors.Is(err, syscall.EACCES) || !strings.Contains(err.Error(), "igb0") {
		t.Errorf("no bpf access: %v", err)
	}
	if len(l.send.open) != 0 {
		t.Errorf("send socket left open: %v", l.send.open)
	}
	if _, err := Listen(0, false, opts); err == nil {
		t.Error("port 0: no error")
	}
	if _, err := Listen(51820, false, Options{}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("no seams on linux: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	l := newBPFLab(t)
	l.add("igb0", dltEN10MB, "10.0.0.1")
	l.add("pppoe0", dltNull, "198.51.100.7")
	l.add("ipsec0", 9999, "10.1.0.1")
	l.add("wg0", dltNull, "10.8.0.1")
	opts := Options{Sys: l.sys(), OS: FreeBSD, Send: l.send.sys(), Interfaces: l.list}
	got, err := Describe(false, opts)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, i := range got {
		lines = append(lines, i.Name+" "+i.LinkType()+" "+map[bool]string{true: "ok", false: "skipped"}[i.Supported])
	}
	want := []string{"igb0 EN10MB ok", "ipsec0 unknown (9999) skipped", "pppoe0 NULL ok"}
	if !slices.Equal(lines, want) {
		t.Errorf("got %q, want %q", lines, want)
	}
	if n := l.openFDs(); n != 0 {
		t.Errorf("%d descriptors left open", n)
	}
	opts.Capture = []string{"pppoe0", "igb7"}
	got, err = Describe(false, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "igb7" || got[0].Err == nil || got[1].Name != "pppoe0" || got[1].Err != nil {
		t.Errorf("explicit list: %+v", got)
	}
}

// TestDeliverFamily: a Conn takes answers of its own family only; an
// IPv4-mapped IPv6 source counts as IPv4 and is handed out unmapped.
func TestDeliverFamily(t *testing.T) {
	for _, tc := range []struct {
		ipv6 bool
		src  string
		want string // "" for dropped
	}{
		{false, "203.0.113.1:3478", "203.0.113.1:3478"},
		{false, "[::ffff:203.0.113.1]:3478", "203.0.113.1:3478"},
		{false, "[2001:db8::1]:3478", ""},
		{true, "[2001:db8::1]:3478", "[2001:db8::1]:3478"},
		{true, "203.0.113.1:3478", ""},
		{true, "[::ffff:203.0.113.1]:3478", ""},
	} {
		c := &Conn{ipv6: tc.ipv6, packets: make(chan received, 1)}
		c.deliver([]byte("x"), netip.MustParseAddrPort(tc.src))
		got := ""
		select {
		case r := <-c.packets:
			got = r.src.String()
		default:
		}
		if got != tc.want {
			t.Errorf("ipv6=%v conn, answer from %s: delivered as %q, want %q", tc.ipv6, tc.src, got, tc.want)
		}
	}
}
