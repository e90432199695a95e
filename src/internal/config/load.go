package config

// Reading a configuration file: Load reads it, Parse decodes it and hands
// it to validate. decode is the entry point for the file's bytes and the
// place for any limit on them. Decoding is strict: a syntax or type error
// is reported with its file, line and key, and a key that the file struct
// below does not name is reported as unknown, by validate.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"
)

// Limits on a configuration file, far above any real one: the file's
// size, how deeply arrays and inline tables nest in it (the decoder
// recurses once per level), and how much of it an error report quotes.
const (
	MaxSize     = 256 << 10
	maxDepth    = 16
	maxKept     = 1000 // problems an Error holds; the rest are counted
	maxQuoted   = 48   // bytes of a value or key quoted in a problem
	maxReport   = 4096 // bytes of an Error's text
	maxProblems = 20   // problems an Error's Shown lists
)

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// ReadFile reads a configuration file: a regular file (symlinks are
// followed) of at most MaxSize bytes. A FIFO or a device is refused
// without blocking on it (the open does not wait for a writer).
func ReadFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("config: %s is not a regular file (mode %s)", path, fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("config: %s is over %d bytes, the most a configuration may have", path, MaxSize)
	}
	return b, nil
}

// Parse decodes and validates data; path is used in error messages.
func Parse(path string, data []byte) (*Config, error) {
	f, md, err := decode(path, data)
	if err != nil {
		return nil, err
	}
	return validate(path, data, f, md.Undecoded())
}

// decode is the one place a configuration's bytes meet the TOML decoder,
// and so the place for limits on them: the size (ReadFile, and again here
// for callers of Parse) and how deeply arrays and inline tables nest,
// checked before decoding. Every configuration comes through it: Load
// (`wgstun run`, `wgstun check`) and the daemon's reload, which reads the
// file with ReadFile and calls Parse. A syntax or type error becomes an
// *Error with one Problem carrying the line and key when the decoder gives
// them. Unknown keys are not errors here: the caller reports
// md.Undecoded().
func decode(path string, data []byte) (*file, toml.MetaData, error) {
	var f file
	if len(data) > MaxSize {
		return nil, toml.MetaData{}, &Error{Problems: []Problem{{File: path, Msg: fmt.Sprintf("over %d bytes, the most a configuration may have", MaxSize)}}}
	}
	if line := tooDeep(data); line > 0 {
		return nil, toml.MetaData{}, &Error{Problems: []Problem{{File: path, Line: line, Msg: fmt.Sprintf("arrays and inline tables nest more than %d deep", maxDepth)}}}
	}
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		p := Problem{File: path, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.Line = pe.Position.Line
			p.Msg = pe.Message
			p.Key = pe.LastKey
		} else {
			p.Line, p.Key, p.Msg = splitDecodeError(p.Msg)
		}
		p.Key, p.Msg = clip(p.Key, maxQuoted), clip(p.Msg, 4*maxQuoted)
		return nil, md, &Error{Problems: []Problem{p}}
	}
	return &f, md, nil
}

// tooDeep returns the line where arrays and inline tables first nest
// deeper than maxDepth, or 0. It skips comments and strings of every TOML
// kind; table headers count as brackets too, at most two deep.
func tooDeep(data []byte) int {
	depth, line := 0, 1
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '\n':
			line++
		case '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			end := []byte{c}
			if i+2 < len(data) && data[i+1] == c && data[i+2] == c {
				end = []byte{c, c, c}
			}
			for i += len(end); i < len(data) && !bytes.HasPrefix(data[i:], end); i++ {
				switch {
				case data[i] == '\n':
					line++
				case data[i] == '\\' && c == '"':
					i++ // an escape; a newline after it is a line ending in a multi-line string
					if i < len(data) && data[i] == '\n' {
						line++
					}
				}
			}
			i += len(end) - 1
		case '[', '{':
			if depth++; depth > maxDepth {
				return line
			}
		case ']', '}':
			depth = max(depth-1, 0)
		}
	}
	return 0
}

