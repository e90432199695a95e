//go:build unix && (!freebsd || cgo)

// Command deps links every dependency wgstun's design fixes (wgctrl,
// BurntSushi/toml, x/net/bpf, x/sys/unix, nacl/box) plus os/exec for store
// plugins, each used once. Nothing of wgstun's own is in it.
package main

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"

	"github.com/BurntSushi/toml"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"
)

func main() {
	var cfg map[string]any
	_, err := toml.Decode(os.Args[1], &cfg)
	fmt.Println(cfg, err)
	a, err := net.ResolveUDPAddr("udp", os.Args[2])
	fmt.Println(a, err)
	if c, err := wgctrl.New(); err == nil {
		d, err := c.Device(os.Args[3])
		fmt.Println(d, err)
	}
	prog, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: uint32(len(os.Args))}})
	fmt.Println(prog, err)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_UDP)
	fmt.Println(fd, err)
	var pub, priv [32]byte
	var nonce [24]byte
	rand.Read(nonce[:])
	fmt.Println(box.Seal(nil, []byte(os.Args[4]), &nonce, &pub, &priv))
	fmt.Println(exec.Command(os.Args[5]).Run())
}
