package bsdbpf

import (
	"bytes"
	"errors"
	"testing"
)

type walked struct {
	pkt     []byte
	wirelen int
}

func walkAll(buf []byte, l layout) ([]walked, error) {
	var got []walked
	err := walk(buf, l, func(pkt []byte, wirelen int) {
		got = append(got, walked{bytes.Clone(pkt), wirelen})
	})
	return got, err
}

func TestWalk(t *testing.T) {
	f1 := frameFor(dltEN10MB, FreeBSD, good4())
	f2 := []byte{1, 2, 3} // odd length: the next record starts after padding
	f3 := frameFor(dltEN10MB, FreeBSD, good6())
	layouts := []struct {
		name string
		l    layout
	}{{"freebsd", freeBSD64}, {"darwin", darwin64}}
	for _, lt := range layouts {
		l := lt.l
		minHdr := l.hdrlen + 2
		tests := []struct {
			name string
			buf  []byte
			want [][]byte
			err  error
		}{
			{"empty", nil, nil, nil},
			{"one record", buffer(l, etherHdrLen, false, f1), [][]byte{f1}, nil},
			{"one record with trailing padding", buffer(l, etherHdrLen, true, f2), [][]byte{f2}, nil},
			{"three records", buffer(l, etherHdrLen, false, f1, f2, f3), [][]byte{f1, f2, f3}, nil},
			{"three records, padded", buffer(l, etherHdrLen, true, f2, f1, f2), [][]byte{f2, f1, f2}, nil},
			{"zero-length capture", record(l, 0, 0, 60, nil), [][]byte{{}}, nil},
			{"zero-length then one", append(record(l, 0, 0, 60, nil), record(l, 0, uint32(len(f1)), 0, f1)...), [][]byte{{}, f1}, nil},
			{"large hdrlen", record(l, 64, uint32(len(f2)), 0, f2), [][]byte{f2}, nil},
			{"truncated header", record(l, 0, 3, 0, f2)[:minHdr-1], nil, errShortHeader},
			{"truncated second header", append(record(l, 0, 3, 0, f2), make([]byte, minHdr-1)...), [][]byte{f2}, errShortHeader},
			{"hdrlen below the header", record(l, 0, 3, 0, f2), nil, errBadHdrLen},
			{"hdrlen zero", func() []byte { r := record(l, 0, 3, 0, f2); hostOrder.PutUint16(r[l.hdrlen:], 0); return r }(), nil, errBadHdrLen},
			{"hdrlen beyond buffer", func() []byte { r := record(l, 0, 3, 0, f2); hostOrder.PutUint16(r[l.hdrlen:], 0xffff); return r }(), nil, errHdrBeyond},
			{"caplen beyond buffer", record(l, 0, uint32(len(f1)+1), 0, f1)[:minHdr+len(f1)], nil, errCapBeyond},
			{"caplen 4 GiB", record(l, 0, 0xffffffff, 0, f1), nil, errCapBeyond},
			{"second caplen beyond", append(record(l, 0, 3, 0, f2), record(l, 0, 100, 0, f2)...), [][]byte{f2}, errCapBeyond},
		}
		for _, tc := range tests {
			t.Run(lt.name+"/"+tc.name, func(t *testing.T) {
				if tc.name == "hdrlen below the header" {
					hostOrder.PutUint16(tc.buf[l.hdrlen:], uint16(minHdr-1))
				}
				got, err := walkAll(tc.buf, l)
				if !errors.Is(err, tc.err) || (err != nil && !errors.Is(err, ErrMalformedBuffer)) {
					t.Fatalf("walk error = %v, want %v", err, tc.err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("walk delivered %d records, want %d", len(got), len(tc.want))
				}
				for i := range got {
					if !bytes.Equal(got[i].pkt, tc.want[i]) {
						t.Errorf("record %d = % x, want % x", i, got[i].pkt, tc.want[i])
					}
				}
			})
		}
	}
}

// TestWalkWirelen checks bh_datalen is passed through (a frame cut by the
// snapshot length has datalen > caplen).
func TestWalkWirelen(t *testing.T) {
	got, err := walkAll(record(freeBSD64, 0, 3, 1500, []byte{1, 2, 3}), freeBSD64)
	if err != nil || len(got) != 1 || got[0].wirelen != 1500 {
		t.Fatalf("walk = %+v, %v; want one record of wire length 1500", got, err)
	}
}

// TestWalkLayoutsDiffer checks a FreeBSD buffer is not read as a macOS one
// by accident: the header fields sit at other offsets.
func TestWalkLayoutsDiffer(t *testing.T) {
	buf := buffer(freeBSD64, etherHdrLen, false, frameFor(dltEN10MB, FreeBSD, good4()))
	got, err := walkAll(buf, darwin64)
	if err == nil && len(got) == 1 && bytes.Equal(got[0].pkt, frameFor(dltEN10MB, FreeBSD, good4())) {
		t.Fatal("a FreeBSD record walks the same with the macOS layout")
	}
}

func FuzzWalk(f *testing.F) {
	f1 := frameFor(dltEN10MB, FreeBSD, good4())
	f.Add(buffer(freeBSD64, etherHdrLen, false, f1, []byte{1, 2, 3}), true)
	f.Add(buffer(darwin64, etherHdrLen, true, f1, f1), false)
	f.Add(record(freeBSD64, 0, 0xffffffff, 0, f1), true)
	f.Fuzz(func(t *testing.T, buf []byte, freebsd bool) {
		l := darwin64
		if freebsd {
			l = freeBSD64
		}
		total := 0
		err := walk(buf, l, func(pkt []byte, _ int) {
			total += len(pkt)
			if cap(pkt) != len(pkt) {
				t.Fatalf("record capacity %d exceeds its length %d", cap(pkt), len(pkt))
			}
		})
		if err != nil && !errors.Is(err, ErrMalformedBuffer) {
			t.Fatalf("walk error %v does not wrap ErrMalformedBuffer", err)
		}
		if total > len(buf) {
			t.Fatalf("walk delivered %d bytes from a %d-byte buffer", total, len(buf))
		}
	})
}