// clip shortens s to about n bytes for quoting in a problem.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// splitDecodeError takes apart the decoder's type errors, which come as
// `line 7 (last key "interface.name"): incompatible types: ...`.
func splitDecodeError(msg string) (line int, key, rest string) {
	head, rest, ok := strings.Cut(msg, "): ")
	if !ok {
		return 0, "", msg
	}
	num, key, ok := strings.Cut(strings.TrimPrefix(head, "line "), " (last key ")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, "", msg
	}
	return n, strings.Trim(key, `"`), rest
}

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted key, e.g. interface[0].refresh
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(clip(p.Key, maxQuoted))
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found in one file, up to maxKept of them.
type Error struct {
	Problems []Problem
	Dropped  int // problems found past maxKept, not kept
}

// Error lists the problems one per line, up to about maxReport bytes, and
// then how many more there are.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		s := p.String()
		if i > 0 && b.Len()+len(s) > maxReport {
			fmt.Fprintf(&b, "\n... and %d more problems", len(e.Problems)-i+e.Dropped)
			return b.String()
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s)
	}
	if e.Dropped > 0 {
		fmt.Fprintf(&b, "\n... and %d more problems", e.Dropped)
	}
	return b.String()
}

// Shown is the first problems, at most maxProblems, and how many are left
// out: what a log shows of a rejected configuration.
func (e *Error) Shown() ([]Problem, int) {
	n := min(len(e.Problems), maxProblems)
	return e.Problems[:n], len(e.Problems) - n + e.Dropped
}

// file mirrors the TOML document. Durations are strings so that a bad one
// is reported with its key instead of as a decoder type error.
type file struct {
	Log struct {
		Level string `toml:"level"`
	} `toml:"log"`
	Daemon struct {
		Socket       string `toml:"socket"`
		StateDir     string `toml:"state_dir"`
		MaxRecordAge string `toml:"max_record_age"`
		MemoryLimit  string `toml:"memory_limit"`
		GCPercent    *int   `toml:"gc_percent"`
	} `toml:"daemon"`
	STUN struct {
		Servers []string `toml:"servers"`
	} `toml:"stun"`
	Store     map[string]fileStore `toml:"store"`
	Interface []fileInterface      `toml:"interface"`
}

type fileStore struct {
	Type           string   `toml:"type"`
	Path           string   `toml:"path"`
	Command        string   `toml:"command"`
	Args           []string `toml:"args"`
	Env            []string `toml:"env"`
	Timeout        string   `toml:"timeout"`
	Server         string   `toml:"server"`
	Zone           string   `toml:"zone"`
	RecordName     string   `toml:"record_name"`
	TSIGKey        string   `toml:"tsig_key"`
	TSIGAlgorithm  string   `toml:"tsig_algorithm"`
	TSIGSecretFile string   `toml:"tsig_secret_file"`
	TSIGSecretEnv  string   `toml:"tsig_secret_env"`
	TTL            string   `toml:"ttl"`
	Subdomain      string   `toml:"subdomain"`
	TokenFile      string   `toml:"token_file"`
	TokenEnv       string   `toml:"token_env"`
	API            string   `toml:"api"`
	Endpoints      []string `toml:"endpoints"`
}

type fileInterface struct {
	Name         string     `toml:"name"`
	Store        string     `toml:"store"`
	Family       string     `toml:"family"`
	Refresh      string     `toml:"refresh"`
	Peers        []string   `toml:"peers"`
	PingInterval string     `toml:"ping_interval"`
	Peer         []filePeer `toml:"peer"`
	Capture      []string   `toml:"capture"`
	FIB          *int       `toml:"fib"`
	BindIf       string     `toml:"bind_interface"`
	PortMapping  string     `toml:"port_mapping"`
	Gateway      string     `toml:"gateway"`
	MappingLife  string     `toml:"mapping_lifetime"`
	FastHS       *bool      `toml:"fast_handshake"`
	PathChecks   *bool      `toml:"path_checks"`
	LANCands     *bool      `toml:"lan_candidates"`
}

// filePeer is one [[interface.peer]] table: settings for one peer.
type filePeer struct {
	PublicKey string `toml:"public_key"`
	Ping      string `toml:"ping"`
}
