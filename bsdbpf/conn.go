package bsdbpf

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

var (
	errConnZeroPort    = errors.New("port 0")
	errConnFamily      = errors.New("address family does not match the socket")
	errConnDestination = errors.New("unspecified address or port 0")
)

// Defaults of Options.
const (
	DefaultRescan     = 5 * time.Second
	deviceBufSize     = 1 << 15 // STUN answers are small; 32 KiB holds dozens
	receiveQueueDepth = 32      // answers waiting for ReadFrom; more are dropped
)

// Options configure Listen and Describe. The zero value captures on every
// eligible interface with the running system's calls.
type Options struct {
	// Capture lists the interfaces to read answers on. Empty: every
	// interface that is up, not a loopback, not WireGuard's and has an
	// address of the family (see selectIfaces).
	Capture []string
	// FIB is the FreeBSD routing table (setfib(1)) STUN requests are sent
	// in; 0 leaves the process's own. Pass the FIB WireGuard's socket uses
	// when a full tunnel would otherwise route STUN into the tunnel.
	FIB int
	// BoundIf is the macOS interface STUN requests leave through
	// (IP_BOUND_IF); empty follows the routing table.
	BoundIf string
	// Log receives the interface changes; nil discards them.
	Log Logger
	// Rescan is how often the interface list is read again; 0 means
	// DefaultRescan.
	Rescan time.Duration

	// Seams. Zero values select the running system's.
	Sys        Sys                                              // /dev/bpf calls
	OS         OS                                               // which BSD the Sys behaves like
	Send       SendSys                                          // raw socket calls
	Interfaces func() ([]Iface, error)                          // interface lister
	Tick       func(d time.Duration) (<-chan time.Time, func()) // rescan clock

	// onRescan, when set (tests), is called after every rescan with the
	// interfaces captured on.
	onRescan func(names []string)
}

// Logger is what a Conn logs through: args are key, value pairs, as
// log/slog's. The daemon's logger and *slog.Logger both satisfy it.
type Logger interface {
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
}

type discard struct{}

func (discard) Info(string, ...any) {}
func (discard) Warn(string, ...any) {}

// withArgs adds args to every line, as slog's With does.
type withArgs struct {
	l    Logger
	args []any
}

func (w withArgs) Info(msg string, args ...any) { w.l.Info(msg, w.with(args)...) }
func (w withArgs) Warn(msg string, args ...any) { w.l.Warn(msg, w.with(args)...) }

func (w withArgs) with(args []any) []any {
	return append(w.args[:len(w.args):len(w.args)], args...)
}

