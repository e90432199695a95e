package config

// Reading a configuration file: Load reads it, Parse decodes it and hands
// it to validate. decode is the entry point for the file's bytes and the
// place for any limit on them. Decoding is strict: a syntax or type error
// is reported with its file, line and key, and a key that the file struct
// below does not name is reported as unknown, by validate.

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	// The whole file, with no size limit; see decode.
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, b)
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
// and so the place for limits on them (the file's size, how deeply its
// tables and arrays nest); today there are none. Every configuration comes
// through it: Load (`wgstun run`, `wgstun check`) and the daemon's reload,
// which reads the file itself and calls Parse. A syntax or type error
// becomes an *Error with one Problem carrying the line and key when the
// decoder gives them. Unknown keys are not errors here: the caller reports
// md.Undecoded().
func decode(path string, data []byte) (*file, toml.MetaData, error) {
	var f file
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
		return nil, md, &Error{Problems: []Problem{p}}
	}
	return &f, md, nil
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
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found in one file.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// file mirrors the TOML document. Durations are strings so that a bad one
// is reported with its key instead of as a decoder type error.
type file struct {
	Log struct {
		Level string `toml:"level"`
	} `toml:"log"`
	Daemon struct {
		Socket string `toml:"socket"`
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
}

// filePeer is one [[interface.peer]] table: settings for one peer.
type filePeer struct {
	PublicKey string `toml:"public_key"`
	Ping      string `toml:"ping"`
}
