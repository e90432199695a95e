package store

import (
	"strings"
	"testing"
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

// FuzzParseExecOutput checks that no plugin output makes the reply parser
// panic, and that what it accepts really began with a JSON object.
func FuzzParseExecOutput(f *testing.F) {
	f.Add([]byte(`{"success":true,"value":"abcd"}`))
	f.Add([]byte(`{"success":false,"error":"x"} trailing`))
	f.Add([]byte(`hello`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, out []byte) {
		r, err := parseExecOutput(out)
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
