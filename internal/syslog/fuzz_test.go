package syslog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var (
	// earliestStamp and latestStamp bound any instant an RFC 3339 or BSD stamp can name: year 1
	// at +23:59 to year 9999 at -23:59.
	earliestStamp = time.Date(0, time.December, 31, 0, 0, 0, 0, time.UTC)
	latestStamp   = time.Date(10000, time.January, 2, 0, 0, 0, 0, time.UTC)
	// fuzzEpoch and fuzzSpan place the fuzzed receive times in a range a relay can see.
	fuzzEpoch = time.Date(1970, time.January, 1, 0, 0, 0, 0, time.UTC)
	fuzzSpan  = int64(130 * 365 * 24 * time.Hour)
)

// addCorpusSeeds seeds f with every message of testdata/corpus.txt.
func addCorpusSeeds(f *testing.F, add func(msg []byte)) {
	data, err := os.ReadFile(filepath.Join("testdata", "corpus.txt"))
	if err != nil {
		f.Fatalf("read corpus: %v", err)
	}
	for line := range bytes.Lines(data) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		if len(line) > 0 && line[0] != '#' {
			add(line)
		}
	}
}

// fuzzReceived maps fuzzed numbers to a receive time between 1970 and 2100 and a zone within
// ±14 hours (the widest offsets in use).
func fuzzReceived(nanos int64, zoneMinutes int16) (time.Time, *time.Location) {
	if nanos < 0 {
		nanos = -(nanos + 1)
	}
	recv := fuzzEpoch.Add(time.Duration(nanos % fuzzSpan))
	offset := int(zoneMinutes) % (14 * 60)
	return recv, time.FixedZone("fuzz", offset*60)
}

func FuzzScan(f *testing.F) {
	addCorpusSeeds(f, func(msg []byte) {
		f.Add(msg, corpusReceived.UnixNano(), int16(0))
	})
	f.Add([]byte("<13>Dec 31 23:59:59 h a: x"), time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC).UnixNano(), int16(600))
	f.Add([]byte("<13>Jan  1 00:00:10 h a: x"), time.Date(2025, 12, 31, 23, 59, 50, 0, time.UTC).UnixNano(), int16(-300))
	f.Add([]byte("<13>Feb 29 12:00:00 h a: x"), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), int16(0))
	f.Fuzz(func(t *testing.T, msg []byte, nanos int64, zoneMinutes int16) {
		recv, loc := fuzzReceived(nanos, zoneMinutes)
		orig := bytes.Clone(msg)
		h := Parser{Location: loc}.Scan(msg, recv)
		if !bytes.Equal(msg, orig) {
			t.Fatalf("Scan modified its input: %q became %q", orig, msg)
		}
		if h.Priority < -1 || h.Priority > maxPriority {
			t.Fatalf("Scan(%q).Priority = %d, want -1 to 191", msg, h.Priority)
		}
		if h.Priority >= 0 && msg[0] != '<' {
			t.Fatalf("Scan(%q).Priority = %d for a message without PRI", msg, h.Priority)
		}
		if !h.Timestamp.IsZero() {
			if h.Rewrite {
				t.Fatalf("Scan(%q) = %+v: a message with a timestamp is not rewritten", msg, h)
			}
			if h.Timestamp.Before(earliestStamp) || h.Timestamp.After(latestStamp) {
				t.Fatalf("Scan(%q).Timestamp = %v, outside years 1 to 9999", msg, h.Timestamp)
			}
			if h.Timestamp.Location() != time.UTC {
				t.Fatalf("Scan(%q).Timestamp = %v, want UTC", msg, h.Timestamp)
			}
		}

		out := AppendRewritten(nil, msg, h, recv, corpusSource)
		if out[0] != '<' {
			t.Fatalf("AppendRewritten(%q) = %q, want it to start with '<'", msg, out)
		}
		content := msg
		if h.Priority >= 0 {
			content = msg[bytes.IndexByte(msg, '>')+1:]
		}
		if !bytes.HasSuffix(out, content) {
			t.Fatalf("AppendRewritten(%q) = %q, want it to end with the content %q", msg, out, content)
		}
		// The rewrite carries the receive time and the PRI in a header Scan reads back.
		rh := Parser{Location: loc}.Scan(out, recv)
		wantPri := h.Priority
		if wantPri < 0 {
			wantPri = defaultPriority
		}
		if rh.Rewrite || rh.Priority != wantPri || !rh.Timestamp.Equal(recv.Truncate(time.Microsecond)) {
			t.Fatalf("Scan(AppendRewritten(%q)) = %+v, want priority %d and timestamp %v", msg, rh, wantPri, recv)
		}
	})
}

// FuzzAppendRewritten checks the rewrite of a message with the header of another one, which a
// caller mixing up buffers would pass: it must not panic and must still produce a message.
func FuzzAppendRewritten(f *testing.F) {
	addCorpusSeeds(f, func(msg []byte) {
		f.Add(msg, []byte("x"), "192.0.2.7")
	})
	f.Add([]byte("<13>x"), []byte(""), "")
	f.Fuzz(func(t *testing.T, scanned, msg []byte, source string) {
		h := Parser{}.Scan(scanned, corpusReceived)
		out := AppendRewritten([]byte("kept"), msg, h, corpusReceived, source)
		if !bytes.HasPrefix(out, []byte("kept<")) {
			t.Fatalf("AppendRewritten(%q, header of %q) = %q, want dst kept and '<' after it", msg, scanned, out)
		}
		if !bytes.Contains(out, []byte(" 2026-02-21T21:08:00.500000Z ")) {
			t.Fatalf("AppendRewritten(%q, header of %q) = %q, want the receive time", msg, scanned, out)
		}
	})
}

// FuzzForStream checks that the Stamper of Stamper.ForStream, which keeps the last RFC 3339 date
// and time, returns what Stamp returns for every message of a stream: two messages, stamped in
// turn, twice, so that each meets the other's cached date and time and its own.
func FuzzForStream(f *testing.F) {
	addCorpusSeeds(f, func(msg []byte) {
		f.Add(msg, []byte("<13>1 2026-02-21T21:07:50Z h a - - - x"), corpusReceived.UnixNano(), int16(0))
	})
	f.Add([]byte("<13>1 2026-02-21T21:07:50.239881+01:00 h a - - - x"), []byte("<13>1 2026-02-21T21:07:50.5-23:59 h a - - - x"),
		corpusReceived.UnixNano(), int16(0))
	f.Add([]byte("<13>1 2026-02-21T21:07:50+01:0x h a - - - x"), []byte("<13>1 2026-02-21T21:07:50 h a - - - x"),
		corpusReceived.UnixNano(), int16(-300))
	f.Add([]byte("<13>2026-02-29T21:07:50Z: x"), []byte("<13>2024-02-29T21:07:50Z: x"), corpusReceived.UnixNano(), int16(60))
	f.Fuzz(func(t *testing.T, a, b []byte, nanos int64, zoneMinutes int16) {
		recv, loc := fuzzReceived(nanos, zoneMinutes)
		s := Stamper{Parser: Parser{Location: loc}}
		stamp := s.ForStream()
		for i, msg := range [][]byte{a, b, a, b} {
			wantTS, wantOut := s.Stamp(nil, msg, recv, corpusSource)
			ts, out := stamp.Stamp(nil, msg, recv, corpusSource)
			if ts != wantTS || !bytes.Equal(out, wantOut) {
				t.Fatalf("message %d of the stream, %q: ForStream's Stamp = %v, %q; Stamp = %v, %q", i, msg, ts, out, wantTS, wantOut)
			}
		}
	})
}
