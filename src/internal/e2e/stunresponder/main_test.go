package main

import (
	"net/netip"
	"testing"

	"github.com/wgstun/wgstun/src/stun"
)

// TestAnswerParsesWithOwnCodec checks the responder's answers with the codec
// wgstun itself reads them with.
func TestAnswerParsesWithOwnCodec(t *testing.T) {
	tests := []struct {
		name string
		from netip.AddrPort
	}{
		{name: "ipv4", from: netip.MustParseAddrPort("203.0.113.7:51820")},
		{name: "ipv4-mapped ipv6 source", from: netip.MustParseAddrPort("[::ffff:198.51.100.9]:1")},
		{name: "ipv6", from: netip.MustParseAddrPort("[2001:db8::7]:65535")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := stun.NewTxID()
			resp, ok := answer(stun.AppendBindingRequest(nil, tx, 0), tt.from)
			if !ok {
				t.Fatal("no answer to a Binding request")
			}
			r, err := stun.ParseResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			want := netip.AddrPortFrom(tt.from.Addr().Unmap(), tt.from.Port())
			if r.TxID != tx || r.Mapped != want {
				t.Fatalf("got tx %x mapped %v, want %x %v", r.TxID, r.Mapped, tx, want)
			}
		})
	}
}

func TestAnswerIgnoresOthers(t *testing.T) {
	from := netip.MustParseAddrPort("203.0.113.7:1")
	tests := []struct {
		name string
		b    []byte
	}{
		{name: "empty", b: nil},
		{name: "wireguard handshake", b: append([]byte{1, 0, 0, 0}, make([]byte, 144)...)},
		{name: "binding indication", b: stun.AppendBindingIndication(nil, stun.NewTxID())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := answer(tt.b, from); ok {
				t.Fatal("answered")
			}
		})
	}
}
