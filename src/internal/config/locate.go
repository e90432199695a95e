package config

import (
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// locator maps keys to the lines that define them, so that problems found
// after decoding (which keeps no positions) can still name a line. It reads
// the subset of TOML a configuration file uses: table headers, arrays of
// tables, key = value lines, and values spanning lines inside brackets or
// triple quotes.
type locator struct {
	lines map[string]int // "interface[1].refresh" -> line
	keys  []place        // in file order
	// byBare indexes keys by bare path, built by the first find.
	byBare map[string][]place
}

type place struct {
	bare string // path without array indices: "interface.refresh"
	key  string // path with them: "interface[1].refresh"
	line int
}

func locate(data string) *locator {
	l := &locator{lines: map[string]int{}}
	count := map[string]int{} // array-of-tables path -> elements seen
	var table, bareTable string
	depth := 0     // open brackets of a multi-line value
	inString := "" // open triple quote
	for i, raw := range strings.Split(data, "\n") {
		n := i + 1
		line := raw
		if inString != "" {
			if strings.Contains(line, inString) {
				inString = ""
			}
			continue
		}
		line = strings.TrimSpace(stripComment(line))
		if depth > 0 {
			depth += brackets(line)
			continue
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "[["):
			name := cleanKey(strings.TrimSuffix(strings.TrimPrefix(line, "[["), "]]"))
			full := indexed(name, count)
			idx := count[full]
			count[full] = idx + 1
			bareTable = name
			table = fmt.Sprintf("%s[%d]", full, idx)
			l.add(bareTable, table, n)
		case strings.HasPrefix(line, "["):
			name := cleanKey(strings.TrimSuffix(strings.TrimPrefix(line, "["), "]"))
			bareTable, table = name, indexed(name, count)
			l.add(bareTable, table, n)
		default:
			eq := strings.Index(line, "=")
			if eq < 0 {
				continue
			}
			k := cleanKey(line[:eq])
			val := strings.TrimSpace(line[eq+1:])
			l.add(join(bareTable, k), join(table, k), n)
			for _, q := range []string{`"""`, `'''`} {
				if strings.HasPrefix(val, q) && !strings.Contains(val[3:], q) {
					inString = q
				}
			}
			if strings.HasPrefix(val, "[") {
				depth = brackets(val)
			}
		}
	}
	return l
}

func (l *locator) add(bare, key string, line int) {
	if _, ok := l.lines[key]; !ok {
		l.lines[key] = line
	}
	l.keys = append(l.keys, place{bare: bare, key: key, line: line})
}

// line returns the line of key, or of its closest defined parent, or 0.
// Keys of list elements ("stun.servers[1]") fall back to the list's line.
func (l *locator) line(key string) int {
	for key != "" {
		if n, ok := l.lines[key]; ok {
			return n
		}
		if i := strings.LastIndexAny(key, ".["); i > 0 {
			key = key[:i]
		} else {
			return 0
		}
	}
	return 0
}

// find returns every place an undecoded key stands.
func (l *locator) find(k toml.Key) []place {
	if l.byBare == nil {
		l.byBare = map[string][]place{}
		for _, p := range l.keys {
			l.byBare[p.bare] = append(l.byBare[p.bare], p)
		}
	}
	return l.byBare[strings.Join(k, ".")]
}

// indexed gives the parents of a dotted table name that are arrays of
// tables the index of their latest element: with two [[interface]] seen,
// "interface.peer" becomes "interface[1].peer".
func indexed(name string, count map[string]int) string {
	parts := strings.Split(name, ".")
	out := ""
	for i, p := range parts {
		out = join(out, p)
		if n := count[out]; n > 0 && i < len(parts)-1 {
			out = fmt.Sprintf("%s[%d]", out, n-1)
		}
	}
	return out
}

func join(table, key string) string {
	if table == "" {
		return key
	}
	return table + "." + key
}

// cleanKey turns `a . "b" . c` into a.b.c.
func cleanKey(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// stripComment cuts a # comment that is not inside a quoted string.
// brackets counts the opening minus the closing brackets of s outside
// quoted strings.
func brackets(s string) int {
	n := 0
	unquoted(s, func(_ int, c byte) bool {
		switch c {
		case '[':
			n++
		case ']':
			n--
		}
		return true
	})
	return n
}

func stripComment(s string) string {
	end := len(s)
	unquoted(s, func(i int, c byte) bool {
		if c == '#' {
			end = i
			return false
		}
		return true
	})
	return s[:end]
}

// unquoted calls f with each byte of s that is outside a quoted string,
// with its index, until f returns false.
func unquoted(s string, f func(i int, c byte) bool) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case !f(i, c):
			return
		}
	}
}
