// Package jsonwire is the JSON wgstun exchanges, and no more: a strict
// RFC 8259 reader for the sealed record's plaintext, the exec plugin's
// reply and the status snapshot, and an appender that writes them.
//
// It stands in for encoding/json, which (with log/slog) costs about
// 380 KB of the linux/mipsle router binary. Where the two could differ it
// follows encoding/json: strings decode the same way (invalid UTF-8 and
// unpaired surrogates become U+FFFD), object members match names as
// encoding/json matches struct fields (exactly, else case-insensitively),
// a later duplicate member wins, and strings are written with the same
// escapes. The fuzz test checks this against encoding/json.
package jsonwire

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Errors; check them with errors.Is.
var (
	// ErrSyntax: the input is not valid JSON.
	ErrSyntax = errors.New("jsonwire: invalid JSON")
	// ErrDepth: objects and arrays nest deeper than MaxDepth. It also
	// matches ErrSyntax.
	ErrDepth = fmt.Errorf("%w: nested deeper than %d", ErrSyntax, MaxDepth)
	// ErrType: a value is not of the type asked for, or a number does not
	// fit it.
	ErrType = errors.New("jsonwire: wrong type")
)

// MaxDepth is how deeply objects and arrays may nest. wgstun's own
// documents nest four deep; the limit only bounds the reader's recursion.
const MaxDepth = 64

// Kind is the type of a JSON value.
type Kind uint8

// The kinds of JSON values.
const (
	Invalid Kind = iota // the zero Value
	Null
	Bool
	Number
	String
	Array
	Object
)

var kindNames = [...]string{"invalid", "null", "boolean", "number", "string", "array", "object"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one checked JSON value: its kind and its bytes.
type Value struct {
	raw  []byte
	kind Kind
}

// Kind returns v's type.
func (v Value) Kind() Kind { return v.kind }

// Raw returns v's bytes as they appear in the input.
func (v Value) Raw() []byte { return v.raw }

// First reads the first JSON value in data after optional whitespace and
// checks it strictly. It returns the value and the offset just past it;
// nothing after it is read. Errors match ErrSyntax.
func First(data []byte) (Value, int, error) {
	i := skipSpace(data, 0)
	end, kind, err := scan(data, i, 0)
	if err != nil {
		return Value{}, 0, err
	}
	return Value{raw: data[i:end], kind: kind}, end, nil
}

// Parse reads data that must hold exactly one JSON value, with optional
// whitespace around it. Errors match ErrSyntax.
func Parse(data []byte) (Value, error) {
	v, end, err := First(data)
	if err != nil {
		return Value{}, err
	}
	if end = skipSpace(data, end); end < len(data) {
		return Value{}, syntaxErr(data, end, "after the value")
	}
	return v, nil
}

func syntaxErr(data []byte, i int, what string) error {
	if i >= len(data) {
		return fmt.Errorf("%w: unexpected end of input", ErrSyntax)
	}
	return fmt.Errorf("%w: unexpected %s %s at offset %d", ErrSyntax, quoteByte(data[i]), what, i)
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scan checks the value starting at data[i] and returns where it ends.
func scan(data []byte, i, depth int) (int, Kind, error) {
	if i >= len(data) {
		return i, Invalid, syntaxErr(data, i, "")
	}
	switch c := data[i]; {
	case c == '{':
		end, err := scanObject(data, i, depth+1)
		return end, Object, err
	case c == '[':
		end, err := scanArray(data, i, depth+1)
		return end, Array, err
	case c == '"':
		end, err := scanString(data, i)
		return end, String, err
	case c == '-' || (c >= '0' && c <= '9'):
		end, err := scanNumber(data, i)
		return end, Number, err
	case c == 't':
		return scanLiteral(data, i, "true", Bool)
	case c == 'f':
		return scanLiteral(data, i, "false", Bool)
	case c == 'n':
		return scanLiteral(data, i, "null", Null)
	}
	return i, Invalid, syntaxErr(data, i, "looking for a value")
}

func scanLiteral(data []byte, i int, lit string, k Kind) (int, Kind, error) {
	for j := 0; j < len(lit); j++ {
		if i+j >= len(data) || data[i+j] != lit[j] {
			return i, Invalid, syntaxErr(data, i+j, "in literal "+lit)
		}
	}
	return i + len(lit), k, nil
}

func scanObject(data []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, ErrDepth
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return i, syntaxErr(data, i, "looking for a member name")
		}
		end, err := scanString(data, i)
		if err != nil {
			return end, err
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return i, syntaxErr(data, i, "after a member name")
		}
		if i, _, err = scan(data, skipSpace(data, i+1), depth); err != nil {
			return i, err
		}
		i = skipSpace(data, i)
		if i < len(data) && data[i] == '}' {
			return i + 1, nil
		}
		if i >= len(data) || data[i] != ',' {
			return i, syntaxErr(data, i, "after an object member")
		}
		i = skipSpace(data, i+1)
	}
}

func scanArray(data []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, ErrDepth
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, _, err = scan(data, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(data, i)
		if i < len(data) && data[i] == ']' {
			return i + 1, nil
		}
		if i >= len(data) || data[i] != ',' {
			return i, syntaxErr(data, i, "after an array element")
		}
		i = skipSpace(data, i+1)
	}
}