// withDefaults fills in the running system's seams.
func (o Options) withDefaults() (Options, error) {
	if o.Log == nil {
		o.Log = discard{}
	}
	if o.Rescan <= 0 {
		o.Rescan = DefaultRescan
	}
	if o.Interfaces == nil {
		o.Interfaces = listInterfaces
	}
	if o.Tick == nil {
		o.Tick = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if o.Sys.Open == nil || o.OS == 0 || o.Send.OpenRaw == nil {
		sys, os, send, ok := nativeSeams()
		if !ok {
			return o, ErrNotSupported
		}
		if o.Sys.Open == nil {
			o.Sys = sys
		}
		if o.OS == 0 {
			o.OS = os
		}
		if o.Send.OpenRaw == nil {
			o.Send = send
		}
	}
	return o, nil
}

// Conn sends STUN requests from a UDP port owned by someone else through a
// raw socket and reads the answers from /dev/bpf on every captured
// interface, for one address family. It satisfies stun.Conn. WriteTo and
// ReadFrom may be called concurrently.
type Conn struct {
	port uint16
	ipv6 bool
	opts Options
	log  Logger
	snd  *sender

	packets chan received
	done    chan struct{}
	once    sync.Once
	manager sync.WaitGroup

	mu        sync.Mutex // guards deadline and dlChanged
	deadline  time.Time
	dlChanged chan struct{} // closed when the deadline changes

	// Owned by the goroutine that runs rescans (Listen, then manage).
	devs    map[string]*Device
	failed  map[string]bool // read failed since the last tick
	skipped map[string]bool // unknown link type, logged once
	missing map[string]bool // listed in Capture but absent, logged once
	exited  chan exitNote
	readers sync.WaitGroup
}

type received struct {
	data []byte
	src  netip.AddrPort
}

type exitNote struct {
	name string
	dev  *Device
	err  error
}

// Listen opens the packet path for UDP port port: IPv4 when ipv6 is false,
// IPv6 when it is true. It opens the raw send socket, attaches /dev/bpf to
// the interfaces Options select and keeps that set current as interfaces
// come and go. It needs root. On systems other than FreeBSD and macOS,
// without seams in opts, it returns an error wrapping ErrNotSupported.
func Listen(port uint16, ipv6 bool, opts Options) (*Conn, error) {
	fam := familyName(ipv6)
	if port == 0 {
		return nil, fmt.Errorf("bsdbpf: listen %s: %w", fam, errConnZeroPort)
	}
	c, err := listen(port, ipv6, opts)
	if err != nil {
		return nil, fmt.Errorf("bsdbpf: listen %s port %d: %w", fam, port, err)
	}
	return c, nil
}

func familyName(ipv6 bool) string {
	if ipv6 {
		return "ipv6"
	}
	return "ipv4"
}

func listen(port uint16, ipv6 bool, opts Options) (*Conn, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	snd, err := newSender(opts.Send, ipv6, port, opts.FIB, opts.BoundIf)
	if err != nil {
		return nil, err
	}
	c := &Conn{
		port:      port,
		ipv6:      ipv6,
		opts:      opts,
		log:       withArgs{opts.Log, []any{"port", port, "family", familyName(ipv6)}},
		snd:       snd,
		packets:   make(chan received, receiveQueueDepth),
		done:      make(chan struct{}),
		dlChanged: make(chan struct{}),
		devs:      map[string]*Device{},
		failed:    map[string]bool{},
		skipped:   map[string]bool{},
		missing:   map[string]bool{},
		exited:    make(chan exitNote),
	}
	if err := c.rescan(true); err != nil {
		close(c.done) // readers that already failed stop waiting for manage
		c.closeDevices()
		snd.close()
		return nil, err
	}
	tick, stop := opts.Tick(opts.Rescan)
	c.manager.Add(1)
	go c.manage(tick, stop)
	return c, nil
}

// rescan lists the interfaces, closes the devices of those no longer
// selected and opens devices on the new ones. A tick rescan also retries
// interfaces whose reads failed since the last one. It returns an error
// only when interfaces were to be opened and every one failed for a
// reason other than an unknown link type (no /dev/bpf access, say), so
// Listen can report it.
func (c *Conn) rescan(tick bool) error {
	defer func() {
		if c.opts.onRescan != nil {
			names := make([]string, 0, len(c.devs))
			for n := range c.devs {
				names = append(names, n)
			}
			slices.Sort(names)
			c.opts.onRescan(names)
		}
	}()
	all, err := c.opts.Interfaces()
	if err != nil {
		c.log.Warn("cannot list interfaces", "err", err)
		return fmt.Errorf("list interfaces: %w", err)
	}
	want := selectIfaces(all, c.opts.Capture, c.ipv6, c.opts.OS)
	wanted := make(map[string]bool, len(want))
	for _, n := range want {
		wanted[n] = true
	}
	present := make(map[string]bool, len(all))
	for _, it := range all {
		present[it.Name] = true
	}
	for name := range c.skipped {
		if !present[name] {
			delete(c.skipped, name) // recreated later: look again
		}
	}
	for _, name := range c.opts.Capture {
		if !wanted[name] && !c.missing[name] {
			c.missing[name] = true
			c.log.Warn("interface to capture on is missing or down; waiting for it", "iface", name)
		} else if wanted[name] {
			delete(c.missing, name)
		}
	}
	for name, d := range c.devs {
		if !wanted[name] {
			delete(c.devs, name)
			d.Close()
			c.log.Info("stopped capture", "iface", name)
		}
	}
	var errs []error
	tried := 0
	for _, name := range want {
		if c.devs[name] != nil || c.skipped[name] || (!tick && c.failed[name]) {
			continue
		}
		tried++
		d, err := OpenDevice(c.opts.Sys, c.opts.OS, name, c.port, deviceBufSize)
		if errors.Is(err, ErrUnknownLinkType) {
			c.skipped[name] = true
			c.log.Warn("not capturing: unknown link type", "iface", name, "err", err)
			continue
		}
		if err != nil {
			c.log.Warn("cannot capture", "iface", name, "err", err)
			errs = append(errs, err)
			continue
		}
		c.devs[name] = d
		c.readers.Add(1)
		go c.read(name, d)
		c.log.Info("capturing", "iface", name)
	}
	if tick {
		clear(c.failed)
	}
	if tried > 0 && len(errs) == tried {
		return errors.Join(errs...)
	}
	if len(want) == 0 {
		c.log.Warn("no interface to capture STUN answers on yet")
	}
	return nil
}

// read hands the device's answers to ReadFrom until the device fails or
// is closed.
func (c *Conn) read(name string, d *Device) {
	defer c.readers.Done()
	for {
		if err := d.ReadPackets(c.deliver); err != nil {
			select {
			case c.exited <- exitNote{name: name, dev: d, err: err}:
			case <-c.done:
			}
			return
		}
		select {
		case <-c.done:
			return
		default:
		}
	}
}

// deliver queues an answer of the Conn's family for ReadFrom; with the
// queue full it is dropped, as a full socket buffer would.
func (c *Conn) deliver(payload []byte, src netip.AddrPort) {
	a := src.Addr()
	if (a.Is6() && !a.Is4In6()) != c.ipv6 {
		return
	}
	if !c.ipv6 {
		src = netip.AddrPortFrom(a.Unmap(), src.Port())
	}
	select {
	case c.packets <- received{data: bytes.Clone(payload), src: src}:
	default:
	}
}

// manage runs rescans on the clock and when a device fails, until Close.
func (c *Conn) manage(tick <-chan time.Time, stop func()) {
	defer c.manager.Done()
	defer stop()
	for {
		select {
		case <-c.done:
			c.closeDevices()
			return
		case <-tick:
			c.rescan(true)
		case n := <-c.exited:
			if c.devs[n.name] != n.dev {
				continue // closed by a rescan already
			}
			delete(c.devs, n.name)
			n.dev.Close()
			c.failed[n.name] = true
			if interfaceGone(n.err) {
				c.log.Info("interface gone; looking again", "iface", n.name, "err", n.err)
				c.rescan(false)
			} else {
				c.log.Warn("capture failed; retrying at the next rescan", "iface", n.name, "err", n.err)
			}
		}
	}
}

// interfaceGone reports whether a read error means the interface was
// destroyed under the device.
func interfaceGone(err error) bool {
	return errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENODEV)
}

