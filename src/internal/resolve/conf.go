package resolve

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// conf is what wgstun uses of resolv.conf(5).
type conf struct {
	servers  []netip.AddrPort // nameserver lines, at most maxServers, port 53
	search   []string         // absolute names, at most maxSearch
	ndots    int              // options ndots:n; default 1
	timeout  time.Duration    // options timeout:n, per server and try; default 5 s
	attempts int              // options attempts:n, rounds over the servers; default 2
}

// Limits of resolv.conf as the C library has them (MAXNS, MAXDNSRCH and
// the options' caps), and of what is read of a file at all.
const (
	maxServers  = 3
	maxSearch   = 6
	maxNdots    = 15
	maxTimeout  = 30
	maxAttempts = 5
	maxFileSize = 64 << 10
)

// readFile reads at most maxFileSize bytes of path; a missing or
// unreadable file is empty.
func readFile(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxFileSize))
	return b
}

// readConf reads resolv.conf at path. Lines it does not understand are
// skipped, as the C library skips them; without a nameserver line the
// local host is asked (127.0.0.1 and ::1), as the C library does.
func readConf(path string) *conf {
	c := &conf{ndots: 1, timeout: 5 * time.Second, attempts: 2}
	sc := bufio.NewScanner(bytes.NewReader(readFile(path)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0][0] == '#' || f[0][0] == ';' {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 || len(c.servers) == maxServers {
				continue
			}
			if a, err := netip.ParseAddr(f[1]); err == nil {
				c.servers = append(c.servers, netip.AddrPortFrom(a.Unmap(), 53))
			}
		case "domain", "search": // the last of them wins
			c.search = c.search[:0]
			for _, d := range f[1:] {
				if len(c.search) < maxSearch && d != "." {
					c.search = append(c.search, absolute(strings.ToLower(d)))
				}
			}
		case "options":
			for _, o := range f[1:] {
				k, v, _ := strings.Cut(o, ":")
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					continue
				}
				switch k {
				case "ndots":
					c.ndots = min(n, maxNdots)
				case "timeout":
					c.timeout = time.Duration(min(max(n, 1), maxTimeout)) * time.Second
				case "attempts":
					c.attempts = min(max(n, 1), maxAttempts)
				}
			}
		}
	}
	if len(c.servers) == 0 {
		c.servers = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53"), netip.MustParseAddrPort("[::1]:53")}
	}
	return c
}

// names lists the absolute names to ask for, in order: name alone if it
// ends in a dot; otherwise name as it is first when it has at least ndots
// dots, else after the search list's names.
func (c *conf) names(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	var out []string
	for _, d := range c.search {
		if len(name)+1+len(d) <= 254 {
			out = append(out, name+"."+d)
		}
	}
	if strings.Count(name, ".") >= c.ndots {
		return append([]string{name + "."}, out...)
	}
	return append(out, name+".")
}

// readHosts returns the addresses of the family that the hosts file at
// path gives name (case-insensitive, with or without the final dot).
func readHosts(path, name string, ipv6 bool) []netip.Addr {
	name = strings.TrimSuffix(name, ".")
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(readFile(path)))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil || a.Unmap().Is6() != ipv6 {
			continue
		}
		for _, h := range f[1:] {
			if strings.EqualFold(strings.TrimSuffix(h, "."), name) {
				out = append(out, a.Unmap())
				break
			}
		}
	}
	return out
}
