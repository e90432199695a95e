package portmap

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
)

// The byte layouts below are written out from the RFCs' figures (RFC 6886
// §3.2-3.3, RFC 6887 §7.1-7.2 and §11.1), not from the encoder.

func TestPMPRequests(t *testing.T) {
	if got := appendPMPAddress(nil); !bytes.Equal(got, []byte{0, 0}) {
		t.Errorf("address request % x", got)
	}
	got := appendPMPMap(nil, 51820, 51821, 7200)
	want := []byte{0, 1, 0, 0, 0xca, 0x6c, 0xca, 0x6d, 0, 0, 0x1c, 0x20}
	if !bytes.Equal(got, want) {
		t.Errorf("map request % x, want % x", got, want)
	}
}

func TestParsePMP(t *testing.T) {
	tests := []struct {
		name    string
		in      string // hex
		want    pmpResponse
		wantErr error
	}{
		{name: "address", in: "0080000000000e10cb00710a",
			want: pmpResponse{op: 0, epoch: 3600, external: netip.MustParseAddr("203.0.113.10")}},
		{name: "mapping", in: "00810000000000 05ca6cca6d00001c20",
			want: pmpResponse{op: 1, epoch: 5, internal: 51820, mapped: 51821, lifetime: 7200}},
		{name: "refused short", in: "0081000200000007",
			want: pmpResponse{op: 1, result: 2, epoch: 7}},
		{name: "short", in: "00800000", wantErr: ErrMalformed},
		{name: "address truncated", in: "00800000000000 01cb00", wantErr: ErrMalformed},
		{name: "mapping truncated", in: "0081000000000001ca6cca6d", wantErr: ErrMalformed},
		{name: "request echoed", in: "000100000000000000000000", wantErr: ErrMalformed},
		{name: "pcp version", in: "0281000000000000000000000000000000000000", wantErr: ErrMalformed},
		{name: "unknown opcode", in: "0085000000000000", wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustHex(t, tt.in)
			got, err := parsePMP(b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestResultCodes(t *testing.T) {
	pmp := []struct {
		code uint16
		want error
	}{{1, ErrUnsupportedVersion}, {2, ErrNotAuthorized}, {3, ErrNetworkFailure}, {4, ErrNoResources}, {5, ErrUnsupported}, {99, ErrRefused}}
	for _, tt := range pmp {
		if err := pmpError(tt.code); !errors.Is(err, tt.want) {
			t.Errorf("NAT-PMP result %d: %v, want %v", tt.code, err, tt.want)
		}
	}
	if pmpError(0) != nil || pcpError(0) != nil {
		t.Error("success is an error")
	}
	pcp := []struct {
		code uint8
		want error
		name string
	}{
		{1, ErrUnsupportedVersion, "UNSUPP_VERSION"}, {2, ErrNotAuthorized, "NOT_AUTHORIZED"},
		{3, ErrUnsupported, "MALFORMED_REQUEST"}, {4, ErrUnsupported, "UNSUPP_OPCODE"},
		{5, ErrUnsupported, "UNSUPP_OPTION"}, {6, ErrUnsupported, "MALFORMED_OPTION"},
		{7, ErrNetworkFailure, "NETWORK_FAILURE"}, {8, ErrNoResources, "NO_RESOURCES"},
		{9, ErrUnsupported, "UNSUPP_PROTOCOL"}, {10, ErrNoResources, "USER_EX_QUOTA"},
		{11, ErrNoResources, "CANNOT_PROVIDE_EXTERNAL"}, {12, ErrAddressMismatch, "ADDRESS_MISMATCH"},
		{13, ErrNoResources, "EXCESSIVE_REMOTE_PEERS"}, {200, ErrRefused, "unknown"},
	}
	for _, tt := range pcp {
		err := pcpError(tt.code)
		if !errors.Is(err, tt.want) || !bytes.Contains([]byte(err.Error()), []byte(tt.name)) {
			t.Errorf("PCP result %d: %v, want %v naming %s", tt.code, err, tt.want, tt.name)
		}
	}
}

// pcpRequestBytes is a MAP request laid out by hand.
func TestPCPRequest(t *testing.T) {
	nonce := [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	got := appendPCPMap(nil, pcpMap{lifetime: 7200, client: netip.MustParseAddr("192.168.10.2"),
		nonce: nonce, protocol: 17, internal: 51820, port: 51820})
	want := mustHex(t, "02010000"+"00001c20"+"00000000000000000000ffffc0a80a02"+
		"0102030405060708090a0b0c"+"11000000"+"ca6c"+"ca6c"+"00000000000000000000ffff00000000")
	if !bytes.Equal(got, want) {
		t.Errorf("request\n% x\nwant\n% x", got, want)
	}
	got = appendPCPMap(nil, pcpMap{client: netip.MustParseAddr("2001:db8::2"), protocol: 17, internal: 1,
		addr: netip.MustParseAddr("2001:db8::1"), port: 2})
	if len(got) != 60 || !bytes.Equal(got[8:24], netip.MustParseAddr("2001:db8::2").AsSlice()) ||
		!bytes.Equal(got[44:60], netip.MustParseAddr("2001:db8::1").AsSlice()) {
		t.Errorf("IPv6 request % x", got)
	}
	got = appendPCPMap(nil, pcpMap{client: netip.MustParseAddr("2001:db8::2")})
	if !bytes.Equal(got[44:60], make([]byte, 16)) {
		t.Errorf("IPv6 client's any address % x", got[44:60])
	}
}

// pcpAnswer builds a MAP response by hand.
func pcpAnswer(result uint8, lifetime, epoch uint32, nonce [12]byte, internal, port uint16, ext string) []byte {
	b := []byte{2, 0x81, 0, result}
	b = binary.BigEndian.AppendUint32(b, lifetime)
	b = binary.BigEndian.AppendUint32(b, epoch)
	b = append(b, make([]byte, 12)...)
	b = append(b, nonce[:]...)
	b = append(b, 17, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, internal)
	b = binary.BigEndian.AppendUint16(b, port)
	a := netip.MustParseAddr(ext).As16()
	return append(b, a[:]...)
}

func TestParsePCP(t *testing.T) {
	nonce := [12]byte{9, 9, 9}
	ok := pcpAnswer(0, 7200, 42, nonce, 51820, 40000, "::ffff:203.0.113.10")
	tests := []struct {
		name    string
		in      []byte
		want    pcpMap
		wantErr error
	}{
		{name: "success", in: ok, want: pcpMap{response: true, version: 2, lifetime: 7200, epoch: 42, nonce: nonce,
			protocol: 17, internal: 51820, port: 40000, addr: netip.MustParseAddr("203.0.113.10")}},
		{name: "with option", in: append(append([]byte{}, ok...), 0x80, 0, 0, 0), want: pcpMap{response: true, version: 2,
			lifetime: 7200, epoch: 42, nonce: nonce, protocol: 17, internal: 51820, port: 40000, addr: netip.MustParseAddr("203.0.113.10")}},
		{name: "error header only", in: append([]byte{2, 0x81, 0, 12, 0, 0, 0, 30, 0, 0, 0, 1}, make([]byte, 12)...),
			wantErr: ErrMalformed},
		{name: "nat-pmp unsupported version", in: []byte{0, 0x81, 0, 1, 0, 0, 0, 9},
			want: pcpMap{response: true, version: 0, result: 1}},
		{name: "pcp version 1", in: append([]byte{1, 0x81, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 12)...),
			want: pcpMap{response: true, version: 1, result: 1}},
		{name: "short", in: ok[:20], wantErr: ErrMalformed},
		{name: "not multiple of 4", in: ok[:59], wantErr: ErrMalformed},
		{name: "too long", in: append([]byte{2, 0x81}, make([]byte, 1102)...), wantErr: ErrMalformed},
		{name: "request", in: append([]byte{2, 1}, ok[2:]...), wantErr: ErrMalformed},
		{name: "peer opcode", in: append([]byte{2, 0x82}, ok[2:]...), wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePCP(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestEpochLost(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur uint32
		elapsed   int64
		want      bool
	}{
		{name: "steady", prev: 1000, cur: 1600, elapsed: 600},
		{name: "server a bit slow", prev: 1000, cur: 1570, elapsed: 600},
		{name: "same second", prev: 1000, cur: 1000, elapsed: 0},
		{name: "one back", prev: 1000, cur: 999, elapsed: 0},
		{name: "restarted", prev: 1000, cur: 3, elapsed: 600, want: true},
		{name: "restarted long ago", prev: 1000, cur: 400, elapsed: 600, want: true},
		{name: "server too fast", prev: 1000, cur: 5000, elapsed: 600, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := epochLost(tt.prev, tt.cur, tt.elapsed); got != tt.want {
				t.Errorf("epochLost(%d, %d, %d) = %v", tt.prev, tt.cur, tt.elapsed, got)
			}
		})
	}
}

func TestParseProcRoute(t *testing.T) {
	// /proc/net/route of a little-endian host: default via 192.168.1.1,
	// 198.51.100.0/24 via 192.168.10.1 (metric 5 and 1), 192.168.1.0/24 direct.
	table := []byte("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
		"eth1\t006433C6\t010AA8C0\t0003\t0\t0\t5\t00FFFFFF\t0\t0\t0\n" +
		"eth1\t006433C6\t020AA8C0\t0003\t0\t0\t1\t00FFFFFF\t0\t0\t0\n" +
		"eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"eth2\t0071CB00\t0A71CB00\t0002\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" + // down
		"garbage line\n")
	tests := []struct {
		name    string
		table   []byte
		dst     string
		want    string
		wantErr error
	}{
		{name: "default", table: table, want: "192.168.1.1"},
		{name: "specific lower metric", table: table, dst: "198.51.100.1", want: "192.168.10.2"},
		{name: "other via default", table: table, dst: "8.8.8.8", want: "192.168.1.1"},
		{name: "on link", table: table, dst: "192.168.1.7", wantErr: ErrNoRoute},
		{name: "route down", table: table, dst: "203.0.113.5", want: "192.168.1.1"},
		{name: "no default", table: table[:0], wantErr: ErrNoRoute},
		{name: "ipv6", table: table, dst: "2001:db8::1", wantErr: ErrNoRoute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst netip.Addr
			if tt.dst != "" {
				dst = netip.MustParseAddr(tt.dst)
			}
			got, err := parseProcRoute(tt.table, dst, binary.LittleEndian)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && got.String() != tt.want {
				t.Errorf("gateway %v, want %s", got, tt.want)
			}
		})
	}
	// A big-endian host writes the same route the other way round.
	be := []byte("h\neth0\t00000000\tC0A80101\t0003\t0\t0\t0\t00000000\t0\t0\t0\n")
	if got, err := parseProcRoute(be, netip.Addr{}, binary.BigEndian); err != nil || got != netip.MustParseAddr("192.168.1.1") {
		t.Errorf("big-endian: %v, %v", got, err)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParsePCP(f *testing.F) {
	f.Add(pcpAnswer(0, 7200, 42, [12]byte{1}, 51820, 51820, "::ffff:203.0.113.10"))
	f.Add([]byte{0, 0x81, 0, 1, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parsePCP(b)
		if err != nil || m.version != pcpVersion {
			return
		}
		// A MAP answer decodes to what re-encoding its fields gives back.
		again := pcpAnswer(m.result, m.lifetime, m.epoch, m.nonce, m.internal, m.port, netip.AddrFrom16(m.addr.As16()).String())
		m2, err := parsePCP(again)
		if err != nil || m2.addr != m.addr || m2.port != m.port || m2.nonce != m.nonce || m2.internal != m.internal {
			t.Fatalf("round trip: %+v -> %+v, %v", m, m2, err)
		}
	})
}

func FuzzParsePMP(f *testing.F) {
	f.Add(mustHex(f, "0080000000000e10cb00710a"))
	f.Add(mustHex(f, "0081000000000005ca6cca6d00001c20"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parsePMP(b)
		if err != nil {
			return
		}
		if r.result == 0 && r.op == pmpOpAddress && !r.external.Is4() {
			t.Fatalf("address answer without an IPv4 address: %+v", r)
		}
	})
}

func FuzzParseProcRoute(f *testing.F) {
	f.Add([]byte("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"+
		"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"), []byte{198, 51, 100, 1})
	f.Fuzz(func(t *testing.T, text, dst []byte) {
		var d netip.Addr
		if len(dst) == 4 {
			d = netip.AddrFrom4([4]byte(dst))
		}
		gw, err := parseProcRoute(text, d, binary.LittleEndian)
		if err == nil && !gw.Is4() {
			t.Fatalf("gateway %v", gw)
		}
	})
}
