// Package logfmt writes wgstun's log: one line per event in the key=value
// text format of log/slog's TextHandler,
//
//	time=2024-05-01T12:00:00.123+02:00 level=INFO msg="peer endpoint set" iface=wg0 endpoint=203.0.113.7:51820
//
// with the same quoting (a value is quoted exactly when slog would: empty,
// containing a space, '=', '"', a control or non-printable character, or
// invalid UTF-8) and the same text for the values wgstun logs: errors by
// Error, fmt.Stringer and encoding.TextMarshaler (netip types) by their
// text, durations as time.Duration.String, times as RFC 3339 with
// milliseconds. The tests compare it with slog.TextHandler line by line.
//
// It replaces log/slog on purpose, against the style guide's item 15:
// slog and the encoding/json it imports cost about 380 KB of the
// linux/mipsle router binary (8 MB flash), and a custom slog.Handler does
// not help because slog's own handler is linked by its init.
package logfmt

import (
	"encoding"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Level is the importance of a log event; the values are slog's.
type Level int

// The levels wgstun logs at.
const (
	LevelDebug Level = -4
	LevelInfo  Level = 0
	LevelWarn  Level = 4
	LevelError Level = 8
)

// String returns the level's name as slog prints it: DEBUG, INFO, WARN,
// ERROR, with an offset for levels between them (INFO+2).
func (l Level) String() string {
	name := func(base string, off Level) string {
		if off == 0 {
			return base
		}
		return fmt.Sprintf("%s%+d", base, off)
	}
	switch {
	case l < LevelInfo:
		return name("DEBUG", l-LevelDebug)
	case l < LevelWarn:
		return name("INFO", l-LevelInfo)
	case l < LevelError:
		return name("WARN", l-LevelWarn)
	}
	return name("ERROR", l-LevelError)
}

// ParseLevel reads a level name: debug, info, warn or error, in any case.
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return LevelDebug, nil
	case "info":
		return LevelInfo, nil
	case "warn":
		return LevelWarn, nil
	case "error":
		return LevelError, nil
	}
	return LevelInfo, fmt.Errorf("logfmt: unknown log level %q (want debug, info, warn or error)", s)
}

// LevelVar is a level that may change while loggers use it (a reload).
// Its zero value is LevelInfo. It is safe for concurrent use.
type LevelVar struct {
	v atomic.Int64
}

// Level returns the current level.
func (v *LevelVar) Level() Level { return Level(v.v.Load()) }

// Set changes the level.
func (v *LevelVar) Set(l Level) { v.v.Store(int64(l)) }

// sink is what every logger derived from one New shares.
type sink struct {
	mu    sync.Mutex
	w     io.Writer
	level *LevelVar
	now   func() time.Time
}

// Logger writes events at or above its level as key=value lines. Methods
// on a nil or zero Logger do nothing. It is safe for concurrent use: each
// line is one Write.
type Logger struct {
	s     *sink
	attrs []byte // " key=value" pairs added by With, already formatted
}

// New returns a logger writing to w. level may be nil (LevelInfo, fixed).
func New(w io.Writer, level *LevelVar) *Logger {
	if level == nil {
		level = new(LevelVar)
	}
	return &Logger{s: &sink{w: w, level: level, now: time.Now}}
}

// Discard returns a logger that writes nothing.
func Discard() *Logger { return &Logger{} }

// With returns a logger that adds args (key, value pairs as in Info) to
// every line, after the message.
func (l *Logger) With(args ...any) *Logger {
	if l == nil || l.s == nil {
		return l
	}
	attrs := appendArgs(append([]byte(nil), l.attrs...), args)
	return &Logger{s: l.s, attrs: attrs}
}

// Enabled reports whether events at level would be written.
func (l *Logger) Enabled(level Level) bool {
	return l != nil && l.s != nil && level >= l.s.level.Level()
}

// Debug logs msg with args, key-value pairs: a string key followed by its
// value. A lone non-string argument is logged under the key !BADKEY, as
// slog does.
func (l *Logger) Debug(msg string, args ...any) { l.log(LevelDebug, msg, args) }

// Info logs at LevelInfo; see Debug for args.
func (l *Logger) Info(msg string, args ...any) { l.log(LevelInfo, msg, args) }

// Warn logs at LevelWarn; see Debug for args.
func (l *Logger) Warn(msg string, args ...any) { l.log(LevelWarn, msg, args) }

// Error logs at LevelError; see Debug for args.
func (l *Logger) Error(msg string, args ...any) { l.log(LevelError, msg, args) }

func (l *Logger) log(level Level, msg string, args []any) {
	if !l.Enabled(level) {
		return
	}
	b := make([]byte, 0, 128+len(l.attrs))
	b = append(b, "time="...)
	b = appendTime(b, l.s.now())
	b = append(b, " level="...)
	b = append(b, level.String()...)
	b = append(b, " msg="...)
	b = appendString(b, msg)
	b = append(b, l.attrs...)
	b = appendArgs(b, args)
	b = append(b, '\n')
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	l.s.w.Write(b)
}

// appendArgs appends " key=value" for each pair in args, as slog reads
// them: a string key and the next argument; a string with nothing after
// it, or a non-string where a key belongs, is a value under !BADKEY.
func appendArgs(b []byte, args []any) []byte {
	for len(args) > 0 {
		key, ok := args[0].(string)
		switch {
		case !ok:
			b = appendAttr(b, badKey, args[0])
			args = args[1:]
		case len(args) == 1:
			b = appendAttr(b, badKey, key)
			args = nil
		default:
			if key != "" || args[1] != nil { // slog drops an empty attr
				b = appendAttr(b, key, args[1])
			}
			args = args[2:]
		}
	}
	return b
}

const badKey = "!BADKEY"

func appendAttr(b []byte, key string, v any) []byte {
	b = append(b, ' ')
	b = appendString(b, key)
	b = append(b, '=')
	return appendValue(b, v)
}

// appendValue formats v as slog's TextHandler does for the kinds wgstun
// logs.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return appendString(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int8:
		return strconv.AppendInt(b, int64(x), 10)
	case int16:
		return strconv.AppendInt(b, int64(x), 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case uintptr:
		return strconv.AppendUint(b, uint64(x), 10)
	case float32:
		return strconv.AppendFloat(b, float64(x), 'g', -1, 64)
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(b, x)
	case time.Duration:
		return append(b, x.String()...)
	case time.Time:
		return appendTime(b, x)
	case encoding.TextMarshaler:
		text, err := x.MarshalText()
		if err != nil {
			return appendString(b, "!ERROR:"+err.Error())
		}
		return appendString(b, string(text))
	case []byte:
		return strconv.AppendQuote(b, string(x))
	}
	return appendString(b, fmt.Sprintf("%+v", v))
}

// appendTime appends t in RFC 3339 with exactly three fractional digits,
// as slog does.
func appendTime(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	// RFC3339Nano drops trailing zeros; a tenth of a millisecond keeps
	// four digits, and the fourth is cut.
	t = t.Round(0).Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	if len(b) < n+prefixLen+1 {
		return b // a year beyond 9999: no fraction to trim
	}
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}

// appendString appends s, quoted with strconv.Quote's escapes when slog
// would quote it.
func appendString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// needsQuoting is slog's rule: empty; an ASCII space, '=', '"' or control
// character (DEL and backslash pass); invalid UTF-8; a non-ASCII rune that
// is a space or not printable.
func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == ' ' || c == '=' || c == '"' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		// Every non-ASCII space (White_Space) is also not printable by
		// Go's definition, so strconv.IsPrint covers unicode.IsSpace.
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
