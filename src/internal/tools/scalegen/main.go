// Command scalegen writes the fixtures of scripts/scale.sh: one WireGuard
// interface with N peers, and a file store holding the record each of those
// peers would have published for the interface.
//
//	scalegen -n 500 -port 51820 -store DIR -wgconf FILE -published FILE -expect FILE
//
// It writes:
//   - wgconf: a `wg setconf` file: a fresh private key and listen port, then
//     N peers with random keys, allowed-ips 10.200.x.y/32 and
//     persistent-keepalive 25, no endpoint;
//   - store: for peer i, the file record.Key(peer, host) holding the record
//     the peer would seal for the host, with the endpoint
//     203.0.113.(1+i%254):(20000+i) and the current time;
//   - published: the store keys the daemon will write, record.Key(host,
//     peer), one a line, so that the script can watch them being rewritten;
//   - expect: "PEER-PUBLIC-KEY<TAB>ENDPOINT" a line, sorted, the endpoints
//     `wg show IFACE endpoints` must show once the daemon has read every record.
//
// It is a benchmark fixture generator, not part of the daemon.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/record"
)

// maxPeers keeps allowed-ips inside 10.200.0.0/16 and ports below 65536.
const maxPeers = 45000

type options struct {
	n         int
	port      int
	store     string
	wgconf    string
	published string
	expect    string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 0, "number of peers (1 to 45000)")
	flag.IntVar(&o.port, "port", 51820, "listen port of the interface")
	flag.StringVar(&o.store, "store", "", "file store directory to fill (created 0700)")
	flag.StringVar(&o.wgconf, "wgconf", "", "wg setconf file to write")
	flag.StringVar(&o.published, "published", "", "file to write the daemon's own store keys to")
	flag.StringVar(&o.expect, "expect", "", "file to write the expected peer endpoints to")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "scalegen:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	var errs []error
	if o.n < 1 || o.n > maxPeers {
		errs = append(errs, fmt.Errorf("-n %d: want 1 to %d", o.n, maxPeers))
	}
	if o.port < 1 || o.port > 65535 {
		errs = append(errs, fmt.Errorf("-port %d: want 1 to 65535", o.port))
	}
	for _, f := range []struct{ name, val string }{
		{"-store", o.store}, {"-wgconf", o.wgconf}, {"-published", o.published}, {"-expect", o.expect},
	} {
		if f.val == "" {
			errs = append(errs, fmt.Errorf("%s is required", f.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.MkdirAll(o.store, 0o700); err != nil {
		return fmt.Errorf("create store %s: %w", o.store, err)
	}

	host, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return fmt.Errorf("generate host key: %w", err)
	}
	hostPub := host.PublicKey()
	now := time.Now()

	var conf strings.Builder
	fmt.Fprintf(&conf, "[Interface]\nPrivateKey = %s\nListenPort = %d\n", host, o.port)
	var published, expect []string
	for i := range o.n {
		priv, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			return fmt.Errorf("generate key of peer %d: %w", i, err)
		}
		pub := priv.PublicKey()
		ep := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i%254)}), uint16(20000+i))
		val, err := record.Seal(record.Endpoints{IPv4: ep, Time: now}, priv, hostPub, nil)
		if err != nil {
			return fmt.Errorf("seal record of peer %d: %w", i, err)
		}
		path := filepath.Join(o.store, record.Key(pub, hostPub))
		if err := os.WriteFile(path, []byte(val), 0o600); err != nil {
			return fmt.Errorf("write record of peer %d: %w", i, err)
		}
		ip := netip.AddrFrom4([4]byte{10, 200, byte((i + 1) >> 8), byte(i + 1)})
		fmt.Fprintf(&conf, "\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\nPersistentKeepalive = 25\n", pub, ip)
		published = append(published, record.Key(hostPub, pub))
		expect = append(expect, pub.String()+"\t"+ep.String())
	}
	sort.Strings(expect)

	if err := os.WriteFile(o.wgconf, []byte(conf.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", o.wgconf, err)
	}
	if err := writeLines(o.published, published); err != nil {
		return err
	}
	return writeLines(o.expect, expect)
}

func writeLines(path string, lines []string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
