//go:build linux || freebsd || darwin

package egress

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

func TestDialUDP(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := Dial(context.Background(), "udp", srv.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := srv.ReadFromUDP(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("server read %q, %v", buf[:n], err)
	}
	if from.String() != c.LocalAddr().String() {
		t.Errorf("datagram from %s, the socket is %s", from, c.LocalAddr())
	}
	srv.WriteToUDP([]byte("pong"), from)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("client read %q, %v", buf[:n], err)
	}

	u, err := ListenUDP(false)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.WriteToUDPAddrPort([]byte("hi"), srv.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	if n, _, err := srv.ReadFromUDP(buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("server read %q, %v from ListenUDP's socket", buf[:n], err)
	}
}

func TestDialTCP(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	c.Close()
	l.Close()

	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := Dial(done, "tcp", "[::1]:9"); err == nil {
		t.Error("dial with a cancelled context succeeded")
	}
}

// TestDialTCPRefused: a port nothing listens on is refused at once, with
// the errno of the connect (read back through SO_ERROR).
func TestDialTCPRefused(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, "tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial to a closed port: %v, want connection refused", err)
	}
}

func TestDialRefusesNames(t *testing.T) {
	for _, tt := range []struct{ network, addr string }{
		{"udp", "localhost:53"},
		{"udp", "127.0.0.1"},
		{"unix", "127.0.0.1:53"},
	} {
		if c, err := Dial(context.Background(), tt.network, tt.addr); err == nil {
			c.Close()
			t.Errorf("Dial(%s, %s) succeeded", tt.network, tt.addr)
		}
	}
}
