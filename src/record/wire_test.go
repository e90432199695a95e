package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/wgstun/wgstun/src/internal/jsonwire"
)

// stdWire is the plaintext struct as encoding/json read and wrote it
// before jsonwire; the reference for decodeWire and appendJSON.
type stdWire struct {
	IPv4 string `json:"ipv4,omitempty"`
	IPv6 string `json:"ipv6,omitempty"`
	TSMs *int64 `json:"ts_ms,omitempty"`
	NAT  string `json:"nat,omitempty"`
	To   string `json:"to,omitempty"`
}

// std is w's fields that encoding/json read and wrote; "cand" is
// wgstun's own and lenient (tested in record_test.go).
func std(w wire) stdWire {
	return stdWire{IPv4: w.IPv4, IPv6: w.IPv6, TSMs: w.TSMs, NAT: w.NAT, To: w.To}
}

// FuzzWireJSON checks the plaintext reader against encoding/json: the
// same objects are refused, and what is accepted gives the same fields.
func FuzzWireJSON(f *testing.F) {
	for _, s := range []string{
		`{"ipv4":"203.0.113.7:51820","ipv6":"[2001:db8::7]:51820","ts_ms":1700000000000,"nat":"cone","to":"0a0b0c0d"}`,
		`{"IPV4":"a","ipv4":"b","Ts_Ms":null,"x":{"ipv4":[1,{"y":null}]}}`,
		`{"ts_ms":1.5}`, `{"ts_ms":"1"}`, `{"ts_ms":-0}`, `{"ts_ms":9223372036854775808}`,
		`{"ipv4":5}`, `{"nat":null,"nat":"x","to":{}}`, `{"ipv4":"\ud800"}`, `[]`, `{"a":1,}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.TrimSpace(data)
		if len(data) == 0 || data[0] != '{' {
			return // parse refuses these before decoding
		}
		got, err := decodeWire(data)
		if errors.Is(err, jsonwire.ErrDepth) {
			return
		}
		var want stdWire
		wantErr := json.Unmarshal(data, &want)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: decodeWire error %v, encoding/json %v", data, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(std(got), want) {
			t.Fatalf("%q: decodeWire %+v, encoding/json %+v", data, got, want)
		}
	})
}

func TestWireWritesWhatMarshalWrote(t *testing.T) {
	ts := int64(1700000000123)
	neg := int64(-5)
	for _, w := range []wire{
		{},
		{IPv4: "203.0.113.7:51820"},
		{IPv6: "[2001:db8::7]:51820", TSMs: &ts, NAT: `a<b>&"c"\`, To: "0a0b0c0d"},
		{IPv4: "1.2.3.4:5", IPv6: "[::1]:1", TSMs: &neg, NAT: "\x00\x1f\u2028", To: "\xff"},
	} {
		want, err := json.Marshal(std(w))
		if err != nil {
			t.Fatal(err)
		}
		if got := w.appendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("%+v:\nours          %s\nencoding/json %s", w, got, want)
		}
	}
}
