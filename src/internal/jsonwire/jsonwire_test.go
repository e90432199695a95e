package jsonwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// toAny converts v to what encoding/json's Unmarshal into an any gives:
// map[string]any (a later duplicate wins), []any, string, float64, bool,
// nil.
func toAny(v Value) (any, error) {
	switch v.Kind() {
	case Null:
		return nil, nil
	case Bool:
		return v.Bool()
	case Number:
		return v.Float()
	case String:
		return v.Str()
	case Array:
		out := []any{}
		err := v.Elems(func(e Value) error {
			x, err := toAny(e)
			out = append(out, x)
			return err
		})
		return out, err
	case Object:
		out := map[string]any{}
		err := v.each(func(k string, m Value) error {
			x, err := toAny(m)
			out[k] = x
			return err
		})
		return out, err
	}
	return nil, errors.New("invalid value")
}

// checkAgainstStdlib is the differential check shared by the tests and
// the fuzz target: Parse and json.Valid agree on validity, and a valid
// document decodes to the same values.
func checkAgainstStdlib(t *testing.T, data []byte) {
	t.Helper()
	v, err := Parse(data)
	if errors.Is(err, ErrDepth) {
		return // deeper than we allow, by choice
	}
	if valid := json.Valid(data); valid != (err == nil) {
		t.Fatalf("%q: json.Valid %v, Parse error %v", data, valid, err)
	}
	if err != nil {
		if !errors.Is(err, ErrSyntax) {
			t.Fatalf("%q: error %v does not match ErrSyntax", data, err)
		}
		return
	}
	var want any
	wantErr := json.Unmarshal(data, &want)
	got, gotErr := toAny(v)
	if (wantErr != nil) != (gotErr != nil) {
		t.Fatalf("%q: encoding/json error %v, ours %v", data, wantErr, gotErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nencoding/json %#v\nours          %#v", data, want, got)
	}
	// First stops where json.Decoder stops.
	first, end, err := First(data)
	if err != nil || !bytes.Equal(first.Raw(), v.Raw()) {
		t.Fatalf("%q: First %q %v, Parse %q", data, first.Raw(), err, v.Raw())
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil || int(dec.InputOffset()) != end {
		t.Fatalf("%q: json.Decoder ends at %d (%v), First at %d", data, dec.InputOffset(), err, end)
	}
}

var corpus = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `-0.5e+10`, `1E-7`, `123456789012345678901234567890`,
	`1e999`, `"a"`, ` {"a" : [1, 2, {"b": null}] } `, "\t\r\n{}\n",
	`{"ipv4":"203.0.113.7:51820","ipv6":"[2001:db8::7]:51820","ts_ms":1700000000000}`,
	`{"a":1,"a":2}`, `{"A":1,"a":2}`, `{"x":{"y":{"z":[[[]]]}}}`,
	`"\u00e9\ud83e\udd8a\ud800\udc00"`, `"\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800"`, `"\ud83e\ud83e\udd8a"`,
	`"\"\\\/\b\f\n\r\t"`, "\"\xff\xfe\"", "\"caf\xc3\xa9\"", "\"\xed\xa0\x80\"", `"\u0000"`,
	// invalid
	``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{'a':1}`, `{a:1}`,
	`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `NaN`, `Infinity`, `tru`, `nul`, `True`,
	`"abc`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\tb\"", "\"a\nb\"", `{} {}`, `[] x`, `{"a":1}}`,
	`[1 2]`, `{"a" 1}`, `{"a":1 "b":2}`, "\x00", "\xef\xbb\xbf{}",
}

func TestAgainstStdlib(t *testing.T) {
	for _, c := range corpus {
		t.Run(c, func(t *testing.T) { checkAgainstStdlib(t, []byte(c)) })
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range corpus {
		f.Add([]byte(c))
	}
	f.Fuzz(checkAgainstStdlib)
}

func TestDepth(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
	deep := `{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + "}"
	if _, err := Parse([]byte(deep)); !errors.Is(err, ErrDepth) || !errors.Is(err, ErrSyntax) {
		t.Errorf("depth %d: %v, want ErrDepth", MaxDepth+1, err)
	}
	// Very deep input fails at the limit without exhausting the stack.
	huge := bytes.Repeat([]byte("["), 1<<20)
	if _, err := Parse(huge); !errors.Is(err, ErrDepth) {
		t.Errorf("1M brackets: %v", err)
	}
}

func TestFirst(t *testing.T) {
	tests := []struct {
		name, in, want string
		end            int
	}{
		{name: "object then text", in: ` {"success":true} trailing`, want: `{"success":true}`, end: 17},
		{name: "two objects", in: `{"a":1}{"b":2}`, want: `{"a":1}`, end: 7},
		{name: "number ends at letter", in: `12x`, want: `12`, end: 2},
		{name: "string then newline", in: "\"s\"\n", want: `"s"`, end: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, end, err := First([]byte(tt.in))
			if err != nil || string(v.Raw()) != tt.want || end != tt.end {
				t.Errorf("First(%q) = %q, %d, %v; want %q, %d", tt.in, v.Raw(), end, err, tt.want, tt.end)
			}
		})
	}
	for _, in := range []string{``, `  `, `{"a":`, `}`} {
		if _, _, err := First([]byte(in)); !errors.Is(err, ErrSyntax) {
			t.Errorf("First(%q): %v, want ErrSyntax", in, err)
		}
	}
}

// member is the reference for Members: encoding/json into a struct.
type member struct {
	IPv4 string `json:"ipv4"`
	TSMs *int64 `json:"ts_ms"`
	OK   bool   `json:"success"`
}

func TestMembersMatchLikeStructFields(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{name: "exact", in: `{"ipv4":"a","ts_ms":5,"success":true}`},
		{name: "case", in: `{"IPv4":"a","TS_MS":5,"Success":true}`},
		{name: "long s", in: `{"tſ_mſ":7,"ſuccess":true}`},
		{name: "kelvin", in: `{"ipv4":"\u212a"}`},
		{name: "dotless i", in: `{"ıpv4":"x"}`},
		{name: "later wins", in: `{"ipv4":"a","IPV4":"b","ipv4":"c"}`},
		{name: "unknown skipped", in: `{"x":{"ipv4":"nested"},"y":[{"success":false}],"ipv4":"top"}`},
		{name: "null keeps", in: `{"ipv4":"a","ipv4":null,"success":true,"success":null}`},
		{name: "null pointer", in: `{"ts_ms":5,"ts_ms":null}`},
		{name: "escaped name", in: `{"\u0069pv4":"e"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want member
			if err := json.Unmarshal([]byte(tt.in), &want); err != nil {
				t.Fatal(err)
			}
			v, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var got member
			err = v.Members([]string{"ipv4", "ts_ms", "success"}, func(i int, m Value) error {
				if m.Kind() == Null {
					if i == 1 {
						got.TSMs = nil
					}
					return nil
				}
				var err error
				switch i {
				case 0:
					got.IPv4, err = m.Str()
				case 1:
					var n int64
					n, err = m.Int()
					got.TSMs = &n
				case 2:
					got.OK, err = m.Bool()
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, encoding/json %+v", got, want)
			}
		})
	}
}

func TestTypes(t *testing.T) {
	parse := func(s string) Value {
		v, err := Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, err := parse(`"x"`).Int(); !errors.Is(err, ErrType) {
		t.Errorf("string as int: %v", err)
	}
	for _, s := range []string{`1.5`, `1e3`, `9223372036854775808`} {
		if _, err := parse(s).Int(); !errors.Is(err, ErrType) {
			t.Errorf("%s as int: %v", s, err)
		}
	}
	if n, err := parse(`-9223372036854775808`).Int(); err != nil || n != math.MinInt64 {
		t.Errorf("min int64: %d %v", n, err)
	}
	if _, err := parse(`65536`).Uint(16); !errors.Is(err, ErrType) {
		t.Errorf("65536 as uint16: %v", err)
	}
	if _, err := parse(`1e999`).Float(); !errors.Is(err, ErrType) {
		t.Errorf("1e999: %v", err)
	}
	if _, err := parse(`1`).Bool(); !errors.Is(err, ErrType) {
		t.Errorf("1 as bool: %v", err)
	}
	if err := parse(`[]`).Members(nil, nil); !errors.Is(err, ErrType) {
		t.Errorf("array as object: %v", err)
	}
	if err := parse(`{}`).Elems(nil); !errors.Is(err, ErrType) {
		t.Errorf("object as array: %v", err)
	}
	stop := errors.New("stop")
	if err := parse(`{"a":1,"b":2}`).Members([]string{"a", "b"}, func(int, Value) error { return stop }); err != stop {
		t.Errorf("callback error: %v", err)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\s/", "\b\f\n\r\t\x00\x01\x1f\x7f", "<a&b>", "\u2028\u2029", "\xff\xc3", "é🦊", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got := AppendString(nil, s)
		if !bytes.Equal(got, want) {
			t.Fatalf("%q: ours %s, encoding/json %s", s, got, want)
		}
		v, err := Parse(got)
		if err != nil {
			t.Fatal(err)
		}
		var back string
		json.Unmarshal(got, &back)
		if str, _ := v.Str(); str != back {
			t.Fatalf("%q: read back %q, encoding/json %q", s, str, back)
		}
	})
}

type inner struct {
	N    int64     `json:"n"`
	F    float64   `json:"f"`
	B    bool      `json:"b"`
	L    []string  `json:"l"`
	E    []string  `json:"e"`
	Z    *struct{} `json:"z"`
	Deep []inner   `json:"deep,omitempty"`
}

type doc struct {
	Name  string   `json:"name"`
	Items []inner  `json:"items"`
	None  []inner  `json:"none"`
	Empty struct{} `json:"empty"`
}

func writeInner(w *Writer, in inner) {
	w.BeginObject()
	w.Key("n")
	w.Int(in.N)
	w.Key("f")
	w.Float(in.F)
	w.Key("b")
	w.Bool(in.B)
	for _, l := range []struct {
		k string
		v []string
	}{{"l", in.L}, {"e", in.E}} {
		w.Key(l.k)
		if l.v == nil {
			w.Null()
			continue
		}
		w.BeginArray()
		for _, s := range l.v {
			w.String(s)
		}
		w.EndArray()
	}
	w.Key("z")
	w.Null()
	if len(in.Deep) > 0 {
		w.Key("deep")
		w.BeginArray()
		for _, d := range in.Deep {
			writeInner(w, d)
		}
		w.EndArray()
	}
	w.EndObject()
}

func TestWriterMatchesMarshal(t *testing.T) {
	d := doc{Name: "wg0 <&>", Items: []inner{
		{N: -3, F: 33.333333333333336, B: true, L: []string{"a", "\u2028"}, E: []string{}},
		{N: 1 << 60, F: 1e-7, Deep: []inner{{F: 1e21, L: []string{}}, {F: -0.5}}},
		{F: 123456789},
	}}
	for _, indent := range []string{"", "  ", "\t"} {
		w := NewWriter(nil, indent)
		w.BeginObject()
		w.Key("name")
		w.String(d.Name)
		w.Key("items")
		w.BeginArray()
		for _, in := range d.Items {
			writeInner(w, in)
		}
		w.EndArray()
		w.Key("none")
		w.Null()
		w.Key("empty")
		w.BeginObject()
		w.EndObject()
		w.EndObject()
		var want []byte
		var err error
		if indent == "" {
			want, err = json.Marshal(d)
		} else {
			want, err = json.MarshalIndent(d, "", indent)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.Bytes(), want) {
			t.Errorf("indent %q:\nours:\n%s\nencoding/json:\n%s", indent, w.Bytes(), want)
		}
	}
	w := NewWriter(nil, "")
	w.Float(math.NaN())
	if string(w.Bytes()) != "null" {
		t.Errorf("NaN written as %s", w.Bytes())
	}
}