// scanString checks the string starting at data[i] (a '"'). Bytes that
// are not valid UTF-8 are allowed, as encoding/json allows them.
func scanString(data []byte, i int) (int, error) {
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return i, syntaxErr(data, i, "in a string")
		case c == '\\':
			i++
			if i >= len(data) {
				return i, syntaxErr(data, i, "")
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for j := 1; j <= 4; j++ {
					if i+j >= len(data) || hexVal(data[i+j]) < 0 {
						return i + j, syntaxErr(data, i+j, `in a \u escape`)
					}
				}
				i += 4
			default:
				return i, syntaxErr(data, i, "in a string escape")
			}
		}
	}
	return i, syntaxErr(data, i, "")
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// scanNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(data []byte, i int) (int, error) {
	digits := func(i int) (int, error) {
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return i, syntaxErr(data, i, "in a number")
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i, nil
	}
	if data[i] == '-' {
		i++
	}
	var err error
	if i < len(data) && data[i] == '0' {
		i++
	} else if i, err = digits(i); err != nil {
		return i, err
	}
	if i < len(data) && data[i] == '.' {
		if i, err = digits(i + 1); err != nil {
			return i, err
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i, err = digits(i); err != nil {
			return i, err
		}
	}
	return i, nil
}

func (v Value) typeErr(want string) error {
	return fmt.Errorf("%w: %s where %s belongs", ErrType, v.kind, want)
}

// Str returns the string v holds, decoded as encoding/json decodes it.
func (v Value) Str() (string, error) {
	if v.kind != String {
		return "", v.typeErr("a string")
	}
	return unquote(v.raw), nil
}

// Bool returns the boolean v holds.
func (v Value) Bool() (bool, error) {
	if v.kind != Bool {
		return false, v.typeErr("a boolean")
	}
	return v.raw[0] == 't', nil
}

// Int returns the integer v holds; a fraction, an exponent or a value
// outside int64 is ErrType, as encoding/json refuses them for an int64.
func (v Value) Int() (int64, error) {
	if v.kind != Number {
		return 0, v.typeErr("an integer")
	}
	n, err := strconv.ParseInt(string(v.raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: number %s is not an integer that fits 64 bits", ErrType, v.raw)
	}
	return n, nil
}

// Uint returns the unsigned integer v holds if it fits bits bits.
func (v Value) Uint(bits int) (uint64, error) {
	if v.kind != Number {
		return 0, v.typeErr("an integer")
	}
	n, err := strconv.ParseUint(string(v.raw), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%w: number %s is not an unsigned integer that fits %d bits", ErrType, v.raw, bits)
	}
	return n, nil
}

// Float returns the number v holds.
func (v Value) Float() (float64, error) {
	if v.kind != Number {
		return 0, v.typeErr("a number")
	}
	f, err := strconv.ParseFloat(string(v.raw), 64)
	if err != nil {
		return 0, fmt.Errorf("%w: number %s does not fit a float64", ErrType, v.raw)
	}
	return f, nil
}

// Members calls fn, in document order, for each member of object v whose
// name matches one of names, with the index of that name; other members
// are skipped. A name matches as encoding/json matches a struct field:
// exactly, else ignoring case. An error from fn stops the walk and is
// returned.
func (v Value) Members(names []string, fn func(i int, m Value) error) error {
	if v.kind != Object {
		return v.typeErr("an object")
	}
	folded := make([]string, len(names))
	for k, n := range names {
		folded[k] = foldName(n)
	}
	return v.each(func(key string, m Value) error {
		if k := match(key, names, folded); k >= 0 {
			return fn(k, m)
		}
		return nil
	})
}

// each calls fn for every member of object v, in document order.
func (v Value) each(fn func(key string, m Value) error) error {
	data := v.raw
	i := skipSpace(data, 1)
	for i < len(data) && data[i] == '"' {
		end, _ := scanString(data, i)
		key := unquote(data[i:end])
		i = skipSpace(data, skipSpace(data, end)+1) // past ':'
		vend, kind, err := scan(data, i, 0)
		if err != nil {
			return err // only if v was not made by First or Parse
		}
		if err := fn(key, Value{raw: data[i:vend], kind: kind}); err != nil {
			return err
		}
		i = skipSpace(data, vend)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return nil
}

// Elems calls fn for each element of array v, in order.
func (v Value) Elems(fn func(e Value) error) error {
	if v.kind != Array {
		return v.typeErr("an array")
	}
	data := v.raw
	i := skipSpace(data, 1)
	for i < len(data) && data[i] != ']' {
		end, kind, err := scan(data, i, 0)
		if err != nil {
			return err
		}
		if err := fn(Value{raw: data[i:end], kind: kind}); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return nil
}

func match(key string, names, folded []string) int {
	for k, n := range names {
		if key == n {
			return k
		}
	}
	f := foldName(key)
	for k, n := range folded {
		if f == n {
			return k
		}
	}
	return -1
}

// foldName is encoding/json's key folding: ASCII letters to upper case,
// other runes to the smallest rune of their Unicode case-fold set, so that
// equal results mean bytes.EqualFold.
func foldName(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return string(out)
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// unquote decodes a checked string token, quotes included: escapes are
// resolved, a surrogate pair becomes its rune, and an unpaired surrogate
// or a byte that is not UTF-8 becomes U+FFFD, as in encoding/json.
func unquote(tok []byte) string {
	s := tok[1 : len(tok)-1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			i++
			switch s[i] {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := u4(s[i+1:])
				i += 4 // at the escape's last digit
				if hi := r; utf16.IsSurrogate(hi) {
					r = unicode.ReplacementChar
					if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
						if pair := utf16.DecodeRune(hi, u4(s[i+3:])); pair != unicode.ReplacementChar {
							r = pair
							i += 6
						}
					}
				}
				out = utf8.AppendRune(out, r)
			default: // '"', '\\', '/'
				out = append(out, s[i])
			}
			i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			out = utf8.AppendRune(out, r) // RuneError for a bad byte
			i += n
		}
	}
	return string(out)
}

// u4 reads four checked hex digits.
func u4(s []byte) rune {
	return hexVal(s[0])<<12 | hexVal(s[1])<<8 | hexVal(s[2])<<4 | hexVal(s[3])
}
