package egress

import (
	"context"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMarkApplied: sockets from ListenConfig, Dialer, Dial and ListenUDP carry the policy's
// fwmark; with the zero policy they carry none.
func TestMarkApplied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SO_MARK needs CAP_NET_ADMIN (make test runs as root)")
	}
	defer Set(Policy{})
	for _, want := range []uint32{0x51820, 0} {
		if changed := Set(Policy{Mark: want}); !changed {
			t.Fatalf("Set(%#x) reported no change", want)
		}
		pc, err := ListenConfig().ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c, err := Dialer().Dial("udp4", pc.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		d, err := Dial(context.Background(), "udp", pc.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		l, err := ListenUDP(false)
		if err != nil {
			t.Fatal(err)
		}
		for name, sc := range map[string]*net.UDPConn{"listen": pc.(*net.UDPConn), "dial": c.(*net.UDPConn), "Dial": d.(*net.UDPConn), "ListenUDP": l} {
			raw, err := sc.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var got int
			var gerr error
			raw.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK) })
			if gerr != nil || uint32(got) != want {
				t.Errorf("%s socket: mark %#x (%v), want %#x", name, got, gerr, want)
			}
		}
		pc.Close()
		c.Close()
		d.Close()
		l.Close()
	}
}
