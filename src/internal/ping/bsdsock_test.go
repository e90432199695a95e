package ping

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// ipv4Packet builds an IPv4 header with opts (a multiple of 4 bytes),
// protocol proto and total length field tl written by put, followed by
// payload.
func ipv4Packet(proto uint8, opts, payload []byte, put func(b []byte, hl, n int)) []byte {
	hl := 20 + len(opts)
	b := make([]byte, hl+len(payload))
	b[0] = 0x40 | byte(hl/4)
	b[8] = 64
	b[9] = proto
	copy(b[12:], []byte{10, 9, 0, 2})
	copy(b[16:], []byte{10, 9, 0, 1})
	copy(b[20:], opts)
	copy(b[hl:], payload)
	put(b, hl, len(payload))
	return b
}

// Total-length conventions, as x/net/ipv4's ParseHeader decodes them.
func netOrderWithHeader(b []byte, hl, n int) { binary.BigEndian.PutUint16(b[2:], uint16(hl+n)) } // FreeBSD >= 11, Linux
func hostOrderPayload(b []byte, hl, n int)   { binary.LittleEndian.PutUint16(b[2:], uint16(n)) } // macOS on amd64/arm64

func TestCutIPv4Header(t *testing.T) {
	reply := marshalEcho(false, 0x1234, 7, []byte("cookie00"))
	reply[0] = typeEchoReply4
	binary.BigEndian.PutUint16(reply[2:], 0)
	binary.BigEndian.PutUint16(reply[2:], checksum(reply))
	// 257 bytes: 0x0101 reads the same in both byte orders, so a reader
	// trusting the field would cut 20 bytes off a macOS message.
	long := append(append([]byte(nil), reply...), bytes.Repeat([]byte{0xee}, 257-len(reply))...)
	if m, _ := stripIPv4(ipv4Packet(1, nil, long, hostOrderPayload)); len(m) == len(long) {
		t.Fatal("fixture does not exercise the length field")
	}
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr error
	}{
		{name: "FreeBSD raw socket: header in network order", in: ipv4Packet(1, nil, reply, netOrderWithHeader), want: reply},
		{name: "macOS socket without IP_STRIPHDR: host-order payload length", in: ipv4Packet(1, nil, reply, hostOrderPayload), want: reply},
		{name: "macOS length that reads as a plausible total is not trusted", in: ipv4Packet(1, nil, long, hostOrderPayload), want: long},
		{name: "header with options", in: ipv4Packet(1, []byte{1, 1, 1, 0, 7, 7, 7, 7}, reply, netOrderWithHeader), want: reply},
		{name: "no header (IP_STRIPHDR honoured)", in: reply, want: reply},
		{name: "empty", in: []byte{}, want: []byte{}},
		{name: "not ICMP", in: ipv4Packet(17, nil, reply, netOrderWithHeader), wantErr: errNotICMP},
		{name: "truncated header", in: ipv4Packet(1, nil, reply, netOrderWithHeader)[:19], wantErr: errShort},
		{name: "IHL below 5", in: func() []byte { b := ipv4Packet(1, nil, reply, netOrderWithHeader); b[0] = 0x44; return b }(), wantErr: errBadLength},
		{name: "IHL beyond the buffer", in: func() []byte { b := ipv4Packet(1, nil, nil, netOrderWithHeader); b[0] = 0x4f; return b }(), wantErr: errBadLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cutIPv4Header(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("got % x\nwant % x", got, tt.want)
			}
		})
	}
	// What comes out is what the prober parses.
	msg, err := cutIPv4Header(ipv4Packet(1, nil, reply, hostOrderPayload))
	if err != nil {
		t.Fatal(err)
	}
	if e, err := parseEcho(msg, true); err != nil || e.Type != typeEchoReply4 || e.ID != 0x1234 || e.Seq != 7 {
		t.Fatalf("%+v %v", e, err)
	}
}

func FuzzCutIPv4Header(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 9, 0, 2, 10, 9, 0, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := cutIPv4Header(b)
		if err != nil {
			return
		}
		if len(msg) > len(b) || !bytes.Equal(msg, b[len(b)-len(msg):]) {
			t.Fatalf("result is not a suffix of the input")
		}
		if len(b) > 0 && b[0]>>4 == 4 && len(msg) > len(b)-20 {
			t.Fatalf("header of %d bytes not removed", len(b)-len(msg))
		}
	})
}

func TestICMP6PassOnly(t *testing.T) {
	f := icmp6PassOnly(typeEchoReply6)
	for typ := 0; typ < 256; typ++ {
		pass := f[typ>>5]&(1<<(typ&31)) != 0 // ICMP6_FILTER_WILLPASS
		if pass != (typ == typeEchoReply6) {
			t.Fatalf("type %d passes: %v", typ, pass)
		}
	}
}
