package jsonwire

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Writer appends a JSON document to a buffer: open objects and arrays,
// name members with Key, write values. The caller keeps the nesting
// right; Writer adds the commas and, with an indent, the line breaks of
// encoding/json's MarshalIndent(v, "", indent). The zero Writer writes
// compact JSON, byte for byte what json.Marshal writes for the same
// members in the same order.
type Writer struct {
	buf      []byte
	indent   string
	depth    int
	empty    bool // the innermost container has no member yet
	afterKey bool
}

// NewWriter returns a writer appending to buf, indenting each level by
// indent ("" for compact output).
func NewWriter(buf []byte, indent string) *Writer {
	return &Writer{buf: buf, indent: indent}
}

// Bytes returns the document written so far.
func (w *Writer) Bytes() []byte { return w.buf }

// BeginObject opens an object; EndObject closes it.
func (w *Writer) BeginObject() { w.open('{') }

// EndObject closes the innermost object.
func (w *Writer) EndObject() { w.close('}') }

// BeginArray opens an array; EndArray closes it.
func (w *Writer) BeginArray() { w.open('[') }

// EndArray closes the innermost array.
func (w *Writer) EndArray() { w.close(']') }

// Key names the next member of the innermost object.
func (w *Writer) Key(name string) {
	w.sep()
	w.buf = AppendString(w.buf, name)
	w.buf = append(w.buf, ':')
	if w.indent != "" {
		w.buf = append(w.buf, ' ')
	}
	w.afterKey = true
}

// String writes a string value.
func (w *Writer) String(s string) { w.sep(); w.buf = AppendString(w.buf, s) }

// Int writes an integer.
func (w *Writer) Int(n int64) { w.sep(); w.buf = strconv.AppendInt(w.buf, n, 10) }

// Uint writes an unsigned integer.
func (w *Writer) Uint(n uint64) { w.sep(); w.buf = strconv.AppendUint(w.buf, n, 10) }

// Bool writes true or false.
func (w *Writer) Bool(b bool) { w.sep(); w.buf = strconv.AppendBool(w.buf, b) }

// StringMember writes the member key: v, or nothing when v is empty and
// omitEmpty is set (encoding/json's omitempty).
func (w *Writer) StringMember(key, v string, omitEmpty bool) {
	if v == "" && omitEmpty {
		return
	}
	w.Key(key)
	w.String(v)
}

// Null writes null.
func (w *Writer) Null() { w.sep(); w.buf = append(w.buf, "null"...) }

// Float writes f as encoding/json writes a float64. JSON has no NaN or
// infinity; those are written as null (encoding/json refuses them).
func (w *Writer) Float(f float64) {
	w.sep()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.buf = append(w.buf, "null"...)
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.buf = strconv.AppendFloat(w.buf, f, format, -1, 64)
	if format == 'e' { // e-09 -> e-9, as encoding/json writes it
		n := len(w.buf)
		if n >= 4 && w.buf[n-4] == 'e' && w.buf[n-3] == '-' && w.buf[n-2] == '0' {
			w.buf[n-2] = w.buf[n-1]
			w.buf = w.buf[:n-1]
		}
	}
}

func (w *Writer) open(c byte) {
	w.sep()
	w.buf = append(w.buf, c)
	w.depth++
	w.empty = true
}

func (w *Writer) close(c byte) {
	w.depth--
	if !w.empty {
		w.newline()
	}
	w.buf = append(w.buf, c)
	w.empty = false
}

// sep writes what goes before a member or element: nothing after a key,
// else a comma unless it is the first, and the indentation.
func (w *Writer) sep() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if w.depth == 0 {
		return
	}
	if !w.empty {
		w.buf = append(w.buf, ',')
	}
	w.empty = false
	w.newline()
}

func (w *Writer) newline() {
	if w.indent != "" {
		w.buf = append(w.buf, '\n')
		w.buf = append(w.buf, strings.Repeat(w.indent, w.depth)...)
	}
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string with encoding/json's escapes:
// '"' and '\\' escaped, \b \f \n \r \t short, other control characters
// and '<', '>', '&' as \u00XX, U+2028 and U+2029 as \u2028 and \u2029,
// and each byte that is not UTF-8 as \ufffd.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
