package e2e

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{name: "lines", in: "A=1\nB=x=y\n", want: map[string]string{"A": "1", "B": "x=y"}},
		{name: "blank and comment lines", in: "\n# note\nA=1\n\n", want: map[string]string{"A": "1"}},
		{name: "empty value", in: "A=\n", want: map[string]string{"A": ""}},
		{name: "empty", in: "", want: map[string]string{}},
		{name: "no equals", in: "A=1\nB\n", wantErr: true},
		{name: "empty key", in: "=1\n", wantErr: true},
		{name: "space in key", in: "A B=1\n", wantErr: true},
		{name: "duplicate", in: "A=1\nA=2\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEnv([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, errBadEnv) {
					t.Fatalf("err = %v, want errBadEnv", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestFillEnv(t *testing.T) {
	full := "PREFIX=wt1\nLAB_DIR=/tmp/wgstun-lab-wt1\nSTORE_DIR=/tmp/wgstun-lab-wt1/store\n" +
		"NAT_A=full-cone\nNAT_B=symmetric\nNATA_WAN=203.0.113.10\nNATB_WAN=203.0.113.20\n" +
		"NATA_LAN=192.168.10.1\nNATB_LAN=192.168.20.1\nA_ADDR=192.168.10.2\nB_ADDR=192.168.20.2\n" +
		"INET_GW=203.0.113.1\nSTUN1_ADDR=198.51.100.1\nSTUN2_ADDR=198.51.100.2\nSTUN_PORT=3478\n" +
		"STUN_ALT_PORT=3479\nPROBE_ADDR=198.51.100.3\n"
	tests := []struct {
		name    string
		in      string
		wantErr []string
	}{
		{name: "complete", in: full},
		{name: "missing keys", in: "PREFIX=wt1\n", wantErr: []string{"no NATA_WAN", "no STUN_PORT"}},
		{name: "bad address", in: strings.Replace(full, "NATA_WAN=203.0.113.10", "NATA_WAN=203.0.113", 1), wantErr: []string{"NATA_WAN"}},
		{name: "bad port", in: strings.Replace(full, "STUN_PORT=3478", "STUN_PORT=70000", 1), wantErr: []string{"STUN_PORT"}},
		{name: "other prefix", in: strings.Replace(full, "PREFIX=wt1", "PREFIX=wt2", 1), wantErr: []string{"PREFIX"}},
		{name: "bad key", in: full + "WG_A_IF=wt1a\nWG_B_IF=wt1b\nWG_PORT=51820\nWG_A_PUB=nokey\n", wantErr: []string{"WG_A_PUB"}},
		{name: "bad WireGuard mode", in: full + "WG_A_IF=wt1a\nWG_B_IF=wt1b\nWG_PORT=51820\nWG_MODE=boringtun\n", wantErr: []string{"WG_MODE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := parseEnv([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			l := &Lab{Prefix: "wt1"}
			err = l.fill(env)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if l.STUN1 != netip.MustParseAddrPort("198.51.100.1:3478") || l.WANB != netip.MustParseAddr("203.0.113.20") || l.STUNAltPort != 3479 {
					t.Errorf("fields: %+v", l)
				}
				return
			}
			if !errors.Is(err, errBadEnv) {
				t.Fatalf("err = %v, want errBadEnv", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	const pub = "pSb0J1tq8nQ0YUPjW/0ZTJuH8Z0p9t1W3cQ8d1hcLgU="
	tests := []struct {
		name    string
		out     string
		want    netip.AddrPort
		wantErr bool
	}{
		{name: "set", out: pub + "\t203.0.113.20:51820\n", want: netip.MustParseAddrPort("203.0.113.20:51820")},
		{name: "none", out: pub + "\t(none)\n"},
		{name: "other peer", out: "x" + pub[1:] + "\t203.0.113.20:51820\n", wantErr: true},
		{name: "garbage endpoint", out: pub + "\tnope\n", wantErr: true},
		{name: "empty", out: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEndpoint(tt.out, pub)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestConntrackMapping(t *testing.T) {
	// Lines as conntrack -L prints them (trimmed): a flow the host opened
	// (masquerade to port 40001), one opened from outside through a
	// full-cone DNAT, and unrelated ones.
	const out = `udp      17 29 src=192.168.10.2 dst=203.0.113.20 sport=51820 dport=51820 src=203.0.113.20 dst=203.0.113.10 sport=51820 dport=40001 [ASSURED] mark=0 use=1
udp      17 25 src=203.0.113.30 dst=203.0.113.10 sport=7000 dport=51820 src=192.168.10.2 dst=203.0.113.30 sport=51820 dport=7000 mark=0 use=1
udp      17 20 src=192.168.10.2 dst=198.51.100.1 sport=51820 dport=3478 src=198.51.100.1 dst=203.0.113.10 sport=3478 dport=51820 mark=0 use=1
udp      17 20 src=192.168.10.2 dst=203.0.113.20
`
	host := netip.MustParseAddr("192.168.10.2")
	tests := []struct {
		name string
		port uint16
		peer string
		want string // "" when none
	}{
		{"opened from inside", 51820, "203.0.113.20", "203.0.113.10:40001"},
		{"opened from outside", 51820, "203.0.113.30", "203.0.113.10:51820"},
		{"other port", 51821, "203.0.113.20", ""},
		{"no flow", 51820, "203.0.113.99", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := conntrackMapping(out, host, tt.port, netip.MustParseAddr(tt.peer))
			if tt.want == "" {
				if ok {
					t.Fatalf("found %v", got)
				}
				return
			}
			if !ok || got.String() != tt.want {
				t.Fatalf("got %v %v, want %s", got, ok, tt.want)
			}
		})
	}
}

func TestInNetnsBadName(t *testing.T) {
	for _, name := range []string{"", "..", "a/b", "/etc"} {
		if err := InNetns(name, func() error { return nil }); err == nil {
			t.Errorf("InNetns(%q) = nil, want an error", name)
		}
	}
}

// runLabSh runs lab.sh with args (no prefix added) and returns its output.
func runLabSh(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runLabShEnv(t, nil, args...)
}

// runLabShEnv is runLabSh with env added to the environment.
func runLabShEnv(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	script, err := findLabScript()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestLabShBadInput: lab.sh refuses bad input with an error naming it and
// creates nothing.
func TestLabShBadInput(t *testing.T) {
	RequireTools(t, labTools...)
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{name: "bad NAT type", args: []string{"up", "wbad1", "full-cone", "cgnat"}, want: "bad NAT type 'cgnat'"},
		{name: "bad prefix", args: []string{"up", "Bad-Prefix", "full-cone", "full-cone"}, want: "bad prefix 'Bad-Prefix'"},
		{name: "long prefix", args: []string{"down", "abcdefghijk"}, want: "bad prefix"},
		{name: "missing args", args: []string{"up", "wbad1"}, want: "usage: lab.sh up"},
		{name: "unknown command", args: []string{"explode", "wbad1"}, want: "usage:"},
		{name: "lab not up", args: []string{"nat-restart", "wbad1", "a"}, want: "lab wbad1 is not up"},
		{name: "bad role", args: []string{"exec", "wbad1", "nat", "true"}, want: "bad namespace role 'nat'"},
		{name: "bad LAB_WG", args: []string{"wg", "wbad1"}, env: []string{"LAB_WG=boringtun"}, want: "bad LAB_WG 'boringtun'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runLabShEnv(t, tt.env, tt.args...)
			if err == nil {
				t.Fatalf("lab.sh %v succeeded, want an error", tt.args)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("lab.sh %v said %q, want it to contain %q", tt.args, out, tt.want)
			}
		})
	}
	if _, err := os.Stat(labDir("wbad1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused lab left %s behind", labDir("wbad1"))
	}
}

// TestLabDown: down removes every namespace, process, socket and file of a
// lab with WireGuard and a stray process, and is idempotent. With kernel
// WireGuard it deletes the links too: the peers' namespaces are held open
// past down, where a link that down left would live on.
func TestLabDown(t *testing.T) {
	RequireTools(t, append(labTools, "nsenter")...)
	t.Parallel()
	var l *Lab
	held := map[string]*os.File{} // kernel WireGuard: side -> its namespace
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	t.Run("lab", func(t *testing.T) {
		l = StartLab(t, FullCone, Symmetric)
		l.SetupWireGuard()
		// A stray process that only down's namespace sweep can end.
		if out, err := l.LabSh("exec", RoleNATA, "bash", "-c", "sleep 600 </dev/null >/dev/null 2>&1 &"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if l.WGMode == WGGo {
			if _, err := os.Stat("/var/run/wireguard/" + l.WGA.Iface + ".sock"); err != nil {
				t.Fatal(err)
			}
			return
		}
		for side, p := range map[string]*WGPeer{RoleA: l.WGA, RoleB: l.WGB} {
			if out, err := l.Exec(side, "ip", "-d", "link", "show", p.Iface); err != nil || !isKernelWG(out) {
				t.Fatalf("%s is no kernel WireGuard link: %v\n%s", p.Iface, err, out)
			}
			f, err := os.Open(filepath.Join("/var/run/netns", p.Netns))
			if err != nil {
				t.Fatal(err)
			}
			held[side] = f
		}
	})
	if l == nil {
		t.Fatal("no lab")
	}
	for side, f := range held {
		iface := l.WGA.Iface
		if side == RoleB {
			iface = l.WGB.Iface
		}
		// fd 3 of nsenter is f: the namespace that down deleted the name of.
		cmd := exec.Command("nsenter", "--net=/proc/self/fd/3", "ip", "-br", "link", "show")
		cmd.ExtraFiles = []*os.File{f}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("links of %s's namespace after down: %v\n%s", side, err, out)
		} else if strings.Contains(string(out), iface) {
			t.Errorf("down left the kernel WireGuard link %s:\n%s", iface, out)
		}
	}
	for _, role := range []string{RoleA, RoleB, RoleNATA, RoleNATB, RoleInet} {
		if _, err := os.Stat(filepath.Join("/var/run/netns", l.Netns(role))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s is still there", l.Netns(role))
		}
	}
	for _, p := range []string{l.Dir, "/var/run/wireguard/" + l.WGA.Iface + ".sock", "/var/run/wireguard/" + l.WGB.Iface + ".sock"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there", p)
		}
	}
	if out, err := exec.Command("pgrep", "-f", "wireguard-go -f "+l.Prefix).CombinedOutput(); err == nil {
		t.Errorf("wireguard-go of %s still runs: %s", l.Prefix, out)
	}
	if out, err := l.LabSh("down"); err != nil {
		t.Errorf("second down: %v: %s", err, out)
	}
}

// TestLabCommands: the recovery knobs do what they say.
func TestLabCommands(t *testing.T) {
	t.Parallel()
	l := StartLab(t, PortRestrictedCone, FullCone)
	any4 := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)

	answers := func(t *testing.T, server netip.AddrPort) bool {
		t.Helper()
		c, err := l.ListenUDP(RoleA, any4)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _, err = stunBinding(c, server)
		return err == nil
	}
	wantAnswers := func(t *testing.T, want1, want2 bool) {
		t.Helper()
		if got := answers(t, l.STUN1); got != want1 {
			t.Errorf("STUN 1 answers: %v, want %v", got, want1)
		}
		if got := answers(t, l.STUN2); got != want2 {
			t.Errorf("STUN 2 answers: %v, want %v", got, want2)
		}
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("stun-stop one server", func(t *testing.T) {
		must(t, l.STUNStop(1))
		wantAnswers(t, false, true)
		must(t, l.STUNStart(1))
		wantAnswers(t, true, true)
	})
	t.Run("stun-stop coturn", func(t *testing.T) {
		must(t, l.STUNStop(0))
		wantAnswers(t, false, false)
		must(t, l.STUNStart(0))
		wantAnswers(t, true, true)
	})
	t.Run("bad server number", func(t *testing.T) {
		if err := l.STUNStop(3); err == nil {
			t.Fatal("STUNStop(3) = nil, want an error")
		}
	})

	// reaches reports whether a packet from src reaches dst's socket.
	reaches := func(t *testing.T, src interface {
		WriteToUDPAddrPort([]byte, netip.AddrPort) (int, error)
	}, to netip.AddrPort, dst interface {
		SetReadDeadline(time.Time) error
		ReadFromUDPAddrPort([]byte) (int, netip.AddrPort, error)
	}) bool {
		t.Helper()
		if _, err := src.WriteToUDPAddrPort([]byte("probe"), to); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		_ = dst.SetReadDeadline(time.Now().Add(noArrival))
		_, _, err := dst.ReadFromUDPAddrPort(buf)
		return err == nil
	}

	t.Run("flush-conntrack", func(t *testing.T) {
		// Port-restricted: X's answer passes only while conntrack knows
		// the flow.
		in, err := l.ListenUDP(RoleA, any4)
		must(t, err)
		x, err := l.ListenUDP(RoleInet, netip.AddrPortFrom(l.Probe, 0))
		must(t, err)
		xAddr := netip.MustParseAddrPort(x.LocalAddr().String())
		if !reaches(t, in, xAddr, x) {
			t.Fatal("a's packet did not reach X")
		}
		mapping := netip.AddrPortFrom(l.WANA, netip.MustParseAddrPort(in.LocalAddr().String()).Port())
		if !reaches(t, x, mapping, in) {
			t.Fatal("X's answer did not reach a before the flush")
		}
		must(t, l.FlushConntrack(RoleA))
		if reaches(t, x, mapping, in) {
			t.Fatal("X's answer reached a after conntrack was flushed")
		}
	})
	t.Run("nat-restart", func(t *testing.T) {
		// Full cone: anybody reaches b's port until the NAT restarts.
		in, err := l.ListenUDP(RoleB, any4)
		must(t, err)
		x, err := l.ListenUDP(RoleInet, netip.AddrPortFrom(l.Probe, 0))
		must(t, err)
		y, err := l.ListenUDP(RoleInet, netip.AddrPortFrom(l.STUN2.Addr(), 0))
		must(t, err)
		if !reaches(t, in, netip.MustParseAddrPort(x.LocalAddr().String()), x) {
			t.Fatal("b's packet did not reach X")
		}
		mapping := netip.AddrPortFrom(l.WANB, netip.MustParseAddrPort(in.LocalAddr().String()).Port())
		if !reaches(t, y, mapping, in) {
			t.Fatal("Y did not reach b through the full cone")
		}
		must(t, l.NATRestart(RoleB))
		if reaches(t, y, mapping, in) {
			t.Fatal("Y reached b after the NAT restarted")
		}
	})
	t.Run("wan-readdress", func(t *testing.T) {
		newAddr := netip.MustParseAddr("203.0.113.11")
		must(t, l.WANReaddress(RoleA, newAddr))
		if l.WANA != newAddr {
			t.Fatalf("WANA = %v after readdress, want %v", l.WANA, newAddr)
		}
		c, err := l.ListenUDP(RoleA, any4)
		must(t, err)
		m, _, err := stunBinding(c, l.STUN1)
		must(t, err)
		if m.Addr() != newAddr {
			t.Fatalf("mapped address %v after readdress, want %v", m, newAddr)
		}
		if err := l.WANReaddress(RoleA, l.WANB); err == nil {
			t.Fatal("readdress to the other NAT's address succeeded")
		}
		if err := l.WANReaddress(RoleA, netip.MustParseAddr("8.8.8.8")); err == nil {
			t.Fatal("readdress outside the lab succeeded")
		}
	})
}

// isKernelWG reports whether `ip -d link show` output is of a kernel
// WireGuard link (its details line names the link kind, "wireguard");
// wireguard-go's device is a "tun".
func isKernelWG(ipDetails string) bool {
	for line := range strings.Lines(ipDetails) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "wireguard" {
			return true
		}
	}
	return false
}

func TestWGMode(t *testing.T) {
	tests := []struct {
		name, env, want string
		wantErr         bool
		wireguardGo     bool // labTools has wireguard-go
	}{
		{name: "unset", env: "", want: WGGo, wireguardGo: true},
		{name: "go", env: "go", want: WGGo, wireguardGo: true},
		{name: "kernel", env: "kernel", want: WGKernel},
		{name: "unknown", env: "boringtun", wantErr: true, wireguardGo: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LAB_WG", tt.env)
			got, err := WGMode()
			if tt.wantErr != (err != nil) || got != tt.want {
				t.Errorf("WGMode() = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, errBadWGMode) {
				t.Errorf("err = %v, want errBadWGMode", err)
			}
			if has := slices.Contains(labToolsFor(tt.env), "wireguard-go"); has != tt.wireguardGo {
				t.Errorf("labToolsFor(%q) has wireguard-go: %v, want %v", tt.env, has, tt.wireguardGo)
			}
		})
	}
}

// TestIsKernelWG: `ip -d link show` (iproute2 6.1, Debian bookworm) of a
// kernel WireGuard link (captured in vmtest.sh's guest, Debian's 6.1
// kernel) and of wireguard-go's TUN device (captured on the host).
func TestIsKernelWG(t *testing.T) {
	tests := []struct {
		name, out string
		want      bool
	}{
		{name: "kernel", want: true, out: "3: w5t56b: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1420 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n" +
			"    link/none  promiscuity 0 allmulti 0 minmtu 0 maxmtu 2147483552 \n" +
			"    wireguard addrgenmode none numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535\n"},
		{name: "wireguard-go", out: "2: vmchk0: <POINTOPOINT,MULTICAST,NOARP> mtu 1420 qdisc noop state DOWN mode DEFAULT group default qlen 500\n" +
			"    link/none  promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 \n" +
			"    tun type tun pi on vnet_hdr off persist off addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size 65536\n"},
		{name: "empty", out: ""},
		{name: "name only", out: "3: wireguard: <NOARP> mtu 1420\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isKernelWG(tt.out); got != tt.want {
				t.Errorf("isKernelWG = %v, want %v", got, tt.want)
			}
		})
	}
}
