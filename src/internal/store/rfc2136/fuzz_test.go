package rfc2136

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/dnswire"
)

func hmacSHA256(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// FuzzParseMessage feeds arbitrary bytes to the reply parser and to what
// the store does with a parsed reply: it must not panic, offsets must stay
// inside the message, and a verified TSIG needs the right MAC. The corpus
// holds replies captured from Knot DNS 3.2.6 (to a TXT query, to an
// UPDATE, a BADSIG and a BADKEY rejection) and crafted edge cases.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte{0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 'a', 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 1, 'x'})
	k, _ := newKey("wgstun-key", "hmac-sha256", []byte("secret"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		for _, r := range m.answers {
			_, _ = joinTXT(r.Data)
			if r.Off < dnswire.HeaderLen || r.Off+len(r.Data) > len(b) {
				t.Fatalf("record data at %d+%d outside %d bytes", r.Off, len(r.Data), len(b))
			}
		}
		if m.tsig == nil {
			return
		}
		if m.tsigStart < dnswire.HeaderLen || m.tsigStart >= len(b) {
			t.Fatalf("TSIG at %d in %d bytes", m.tsigStart, len(b))
		}
		if k.verify(b, m, nil, time.Unix(int64(m.tsig.timeSigned), 0)) == nil {
			t.Fatalf("random TSIG verified: %+v", m.tsig)
		}
	})
}
