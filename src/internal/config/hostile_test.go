package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// hostileBase is a valid configuration the hostile cases add to.
const hostileBase = "[stun]\nservers = [\"192.0.2.1:3478\"]\n[store.s]\ntype = \"file\"\npath = \"/var/lib/wgstun\"\n" +
	"[[interface]]\nname = \"wg0\"\nstore = \"s\"\n"

func TestHostileContent(t *testing.T) {
	long := strings.Repeat("A", 100_000)
	var manyTables strings.Builder
	manyTables.WriteString(hostileBase)
	for i := range 2000 {
		fmt.Fprintf(&manyTables, "[[interface]]\nname = \"wg%d\"\nstore = \"s\"\nbogus = 1\n", i+1)
	}
	for _, tc := range []struct {
		name     string
		data     string
		want     string // in the first problem
		line     int
		problems int // 0: any
	}{
		{"inline tables 20,000 deep", hostileBase + "x = " + strings.Repeat("{a = ", 20000) + "1" + strings.Repeat("}", 20000) + "\n",
			"nest more than 16 deep", 9, 1},
		{"arrays 20,000 deep", hostileBase + "\n\nx = " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n",
			"nest more than 16 deep", 11, 1},
		{"brackets in strings and comments do not nest", hostileBase + "# " + strings.Repeat("[", 40) + "\n[log]\nlevel = \"" + strings.Repeat("[{", 40) + "\"\n" +
			"[daemon]\nsocket = '''\n" + strings.Repeat("[", 40) + "'''\n", "log.level", 11, 2},
		{"a 100 KB value", hostileBase + "[daemon]\nsocket = \"" + long + "\"\n", "daemon.socket", 10, 1},
		{"a 100 KB key", hostileBase + "[daemon]\n" + long + " = 1\n", "unknown key", 10, 1},
		{"one unknown key in 2,000 tables", manyTables.String(), "interface[1].bogus: unknown key", 12, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("hostile.toml", []byte(tc.data))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, want an *Error", err)
			}
			if p := ce.Problems[0]; !strings.Contains(p.String(), tc.want) || p.Line != tc.line || !strings.HasPrefix(p.String(), "hostile.toml:") {
				t.Errorf("first problem %q (line %d), want %q at line %d", clip(p.String(), 300), p.Line, tc.want, tc.line)
			}
			if tc.problems > 0 && len(ce.Problems)+ce.Dropped != tc.problems {
				t.Errorf("%d problems, want %d: %s", len(ce.Problems)+ce.Dropped, tc.problems, clip(err.Error(), 1000))
			}
			if len(ce.Problems) > maxKept {
				t.Errorf("%d problems kept", len(ce.Problems))
			}
			if n := len(err.Error()); n > maxReport+200 {
				t.Errorf("report of %d bytes", n)
			}
			if strings.Contains(err.Error(), strings.Repeat("A", maxQuoted+1)) {
				t.Errorf("the report quotes more than %d bytes of a value", maxQuoted)
			}
			if shown, more := ce.Shown(); len(shown) > maxProblems || len(shown)+more != len(ce.Problems)+ce.Dropped {
				t.Errorf("Shown = %d problems and %d more, of %d", len(shown), more, len(ce.Problems))
			}
		})
	}
	// 2,000 tables with the same unknown key: each place once.
	_, err := Parse("hostile.toml", []byte(manyTables.String()))
	if e := err.(*Error); len(e.Problems)+e.Dropped != 2000 {
		t.Errorf("%d problems for 2,000 unknown keys", len(e.Problems)+e.Dropped)
	}
	if !strings.HasSuffix(err.Error(), "more problems") {
		t.Errorf("the report does not say how many problems it leaves out: ...%s", err.Error()[len(err.Error())-100:])
	}
}

// FuzzParse: any bytes give a config or an *Error whose report stays
// bounded; nothing panics or recurses without limit.
func FuzzParse(f *testing.F) {
	f.Add([]byte(hostileBase))
	f.Add([]byte(hostileBase + "x = [[[{a = [1]}]]]\n"))
	f.Add([]byte("a = '''\n[[[\n'''\nb = \"\\\"[\"\n"))
	f.Add([]byte(strings.Repeat("[", 40)))
	f.Add([]byte("[[interface]]\n[[interface.peer]]\npublic_key = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("fuzz.toml", data)
		if err == nil {
			return
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("not an *Error: %v", err)
		}
		if len(ce.Problems) == 0 || len(ce.Problems) > maxKept || len(err.Error()) > maxReport+1000 {
			t.Fatalf("%d problems, report of %d bytes", len(ce.Problems), len(err.Error()))
		}
	})
}
