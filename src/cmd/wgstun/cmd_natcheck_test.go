package main

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/stun/v3"
)

// fakeSTUN answers Binding requests on 127.0.0.1 with the sender's address
// (built with pion/stun, the reference implementation) and no
// OTHER-ADDRESS, until the test ends.
func fakeSTUN(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req := &pion.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type != pion.BindingRequest {
				continue
			}
			resp := pion.MustBuild(pion.NewTransactionIDSetter(req.TransactionID), pion.BindingSuccess,
				&pion.XORMappedAddress{IP: from.IP, Port: from.Port}, pion.Fingerprint)
			c.WriteToUDP(resp.Raw, from)
		}
	}()
	addr := netip.MustParseAddrPort(c.LocalAddr().String())
	warmUp(t, addr)
	return addr
}

// warmUp asks the server once and waits (at most 10 s) for its answer, so
// that the first run of its code, slow on an emulated CPU, is not timed by
// the nat-check under test (a guest run once saw the first server miss
// nat-check's wait).
func warmUp(t *testing.T, addr netip.AddrPort) {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := pion.MustBuild(pion.TransactionID, pion.BindingRequest)
	buf := make([]byte, 1500)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Write(req.Raw); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.Read(buf); err == nil {
			return
		}
	}
	t.Fatalf("fake STUN server %s did not answer within 10 s", addr)
}

func TestNATCheckCommand(t *testing.T) {
	s1, s2 := fakeSTUN(t), fakeSTUN(t)
	var out, errb strings.Builder
	if code := run([]string{"nat-check", "-s", s1.String(), "-s", s2.String()}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"STUN server   " + s1.String() + " (no OTHER-ADDRESS)\n",
		"mapping       none (no NAT)\n",
		"filtering     unknown\n",
		"NAT type      no NAT (filtering unknown)\n",
		"note: filtering not tested: no server offers OTHER-ADDRESS (RFC 5780)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"nat-check", "-s", s1.String(), "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got struct {
		Server, Mapping, Filtering string
		NATType                    string `json:"nat_type"`
		Tests                      []struct {
			Name     string
			Answered bool
		}
	}
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if got.Server != s1.String() || got.Mapping != "none (no NAT)" || got.Filtering != "unknown" ||
		got.NATType != "no NAT (filtering unknown)" || len(got.Tests) != 1 || !got.Tests[0].Answered {
		t.Errorf("JSON %+v", got)
	}
}

func TestNATCheckErrors(t *testing.T) {
	silent, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no answer", []string{"-s", silent.LocalAddr().String()}, 1, "no STUN server answered: " + silent.LocalAddr().String() + ": no answer"},
		{"bad server", []string{"-s", "nonsense"}, 1, "nonsense"},
		{"no config", []string{"-c", "/nonexistent/wgstun.toml"}, 2, "give STUN servers with -s"},
		{"stray argument", []string{"-s", "127.0.0.1:1", "extra"}, 2, `unexpected argument "extra"`},
		{"IPv6 only servers for IPv4", []string{"-s", "[::1]:3478"}, 1, "no IPv4 address among the STUN servers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			code := run(append([]string{"nat-check"}, tt.args...), &out, &errb)
			if code != tt.code || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errb.String(), tt.code, tt.want)
			}
		})
	}
}
