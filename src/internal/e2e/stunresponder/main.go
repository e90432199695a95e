// Command stunresponder is the smallest STUN server the VM tests need: it
// answers every Binding request on the UDP addresses given with -listen by a
// Binding success response carrying the request's source as
// XOR-MAPPED-ADDRESS (RFC 5389 section 15.2) and a FINGERPRINT. It does none
// of RFC 5780's CHANGE-REQUEST tests, so a client classifying its NAT
// against it learns only its mapping. Anything that is not a Binding request
// is dropped.
//
// It is built with the tests for the machines that run them (mipsle in the
// malta VM): stdlib and pion/stun, the codec the e2e tests already trust as
// the reference.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/pion/stun/v3"
)

func main() {
	listen := flag.String("listen", "", "comma-separated UDP addresses to answer on, e.g. 198.51.100.1:3478,198.51.100.2:3478")
	verbose := flag.Bool("v", false, "log every answer")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("stunresponder: ")
	addrs, err := parseAddrs(*listen)
	if err != nil {
		log.Fatal(err)
	}
	errs := make(chan error, len(addrs))
	for _, a := range addrs {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(a))
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("listening on %s", c.LocalAddr())
		go func() { errs <- serve(c, *verbose) }()
	}
	log.Fatal(<-errs)
}

// parseAddrs splits the -listen value into addresses with a port.
func parseAddrs(s string) ([]netip.AddrPort, error) {
	if s == "" {
		return nil, errors.New("-listen is required")
	}
	var out []netip.AddrPort
	for _, f := range strings.Split(s, ",") {
		a, err := netip.ParseAddrPort(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("-listen: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// serve answers on c until a read fails.
func serve(c *net.UDPConn, verbose bool) error {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return fmt.Errorf("read on %s: %w", c.LocalAddr(), err)
		}
		resp, ok := answer(buf[:n], from)
		if !ok {
			continue
		}
		if _, err := c.WriteToUDPAddrPort(resp, from); err != nil {
			fmt.Fprintf(os.Stderr, "stunresponder: answer %s: %v\n", from, err)
			continue
		}
		if verbose {
			log.Printf("%s answered on %s", from, c.LocalAddr())
		}
	}
}

// answer is the Binding success response to the request b that came from
// from, or false when b is not a Binding request.
func answer(b []byte, from netip.AddrPort) ([]byte, bool) {
	if !stun.IsMessage(b) {
		return nil, false
	}
	req := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := req.Decode(); err != nil || req.Type != stun.BindingRequest {
		return nil, false
	}
	resp, err := stun.Build(
		stun.NewTransactionIDSetter(req.TransactionID),
		stun.BindingSuccess,
		&stun.XORMappedAddress{IP: from.Addr().Unmap().AsSlice(), Port: int(from.Port())},
		stun.Fingerprint,
	)
	if err != nil {
		return nil, false
	}
	return resp.Raw, true
}