// closeDevices closes every device and waits for their readers.
func (c *Conn) closeDevices() {
	for name, d := range c.devs {
		d.Close()
		delete(c.devs, name)
	}
	c.readers.Wait()
}

// WriteTo sends payload in a UDP datagram from the Conn's port to dst,
// which must belong to the Conn's address family (an IPv4-mapped IPv6
// address counts as IPv4).
func (c *Conn) WriteTo(payload []byte, dst netip.AddrPort) error {
	a := dst.Addr()
	var err error
	switch {
	case !a.IsValid() || a.IsUnspecified() || dst.Port() == 0:
		err = errConnDestination
	case c.ipv6 && (!a.Is6() || a.Is4In6()):
		err = errConnFamily
	case !c.ipv6 && !a.Unmap().Is4():
		err = errConnFamily
	default:
		if !c.ipv6 {
			dst = netip.AddrPortFrom(a.Unmap(), dst.Port())
		}
		err = c.snd.send(payload, dst)
	}
	if err != nil {
		return fmt.Errorf("bsdbpf: send from port %d to %v: %w", c.port, dst, err)
	}
	return nil
}

// ReadFrom waits for the next STUN answer sent to the Conn's port on any
// captured interface, copies it into buf (truncating as a UDP socket
// would) and returns its length and sender. After Close it returns an
// error wrapping net.ErrClosed; past the read deadline, one wrapping
// os.ErrDeadlineExceeded.
func (c *Conn) ReadFrom(buf []byte) (int, netip.AddrPort, error) {
	for {
		c.mu.Lock()
		dl, changed := c.deadline, c.dlChanged
		c.mu.Unlock()
		select {
		case <-c.done:
			return 0, netip.AddrPort{}, c.readError(net.ErrClosed)
		default:
		}
		var expire <-chan time.Time
		var timer *time.Timer
		if !dl.IsZero() {
			wait := time.Until(dl)
			if wait <= 0 {
				return 0, netip.AddrPort{}, c.readError(os.ErrDeadlineExceeded)
			}
			timer = time.NewTimer(wait)
			expire = timer.C
		}
		select {
		case p := <-c.packets:
			stopTimer(timer)
			return copy(buf, p.data), p.src, nil
		case <-c.done:
			stopTimer(timer)
			return 0, netip.AddrPort{}, c.readError(net.ErrClosed)
		case <-expire:
			return 0, netip.AddrPort{}, c.readError(os.ErrDeadlineExceeded)
		case <-changed:
			stopTimer(timer)
		}
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

func (c *Conn) readError(err error) error {
	return fmt.Errorf("bsdbpf: read port %d: %w", c.port, err)
}

// SetReadDeadline sets the deadline for pending and future ReadFrom calls;
// a zero t means none. A pending ReadFrom sees the new deadline at once.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	close(c.dlChanged)
	c.dlChanged = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// Close stops every capture, closes the send socket and waits for the
// Conn's goroutines to end; a blocked ReadFrom returns net.ErrClosed.
func (c *Conn) Close() error {
	first := false
	var err error
	c.once.Do(func() {
		first = true
		close(c.done)
		c.manager.Wait()
		err = c.snd.close()
	})
	if !first {
		err = net.ErrClosed
	}
	if err != nil {
		return fmt.Errorf("bsdbpf: close port %d: %w", c.port, err)
	}
	return nil
}
