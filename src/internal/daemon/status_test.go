package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/jsonwire"
)

func TestStatusJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.FixedZone("", 3600))
	full := Status{Version: "v1.2 <dev>", Started: at, Memory: MemoryStatus{HeapInUse: 1 << 20, Sys: 5 << 20, Released: 1 << 19, Allocs: 1 << 33, GCs: 9, Limit: 4 << 20}, Interfaces: []InterfaceStatus{
		{
			Name: "wg0", State: "up", Reason: "r", PublicKey: "pk", ListenPort: 51820, Store: "s3",
			StoreError: "store: \"x\"\n", IPv4: netip.MustParseAddrPort("203.0.113.7:51820"),
			IPv6: netip.MustParseAddrPort("[2001:db8::7]:51820"), NAT: "cone", STUNServer: "stun.example:3478",
			Discovered: at.UTC(), LastError: "e", Missing: []string{"k1", "k2"},
			PortMapping: "auto", PortMapProtocol: "PCP", PortMapGateway: "192.168.1.1",
			PortMapExternal: netip.MustParseAddrPort("203.0.113.7:51820"), PortMapExpires: at.Add(time.Hour), PortMapError: "pm",
			ChecksAnswered: 7, ChecksDropped: 1 << 40, ChecksLimited: 3,
			Peers: []PeerStatus{
				{
					PublicKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", State: StateConnected, Reason: "why",
					Published: at, Record: netip.MustParseAddrPort("198.51.100.1:1"), RecordTime: at.Add(time.Second),
					PeerNAT: "symmetric", Endpoint: netip.MustParseAddrPort("[2001:db8::1]:2"), EndpointFrom: "record",
					SetAt: at, Recreated: at.Add(-time.Second), RecreatedWhy: "no handshake yet", LastHandshake: at.Add(-time.Minute), Ping: "10.0.0.2", PingSent: 10,
					PingLoss: 33.333333333333336, PingRTT: 0.25, PingError: "pe", LastError: "le\u2028",
					Path: netip.MustParseAddrPort("192.168.10.3:51820"), PathKind: "lan", PathRTT: 0.412, PathChecked: at.Add(time.Minute),
				},
				{PublicKey: "BBBB", State: StateWaiting},
			},
		},
		{Name: "wg1", State: "waiting", Store: "file", Peers: []PeerStatus{}},
		{Name: "wg2", State: "waiting"},
	}}
	tests := []struct {
		name string
		st   Status
	}{
		{name: "full", st: full},
		{name: "empty", st: Status{}},
		{name: "no interfaces", st: Status{Version: "dev", Started: at, Interfaces: []InterfaceStatus{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.MarshalIndent(tt.st, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got := tt.st.AppendJSON(nil)
			if !bytes.Equal(got, want) {
				t.Fatalf("AppendJSON:\n%s\njson.MarshalIndent:\n%s", got, want)
			}
			var std Status
			if err := json.Unmarshal(got, &std); err != nil {
				t.Fatal(err)
			}
			back, err := ParseStatus(append(got, '\n'))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, std) {
				t.Errorf("ParseStatus:\n%+v\njson.Unmarshal:\n%+v", back, std)
			}
		})
	}
}

func TestParseStatusRefuses(t *testing.T) {
	tests := []struct{ name, in string }{
		{name: "not json", in: "is wgstun running?"},
		{name: "truncated", in: `{"version":"dev","interfaces":[{"name":"wg0"`},
		{name: "wrong type", in: `{"interfaces":[{"listen_port":"51820"}]}`},
		{name: "port too big", in: `{"interfaces":[{"listen_port":65536}]}`},
		{name: "bad time", in: `{"started":"yesterday"}`},
		{name: "bad endpoint", in: `{"interfaces":[{"peers":[{"endpoint":"x:y"}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseStatus([]byte(tt.in)); err == nil {
				t.Errorf("ParseStatus(%q) accepted", tt.in)
			} else if tt.name == "wrong type" && !errors.Is(err, jsonwire.ErrType) {
				t.Errorf("wrong type: %v", err)
			}
		})
	}
	// A newer daemon's extra members are skipped.
	st, err := ParseStatus([]byte(`{"version":"v9","future":{"x":[1]},"interfaces":[{"name":"wg0","peers":[{"state":"up","new":true}]}]}`))
	if err != nil || st.Version != "v9" || len(st.Interfaces) != 1 || st.Interfaces[0].Peers[0].State != "up" {
		t.Errorf("extra members: %+v, %v", st, err)
	}
}
