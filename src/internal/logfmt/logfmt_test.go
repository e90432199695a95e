package logfmt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

type stringer struct{ n int }

func (s stringer) String() string { return fmt.Sprintf("peer #%d", s.n) }

type state string

type textErr struct{}

func (textErr) MarshalText() ([]byte, error) { return nil, errors.New("no text") }

// slogLine formats one event with log/slog's TextHandler: the reference.
func slogLine(t *testing.T, at time.Time, level slog.Level, with []any, msg string, args []any) string {
	t.Helper()
	var b bytes.Buffer
	l := slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if len(with) > 0 {
		l = l.With(with...)
	}
	r := slog.NewRecord(at, level, msg, 0)
	r.Add(args...)
	if err := l.Handler().Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func ourLine(at time.Time, level Level, with []any, msg string, args []any) string {
	var b bytes.Buffer
	lv := new(LevelVar)
	lv.Set(level) // Handle in slogLine does not filter either
	l := New(&b, lv)
	l.s.now = func() time.Time { return at }
	if len(with) > 0 {
		l = l.With(with...)
	}
	l.log(level, msg, args)
	return b.String()
}

func TestMatchesSlogTextHandler(t *testing.T) {
	key := wgtypes.Key{1, 2, 3, 250, 251, 252, 253, 254, 255}
	at := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.FixedZone("", 2*3600))
	tests := []struct {
		name  string
		level Level
		with  []any
		msg   string
		args  []any
	}{
		{name: "plain", level: LevelInfo, msg: "starting", args: []any{"version", "dev", "interfaces", 2}},
		{name: "quoted message", level: LevelWarn, msg: "refresh done", args: []any{"took", 1234567 * time.Nanosecond}},
		{name: "empty message and value", level: LevelError, msg: "", args: []any{"err", ""}},
		{name: "debug", level: LevelDebug, msg: "probe", args: []any{"n", int8(-3), "m", uint16(51820), "u", uint64(math.MaxUint64), "i", int64(math.MinInt64)}},
		{name: "odd levels", level: LevelInfo + 2, msg: "x"},
		{name: "below debug", level: LevelDebug - 1, msg: "x"},
		{name: "above error", level: LevelError + 3, msg: "x"},
		{name: "strings needing quotes", level: LevelInfo, msg: "s", args: []any{
			"space", "a b", "eq", "a=b", "quote", `a"b`, "tab", "a\tb", "nl", "line\nnext",
			"nul", "a\x00b", "del", "a\x7fb", "backslash", `C:\path`, "unicode", "Zürich→wg0",
			"nbsp", "a\u00a0b", "ls", "a\u2028b", "nel", "a\u0085b", "bad utf8", "a\xffb",
			"emoji", "🦊", "zero width", "a\u200bb", "colon", "host:51820", "brackets", "[::1]:1",
		}},
		{name: "keys needing quotes", level: LevelInfo, msg: "k", args: []any{"a key", 1, "k=v", 2, "", 3}},
		{name: "numbers", level: LevelInfo, msg: "n", args: []any{
			"f", 0.1, "f32", float32(0.1), "big", 1e21, "small", 1e-7, "nan", math.NaN(),
			"inf", math.Inf(-1), "neg0", math.Copysign(0, -1), "pct", 33.333333333333336, "t", true, "f2", false,
		}},
		{name: "durations and times", level: LevelInfo, msg: "d", args: []any{
			"zero", time.Duration(0), "ms", 1500 * time.Millisecond, "neg", -2 * time.Minute,
			"utc", time.Date(2023, 1, 2, 3, 4, 5, 999999999, time.UTC),
			"whole", time.Date(2023, 1, 2, 3, 4, 5, 0, time.FixedZone("x", -(5*3600+30*60))),
			"zero time", time.Time{},
		}},
		{name: "errors", level: LevelError, msg: "store failing", args: []any{
			"err", errors.New("store: exec plugin get: exit status 1"),
			"wrapped", fmt.Errorf("read %s: %w", "/tmp/x y", io.EOF),
			"nil err", error(nil), "nil", nil,
		}},
		{name: "netip", level: LevelInfo, msg: "endpoint", args: []any{
			"endpoint", netip.MustParseAddrPort("203.0.113.7:51820"),
			"v6", netip.MustParseAddrPort("[2001:db8::7%eth0]:51820"),
			"none", netip.AddrPort{}, "addr", netip.MustParseAddr("192.0.2.1"), "no addr", netip.Addr{},
			"prefix", netip.MustParsePrefix("10.0.0.0/8"),
		}},
		{name: "stringers and others", level: LevelInfo, msg: "misc", args: []any{
			"peer", key, "s", stringer{7}, "ptr", &stringer{8}, "state", state("con nected"),
			"bytes", []byte("raw\x01"), "slice", []string{"a", "b"}, "map", map[string]int{"a": 1},
			"struct", struct {
				A int
				B string
			}{1, "x y"}, "bad text", textErr{},
		}},
		{name: "bad keys", level: LevelWarn, msg: "bad", args: []any{42, "k", "v", "lonely"}},
		{name: "with", level: LevelInfo, with: []any{"iface", "wg0", "store", "a b"}, msg: "peer set", args: []any{"peer", "abc"}},
		{name: "with bad key", level: LevelInfo, with: []any{3, "iface"}, msg: "w"},
		{name: "empty attr dropped", level: LevelInfo, msg: "e", args: []any{"", nil, "k", 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := slogLine(t, at, slog.Level(tt.level), tt.with, tt.msg, tt.args)
			got := ourLine(at, tt.level, tt.with, tt.msg, tt.args)
			if got != want {
				t.Errorf("logfmt:\n%q\nslog:\n%q", got, want)
			}
		})
	}
}

