package ping

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/e2e/netns"
)

// lab is two fresh network namespaces, a and b, joined by a veth pair:
// a's p0 (10.77.0.1/24, fd77::1/64) to b's p1 (10.77.0.2/24, fd77::2/64).
// Nothing else is in them, so nothing routes out.
type lab struct {
	t    *testing.T
	id   string
	a, b string
}

// netns adds a namespace named after the lab and role, deleted when the
// test ends.
func (l *lab) netns(role string) string {
	ns := "wgsping-" + l.id + "-" + role
	l.ip("netns", "add", ns)
	l.t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	l.ip("-n", ns, "link", "set", "lo", "up")
	return ns
}

var (
	peer4    = netip.MustParseAddr("10.77.0.2")
	peer6    = netip.MustParseAddr("fd77::2")
	missing4 = netip.MustParseAddr("10.77.0.9") // on the link, but no host
	missing6 = netip.MustParseAddr("fd77::9")
)

// newLab builds the lab; pingRange is a's net.ipv4.ping_group_range
// ("1 0" forbids ping sockets, "0 2147483647" allows them for root).
func newLab(t *testing.T, pingRange string) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and ICMP sockets")
	}
	var r [4]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	l := &lab{t: t, id: id}
	l.a, l.b = l.netns("a"), l.netns("b")
	l.sysctl(l.a, "net.ipv4.ping_group_range="+pingRange)
	l.addVeth()
	return l
}

// addVeth (re)creates the veth pair with its addresses.
func (l *lab) addVeth() {
	l.ip("-n", l.a, "link", "add", "p0", "type", "veth", "peer", "name", "p1", "netns", l.b)
	for _, x := range []struct{ ns, dev, v4, v6 string }{
		{l.a, "p0", "10.77.0.1/24", "fd77::1/64"},
		{l.b, "p1", "10.77.0.2/24", "fd77::2/64"},
	} {
		l.ip("-n", x.ns, "addr", "add", x.v4, "dev", x.dev)
		l.ip("-n", x.ns, "addr", "add", x.v6, "dev", x.dev, "nodad")
		l.ip("-n", x.ns, "link", "set", x.dev, "up")
	}
}

func (l *lab) ip(args ...string) { l.run("ip", args...) }

func (l *lab) sysctl(ns, kv string) { l.run("ip", "netns", "exec", ns, "sysctl", "-qw", kv) }

func (l *lab) run(name string, args ...string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// prober starts a prober in namespace a bound to iface; it stops when
// the test ends.
func (l *lab) prober(iface string, interval time.Duration, targets ...netip.Addr) *Prober {
	l.t.Helper()
	p, err := NewProber(iface, interval)
	if err != nil {
		l.t.Fatal(err)
	}
	p.open = func(iface string, v6 bool) (c conn, dgram bool, err error) {
		err = netns.Do(l.a, func() error {
			var err error
			c, dgram, err = openConn(iface, v6)
			return err
		})
		return c, dgram, err
	}
	p.SetTargets(targets)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	l.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			l.t.Error("Run did not return after cancel")
		}
	})
	return p
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProberNetns(t *testing.T) {
	tests := []struct {
		name      string
		pingRange string
		dgram     bool
	}{
		{"ping sockets", "0 2147483647", true},
		{"raw sockets", "1 0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, tt.pingRange)
			const interval = 200 * time.Millisecond
			p := l.prober("p0", interval, peer4, peer6, missing4, missing6)
			waitFor(t, 10*time.Second, "replies and 3 misses", func() bool {
				return p.Result(peer4).Received >= 3 && p.Result(peer6).Received >= 3 &&
					p.Result(missing4).Failing() && p.Result(missing6).Failing()
			})
			p.mu.Lock()
			for i, f := range p.fams {
				if f.c == nil || f.dgram != tt.dgram {
					t.Errorf("family %d: socket %v, ping socket %v, want %v", i, f.c != nil, f.dgram, tt.dgram)
				}
			}
			p.mu.Unlock()
			for _, a := range []netip.Addr{peer4, peer6} {
				r := p.Result(a)
				// Early probes may go while IPv6 neighbour discovery runs.
				if !r.Alive() || r.Misses != 0 || r.RTT <= 0 || r.RTT > time.Second || r.LastReply.IsZero() || r.Err != "" {
					t.Errorf("%v: %+v", a, r)
				}
			}
			for _, a := range []netip.Addr{missing4, missing6} {
				if r := p.Result(a); r.Received != 0 || r.Alive() || r.Loss() != 100 {
					t.Errorf("%v: %+v", a, r)
				}
			}
			select {
			case <-p.Changed():
			default:
				t.Error("Changed never signalled")
			}
		})
	}
}

func TestBindToDevice(t *testing.T) {
	l := newLab(t, "0 2147483647")
	// q0 leads to an empty namespace c: bound to it, b's addresses are
	// unreachable although a routes to them over p0.
	c := l.netns("c")
	l.ip("-n", l.a, "link", "add", "q0", "type", "veth", "peer", "name", "q1", "netns", c)
	l.ip("-n", l.a, "addr", "add", "10.79.0.1/24", "dev", "q0")
	l.ip("-n", l.a, "addr", "add", "fd79::1/64", "dev", "q0", "nodad")
	l.ip("-n", l.a, "link", "set", "q0", "up")
	l.ip("-n", c, "link", "set", "q1", "up")
	const interval = 200 * time.Millisecond
	bound := l.prober("q0", interval, peer4, peer6)
	control := l.prober("p0", interval, peer4, peer6)
	waitFor(t, 10*time.Second, "the prober on q0 to fail and the one on p0 to get replies", func() bool {
		return bound.Result(peer4).Failing() && bound.Result(peer6).Failing() &&
			control.Result(peer4).Alive() && control.Result(peer6).Alive()
	})
	for _, a := range []netip.Addr{peer4, peer6} {
		if r := bound.Result(a); r.Received != 0 {
			t.Errorf("%v reached through q0: %+v", a, r)
		} else {
			t.Logf("%v through q0: %+v", a, r)
		}
	}
}

func TestRecreateInterface(t *testing.T) {
	l := newLab(t, "1 0")
	const interval = 200 * time.Millisecond
	p := l.prober("p0", interval, peer4, peer6)
	waitFor(t, 10*time.Second, "replies", func() bool { return p.Result(peer4).Alive() && p.Result(peer6).Alive() })

	l.ip("-n", l.a, "link", "del", "p0")
	waitFor(t, 10*time.Second, "misses after deleting p0", func() bool {
		return p.Result(peer4).Failing() && p.Result(peer6).Failing()
	})
	t.Logf("while p0 is gone: %+v / %+v", p.Result(peer4), p.Result(peer6))

	// IPv4 sends failed with ENODEV, which drops the socket by itself;
	// IPv6 ones with ENETUNREACH, which needs Reopen (the daemon calls it
	// when the interface index changes).
	l.addVeth()
	waitFor(t, 10*time.Second, "IPv4 replies on the new p0", func() bool { return p.Result(peer4).Alive() })
	p.Reopen()
	waitFor(t, 10*time.Second, "IPv6 replies on the new p0 after Reopen", func() bool { return p.Result(peer6).Alive() })
	if r := p.Result(peer4); r.Err != "" {
		t.Errorf("error left after recovery: %+v", r)
	}
}
