package opendht

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/e2e/netns"
	"github.com/wgstun/wgstun/src/internal/store"
)

// dhtLab is two real dhtnode processes (Debian's dhtnode, OpenDHT 2.x),
// each with its HTTP proxy server, forming a DHT of two nodes inside a
// network namespace the test creates. Nothing routes out of it. The HTTP
// client reaches the proxies with sockets made inside the namespace.
type dhtLab struct {
	ns     string
	proxyA string // node A's proxy
	proxyB string // node B's proxy (B bootstrapped from A)
	dead   string // a port nothing listens on
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)

	mu     sync.Mutex
	dialed []string
}

func need(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI: %s", why)
	}
	t.Skip(why)
}

func newDHTLab(t *testing.T) *dhtLab {
	t.Helper()
	if os.Geteuid() != 0 {
		need(t, "needs root for a network namespace")
	}
	if _, err := exec.LookPath("dhtnode"); err != nil {
		need(t, "dhtnode not installed (apt-get install dhtnode; scripts/deps.sh)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		need(t, "ip (iproute2) not installed")
	}
	l := &dhtLab{ns: fmt.Sprintf("wgsdht%d", os.Getpid())}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", l.ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.ns).Run() })
	run("-n", l.ns, "link", "set", "lo", "up")
	// OpenDHT ignores peers on 127/8 ("martian"); a private address on
	// lo is local to the namespace and accepted.
	run("-n", l.ns, "addr", "add", "10.77.0.1/24", "dev", "lo")
	l.proxyA, l.proxyB, l.dead = "http://10.77.0.1:8080", "http://10.77.0.1:8081", "http://10.77.0.1:8090"
	l.dial = l.nsDialer(l.ns)

	start := func(name string, args ...string) {
		t.Helper()
		var out bytes.Buffer
		cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns, "dhtnode", "-s"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("dhtnode %s: %v", name, err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("dhtnode %s output:\n%s", name, out.String())
			}
		})
	}
	start("A", "-p", "4222", "--proxyserver", "8080")
	start("B", "-p", "4223", "-b", "10.77.0.1:4222", "--proxyserver", "8081")

	// Ready when both proxies answer and B knows a good node (A).
	client := l.client()
	deadline := time.Now().Add(20 * time.Second)
	for {
		okA := l.info(client, l.proxyA) != ""
		info := l.info(client, l.proxyB)
		if okA && strings.Contains(info, `"good":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the DHT did not form in 20s; node B says %q", info)
		}
		time.Sleep(200 * time.Millisecond)
	}
	l.mu.Lock()
	l.dialed = nil
	l.mu.Unlock()
	return l
}

func (l *dhtLab) info(c *http.Client, ep string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ep+"/node/info", nil)
	resp, err := c.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (l *dhtLab) client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		l.mu.Lock()
		l.dialed = append(l.dialed, addr)
		l.mu.Unlock()
		return l.dial(ctx, network, addr)
	}}}
}

func (l *dhtLab) dials(addr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.dialed {
		if a == addr {
			n++
		}
	}
	return n
}

// nsDialer dials from inside the named namespace: the socket is made on a
// thread moved into it, and keeps it. Each dial has a goroutine of its own,
// so a thread that cannot move back ends with it.
func (l *dhtLab) nsDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			var r result
			r.err = netns.Do(ns, func() error {
				var d net.Dialer
				var err error
				r.c, err = d.DialContext(ctx, network, addr)
				return err
			})
			ch <- r
		}()
		r := <-ch
		return r.c, r.err
	}
}

func (l *dhtLab) store(t *testing.T, endpoints ...string) *Store {
	t.Helper()
	s, err := New(config.Store{Name: "dht", Type: config.StoreOpenDHT, Endpoints: endpoints, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Client = l.client()
	t.Cleanup(func() { s.Close() })
	return s
}

// raw sends one request to a proxy and returns the answer's body.
func (l *dhtLab) raw(t *testing.T, method, u, body string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	resp, err := l.client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: HTTP %d %s", method, u, resp.StatusCode, b)
	}
	return string(b)
}

func TestDHTNode(t *testing.T) {
	l := newDHTLab(t)
	ctx := context.Background()

	t.Run("put on one node, get from the other", func(t *testing.T) {
		a, b := l.store(t, l.proxyA), l.store(t, l.proxyB)
		if _, err := b.Get(ctx, key1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get before set: %v", err)
		}
		if err := a.Set(ctx, key1, value1); err != nil {
			t.Fatal(err)
		}
		got, err := b.Get(ctx, key1)
		if err != nil || got != value1 {
			t.Fatalf("get via node B = %q, %v", got, err)
		}
		// What dhtnode stored is stunmesh-go's format.
		body := l.raw(t, "GET", l.proxyA+"/key/"+key1, "")
		if v, _, ok := Newest([]byte(body)); !ok || v != value1 || !strings.Contains(body, `"id":`) {
			t.Errorf("dhtnode holds %q", body)
		}
	})

	t.Run("newest ts wins", func(t *testing.T) {
		const key = "1111111111111111111111111111111111111111"
		s := l.store(t, l.proxyA)
		base := time.Unix(1700000000, 0)
		for _, p := range []struct {
			at    time.Duration
			value string
		}{{0, "aa01"}, {20 * time.Second, "bb02"}, {10 * time.Second, "cc03"}} {
			s.Now = func() time.Time { return base.Add(p.at) }
			if err := s.Set(ctx, key, p.value); err != nil {
				t.Fatal(err)
			}
		}
		// Newer, but not stunmesh records: ignored.
		l.raw(t, "POST", l.proxyA+"/key/"+key, `{"data":"`+b64(`{"magic":"other-v1","ts":1800000000,"data":"ff"}`)+`"}`)
		l.raw(t, "POST", l.proxyA+"/key/"+key, `{"data":"`+b64(`not json`)+`"}`)
		l.raw(t, "POST", l.proxyA+"/key/"+key, `{"data":"`+b64(`{"magic":"stunmesh-v1","ts":1800000000,"data":"not hex"}`)+`"}`)
		if n := strings.Count(l.raw(t, "GET", l.proxyB+"/key/"+key, ""), "\n"); n != 6 {
			t.Errorf("node B sees %d values, want 6", n)
		}
		got, err := l.store(t, l.proxyB).Get(ctx, key)
		if err != nil || got != "bb02" {
			t.Errorf("get = %q, %v; want bb02 (ts +20s)", got, err)
		}
	})

	t.Run("failover from a dead endpoint", func(t *testing.T) {
		const key = "2222222222222222222222222222222222222222"
		s := l.store(t, l.dead, l.proxyB)
		deadAddr := strings.TrimPrefix(l.dead, "http://")
		before := l.dials(deadAddr)
		if err := s.Set(ctx, key, value2); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if got, err := s.Get(ctx, key); err != nil || got != value2 {
				t.Fatalf("get = %q, %v", got, err)
			}
		}
		if n := l.dials(deadAddr) - before; n != 1 {
			t.Errorf("dead endpoint dialed %d times, want 1 (then the live one is remembered)", n)
		}
	})

	t.Run("republished until Close", func(t *testing.T) {
		const key = "3333333333333333333333333333333333333333"
		s := l.store(t, l.proxyA)
		s.Republish = 100 * time.Millisecond
		if err := s.Set(ctx, key, value1); err != nil {
			t.Fatal(err)
		}
		count := func() int { return strings.Count(l.raw(t, "GET", l.proxyB+"/key/"+key, ""), "\n") }
		deadline := time.Now().Add(15 * time.Second)
		for count() < 4 {
			if time.Now().After(deadline) {
				t.Fatalf("%d values after 15s of republishing every 100ms", count())
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.Close()
		time.Sleep(300 * time.Millisecond) // a put in flight lands
		n := count()
		time.Sleep(500 * time.Millisecond)
		if m := count(); m != n {
			t.Errorf("%d more values after Close", m-n)
		}
		body := l.raw(t, "GET", l.proxyB+"/key/"+key, "")
		v, _, ok := Newest([]byte(body))
		if !ok || v != value1 {
			t.Errorf("republished values read as %q", v)
		}
	})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