// TestTimes compares time stamps over sub-millisecond edges and zones.
func TestTimes(t *testing.T) {
	base := time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)
	zones := []*time.Location{time.UTC, time.FixedZone("a", 3600), time.FixedZone("b", -(9*3600 + 30*60)), time.Local}
	for _, ns := range []int{0, 1, 999, 999999, 1000000, 1099999, 100000000, 999999999} {
		for _, z := range zones {
			at := base.Add(time.Duration(ns)).In(z)
			want := slogLine(t, at, slog.LevelInfo, nil, "m", nil)
			got := ourLine(at, LevelInfo, nil, "m", nil)
			if got != want {
				t.Errorf("%v: logfmt %q, slog %q", at, got, want)
			}
		}
	}
	// time.Now carries a monotonic reading; the line must not show it.
	now := time.Now()
	if got, want := ourLine(now, LevelInfo, nil, "m", nil), slogLine(t, now, slog.LevelInfo, nil, "m", nil); got != want {
		t.Errorf("now: logfmt %q, slog %q", got, want)
	}
}

func TestLevelFilterAndReload(t *testing.T) {
	var b bytes.Buffer
	lv := new(LevelVar)
	l := New(&b, lv).With("iface", "wg0")
	l.Debug("hidden")
	l.Info("shown")
	lv.Set(LevelDebug) // a reload lowers the level for every derived logger
	l.Debug("now shown", "k", 1)
	lv.Set(LevelError)
	l.Warn("hidden again")
	l.Error("failed", "err", errors.New("boom"))
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), out)
	}
	for i, want := range []string{"level=INFO msg=shown iface=wg0", "level=DEBUG msg=\"now shown\" iface=wg0 k=1", "level=ERROR msg=failed iface=wg0 err=boom"} {
		if _, rest, _ := strings.Cut(lines[i], " "); rest != want {
			t.Errorf("line %d: %q, want %q", i, rest, want)
		}
		if !strings.HasPrefix(lines[i], "time=") {
			t.Errorf("line %d has no time: %q", i, lines[i])
		}
	}
	if !l.Enabled(LevelError) || l.Enabled(LevelWarn) {
		t.Error("Enabled does not follow the level")
	}
}

func TestDiscardAndNil(t *testing.T) {
	for _, l := range []*Logger{Discard(), nil, Discard().With("a", 1)} {
		l.Info("x", "k", "v")
		l.Error("x")
		if l.Enabled(LevelError) {
			t.Error("a discarding logger is enabled")
		}
	}
	if New(io.Discard, nil).Enabled(LevelDebug) {
		t.Error("a nil LevelVar should mean info")
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    Level
		wantErr bool
	}{
		{in: "debug", want: LevelDebug},
		{in: "INFO", want: LevelInfo},
		{in: "Warn", want: LevelWarn},
		{in: "error", want: LevelError},
		{in: "", want: LevelInfo, wantErr: true},
		{in: "verbose", want: LevelInfo, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLevel(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseLevel(%q) = %v, %v", tt.in, got, err)
			}
			if err == nil {
				var sl slog.Level
				if e := sl.UnmarshalText([]byte(tt.in)); e != nil || Level(sl) != got {
					t.Errorf("slog reads %q as %v (%v)", tt.in, sl, e)
				}
			}
		})
	}
	for l := LevelDebug - 2; l <= LevelError+2; l++ {
		if got, want := l.String(), slog.Level(l).String(); got != want {
			t.Errorf("Level(%d) = %q, slog says %q", l, got, want)
		}
	}
}

// lockedWriter fails the test if two Writes overlap.
type lockedWriter struct {
	t      *testing.T
	busy   sync.Mutex
	lines  []string
	buffer []byte
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	if !w.busy.TryLock() {
		w.t.Error("concurrent Write")
		return len(p), nil
	}
	defer w.busy.Unlock()
	w.lines = append(w.lines, string(p))
	return len(p), nil
}

func TestConcurrentOneWritePerLine(t *testing.T) {
	w := &lockedWriter{t: t}
	l := New(w, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			ll := l.With("g", g)
			for i := range 50 {
				ll.Info("event", "i", i)
			}
		})
	}
	wg.Wait()
	if len(w.lines) != 400 {
		t.Fatalf("%d writes, want 400", len(w.lines))
	}
	for _, line := range w.lines {
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("write is not one line: %q", line)
		}
	}
}
