package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/wgstun/wgstun/src/internal/jsonwire"
)

func TestRedact(t *testing.T) {
	long := strings.Repeat("ab", 40) // 80 hex digits: shortest sealed record
	tests := []struct {
		name    string
		in      string
		secrets []string
		want    string
	}{
		{"plain text kept", "bucket is read-only", nil, "bucket is read-only"},
		{"key kept", "key " + testKey + " missing", nil, "key " + testKey + " missing"},
		{"record value removed", "got value=" + long + ".", nil, "got value=<redacted>."},
		{"upper-case value removed", "v " + strings.ToUpper(long), nil, "v <redacted>"},
		{"79 hex digits kept", long[:79], nil, long[:79]},
		{"short secret removed", "value zz-top here", []string{"zz-top"}, "value <redacted> here"},
		{"value after a non-hex letter", "x" + long, nil, "x<redacted>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact(tt.in, tt.secrets); got != tt.want {
				t.Errorf("redact = %q, want %q", got, tt.want)
			}
		})
	}
}

// stdParseExecOutput is parseExecOutput as it was written with
// encoding/json; the reference for the jsonwire one.
func stdParseExecOutput(out []byte) (execReply, error) {
	dec := json.NewDecoder(bytes.NewReader(out))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return execReply{}, errors.New("plugin wrote no output, want a JSON object")
		}
		return execReply{}, errors.New("plugin output is not JSON")
	}
	if len(raw) == 0 || raw[0] != '{' {
		return execReply{}, errors.New("plugin output does not begin with a JSON object")
	}
	var r struct {
		Success bool   `json:"success"`
		Value   string `json:"value"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return execReply{}, errors.New("plugin output object")
	}
	return execReply(r), nil
}

// FuzzParseExecOutput checks that no plugin output makes the reply parser
// panic, that what it accepts really began with a JSON object, and that
// it agrees with the encoding/json parser it replaced: the same reply, or
// an error of the same kind.
func FuzzParseExecOutput(f *testing.F) {
	f.Add([]byte(`{"success":true,"value":"abcd"}`))
	f.Add([]byte(`{"success":false,"error":"x"} trailing`))
	f.Add([]byte(`hello`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, out []byte) {
		r, err := parseExecOutput(out)
		want, wantErr := stdParseExecOutput(out)
		switch {
		case errors.Is(err, jsonwire.ErrDepth):
		case (err == nil) != (wantErr == nil):
			t.Fatalf("%q: error %v, encoding/json's parser %v", out, err, wantErr)
		case err != nil && !strings.HasPrefix(err.Error(), wantErr.Error()):
			t.Fatalf("%q: error %q, encoding/json's parser %q", out, err, wantErr)
		case r != want:
			t.Fatalf("%q: reply %+v, encoding/json's parser %+v", out, r, want)
		}
		if err != nil {
			if r != (execReply{}) {
				t.Fatalf("error %v with non-zero reply %+v", err, r)
			}
			return
		}
		if s := strings.TrimLeft(string(out), " \t\r\n"); !strings.HasPrefix(s, "{") {
			t.Fatalf("accepted output not starting with an object: %q", out)
		}
	})
}

// TestExecRequestJSON compares the request with json.Marshal of the
// struct it used to be.
func TestExecRequestJSON(t *testing.T) {
	type stdRequest struct {
		Action string `json:"action"`
		Key    string `json:"key"`
		Value  string `json:"value,omitempty"`
	}
	for _, r := range []execRequest{
		{Action: "get", Key: testKey},
		{Action: "set", Key: testKey, Value: strings.Repeat("ab", 40)},
		{Action: "set", Key: "<&>\"\\\n\u2028\xff"},
	} {
		want, err := json.Marshal(stdRequest(r))
		if err != nil {
			t.Fatal(err)
		}
		if got := r.appendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("request %+v:\nours          %s\nencoding/json %s", r, got, want)
		}
	}
}
