package framing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// result is one message as the tests compare it.
type result struct {
	Msg       string
	Truncated bool
}

// scanAll runs s to its end and returns its messages and Err.
func scanAll(s *Scanner) ([]result, error) {
	var got []result
	for s.Scan() {
		got = append(got, result{string(s.Message()), s.Truncated()})
	}
	return got, s.Err()
}

// chunkReader returns the chunks one per Read, then io.EOF.
type chunkReader struct {
	chunks [][]byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.chunks) > 0 && len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	return n, nil
}

// readers returns the ways the tests deliver in: whole, one byte at a time, the testing/iotest
// readers, and split in two at every byte position.
func readers(in string) map[string]func() io.Reader {
	rs := map[string]func() io.Reader{
		"whole":   func() io.Reader { return strings.NewReader(in) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
		"half":    func() io.Reader { return iotest.HalfReader(strings.NewReader(in)) },
		"dataerr": func() io.Reader { return iotest.DataErrReader(strings.NewReader(in)) },
	}
	for i := 1; i < len(in); i++ {
		rs[fmt.Sprintf("split%d", i)] = func() io.Reader {
			return &chunkReader{chunks: [][]byte{[]byte(in[:i]), []byte(in[i:])}}
		}
	}
	return rs
}

func TestScanner(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		want    []result
		wantErr error
	}{
		{name: "empty stream"},
		{name: "only terminators", in: "\n\r\n\x00\r\r\n"},
		{name: "LF", in: "a\nbc\n", want: []result{{Msg: "a"}, {Msg: "bc"}}},
		{name: "NUL (GELF)", in: `{"a":1}` + "\x00" + `{"b":2}` + "\x00",
			want: []result{{Msg: `{"a":1}`}, {Msg: `{"b":2}`}}},
		{name: "CR", in: "a\rbc\r", want: []result{{Msg: "a"}, {Msg: "bc"}}},
		{name: "CRLF is one terminator", in: "a\r\nbc\r\n", want: []result{{Msg: "a"}, {Msg: "bc"}}},
		{name: "first of three terminators", in: "a\x00b\rc\nd\re\x00f\ng\x00h\ri\n",
			want: []result{{Msg: "a"}, {Msg: "b"}, {Msg: "c"}, {Msg: "d"}, {Msg: "e"}, {Msg: "f"},
				{Msg: "g"}, {Msg: "h"}, {Msg: "i"}}},
		{name: "empty frames skipped", in: "\n\n\r\n\x00a\n\n\nb\x00\x00",
			want: []result{{Msg: "a"}, {Msg: "b"}}},
		{name: "final message without terminator", in: "a\nbc", want: []result{{Msg: "a"}, {Msg: "bc"}}},
		{name: "octet counting", in: "3 abc4 defg", want: []result{{Msg: "abc"}, {Msg: "defg"}}},
		{name: "octet count keeps terminators inside", in: "6 a\nb\x00c\r2 \n\n",
			want: []result{{Msg: "a\nb\x00c\r"}, {Msg: "\n\n"}}},
		{name: "octet count of two and more digits", in: "10 0123456789" + "11 <13>1 - - x",
			want: []result{{Msg: "0123456789"}, {Msg: "<13>1 - - x"}}},
		{name: "octet counted frames followed by LF", in: "3 abc\n3 def\r\n",
			want: []result{{Msg: "abc"}, {Msg: "def"}}},
		{name: "mixed framing", in: "3 abc<13>hi\n4 defg\x00{}\x005 x y z",
			want: []result{{Msg: "abc"}, {Msg: "<13>hi"}, {Msg: "defg"}, {Msg: "{}"}, {Msg: "x y z"}}},
		{name: "fallback: date without PRI", in: "2024-01-01 12:00:00 host app: hi\n3 abc",
			want: []result{{Msg: "2024-01-01 12:00:00 host app: hi"}, {Msg: "abc"}}},
		{name: "fallback: digits then letters", in: "123abc def\nx\n",
			want: []result{{Msg: "123abc def"}, {Msg: "x"}}},
		{name: "fallback: digits then terminator", in: "12345\nx\r67\x00",
			want: []result{{Msg: "12345"}, {Msg: "x"}, {Msg: "67"}}},
		{name: "fallback: leading zero", in: "0123 abc\n05 x\n",
			want: []result{{Msg: "0123 abc"}, {Msg: "05 x"}}},
		{name: "fallback: count above 1 GiB", in: "1073741825 x\n1700000000 host: epoch\n",
			want: []result{{Msg: "1073741825 x"}, {Msg: "1700000000 host: epoch"}}},
		{name: "fallback: eleven digits", in: "01234567890 x\n12345678901 y\n",
			want: []result{{Msg: "01234567890 x"}, {Msg: "12345678901 y"}}},
		{name: "fallback: digits at EOF", in: "3 abc123", want: []result{{Msg: "abc"}, {Msg: "123"}}},
		{name: "line exactly max", in: "abcd\nxy", max: 4, want: []result{{Msg: "abcd"}, {Msg: "xy"}}},
		{name: "line exactly max at EOF", in: "abcd", max: 4, want: []result{{Msg: "abcd"}}},
		{name: "line one over max", in: "abcde\nxy\n", max: 4,
			want: []result{{Msg: "abcd", Truncated: true}, {Msg: "xy"}}},
		{name: "line over max at EOF", in: "xy\nabcdefgh", max: 4,
			want: []result{{Msg: "xy"}, {Msg: "abcd", Truncated: true}}},
		{name: "rest of a truncated line is never a message", in: "abcd5 xyz\x00\r\nok\n2 no\n", max: 4,
			want: []result{{Msg: "abcd", Truncated: true}, {Msg: "ok"}, {Msg: "no"}}},
		{name: "octet count exactly max", in: "4 abcd2 ok", max: 4,
			want: []result{{Msg: "abcd"}, {Msg: "ok"}}},
		{name: "octet count one over max", in: "5 abcde2 ok", max: 4,
			want: []result{{Msg: "abcd", Truncated: true}, {Msg: "ok"}}},
		{name: "octet count over max", in: "10 01234\n6789" + "2 ok", max: 4,
			want: []result{{Msg: "0123", Truncated: true}, {Msg: "ok"}}},
		{name: "octet count of 1 GiB is legal", in: "1073741824 abcdefgh", max: 4,
			want:    []result{{Msg: "abcd", Truncated: true}},
			wantErr: io.ErrUnexpectedEOF},
		{name: "octet count cut short", in: "2 ok5 abc", want: []result{{Msg: "ok"}, {Msg: "abc"}},
			wantErr: io.ErrUnexpectedEOF},
		{name: "octet count cut short after its prefix", in: "12 ", wantErr: io.ErrUnexpectedEOF},
		{name: "truncated octet count cut short", in: "10 0123456", max: 4,
			want:    []result{{Msg: "0123", Truncated: true}},
			wantErr: io.ErrUnexpectedEOF},
		{name: "octet count at max cut short", in: "10 0123", max: 4,
			want:    []result{{Msg: "0123", Truncated: true}},
			wantErr: io.ErrUnexpectedEOF},
		{name: "max of one", in: "ab\nc\n3 xyz", max: 1,
			want: []result{{Msg: "a", Truncated: true}, {Msg: "c"}, {Msg: "x", Truncated: true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.max
			if max == 0 {
				max = DefaultMaxMessageBytes
			}
			for rname, newReader := range readers(tc.in) {
				scanners := map[string]*Scanner{
					"default buffer": NewScanner(newReader(), tc.max),
					"small buffer":   newScanner(newReader(), max, 0),
				}
				for sname, s := range scanners {
					got, err := scanAll(s)
					if diff := cmp.Diff(tc.want, got); diff != "" {
						t.Errorf("%s, %s: Scan(%q) messages (-want +got):\n%s", rname, sname, tc.in, diff)
					}
					if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
						t.Errorf("%s, %s: Scan(%q) Err() = %v, want %v", rname, sname, tc.in, err, tc.wantErr)
					}
				}
			}
		})
	}
}

func TestScannerReadError(t *testing.T) {
	tests := []struct {
		name string
		r    io.Reader
		want []result
	}{
		{
			name: "error after a complete message",
			r:    io.MultiReader(strings.NewReader("a\n"), iotest.ErrReader(errBroken)),
			want: []result{{Msg: "a"}},
		},
		{
			name: "partial line returned before the error",
			r:    io.MultiReader(strings.NewReader("a\nbc"), iotest.ErrReader(errBroken)),
			want: []result{{Msg: "a"}, {Msg: "bc"}},
		},
		{
			name: "partial octet-counted message returned before the error",
			r:    io.MultiReader(strings.NewReader("5 ab"), iotest.ErrReader(errBroken)),
			want: []result{{Msg: "ab"}},
		},
		{
			name: "error with data",
			r:    &errWithDataReader{data: "a\nb", err: errBroken},
			want: []result{{Msg: "a"}, {Msg: "b"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanAll(NewScanner(tc.r, 0))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if !errors.Is(err, errBroken) {
				t.Errorf("Err() = %v, want %v", err, errBroken)
			}
		})
	}
}

var errBroken = errors.New("connection broken")

// errWithDataReader returns all its data and err from the same Read.
type errWithDataReader struct {
	data string
	err  error
}

func (r *errWithDataReader) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, r.err
}

// emptyReader returns (0, nil) forever.
type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestScannerNoProgress(t *testing.T) {
	s := NewScanner(emptyReader{}, 0)
	if s.Scan() {
		t.Fatalf("Scan() = true on a reader that returns nothing, message %q", s.Message())
	}
	if !errors.Is(s.Err(), io.ErrNoProgress) {
		t.Errorf("Err() = %v, want %v", s.Err(), io.ErrNoProgress)
	}
}

// liarReader claims to have read more than it was given.
type liarReader struct{}

func (liarReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestScannerImpossibleReadCount(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Scan() did not panic on a Read count above len(p)")
		}
	}()
	NewScanner(liarReader{}, 0).Scan()
}

func TestScannerBuffered(t *testing.T) {
	s := NewScanner(&chunkReader{chunks: [][]byte{[]byte("a\nbc\n\n4 ab"), []byte("cd")}}, 0)
	for i, want := range []struct {
		msg      string
		buffered int
	}{
		{"a", 8},    // "bc\n\n4 ab" is left of the first read
		{"bc", 5},   // "\n4 ab"
		{"abcd", 0}, // the second read was needed and is all consumed
	} {
		if !s.Scan() {
			t.Fatalf("Scan() %d = false, Err() = %v", i, s.Err())
		}
		if got := string(s.Message()); got != want.msg {
			t.Errorf("Message() %d = %q, want %q", i, got, want.msg)
		}
		if got := s.Buffered(); got != want.buffered {
			t.Errorf("Buffered() after %q = %d, want %d", want.msg, got, want.buffered)
		}
	}
	if s.Scan() {
		t.Errorf("Scan() = true after the last message, message %q", s.Message())
	}
}

func TestNewScannerMax(t *testing.T) {
	tests := []struct {
		name string
		max  int
		want int
	}{
		{"zero means default", 0, DefaultMaxMessageBytes},
		{"negative means default", -1, DefaultMaxMessageBytes},
		{"kept", 6 * 1024, 6 * 1024},
		{"above 1 GiB", 1 << 40, maxOctetCount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want > 1<<20 && testing.Short() {
				t.Skip("allocates 1 GiB")
			}
			s := NewScanner(strings.NewReader(""), tc.max)
			if got := s.bufBytes - readBufferBytes; got != tc.want {
				t.Errorf("NewScanner(r, %d) buffer for max %d, want %d", tc.max, got, tc.want)
			}
			if s.max != tc.want {
				t.Errorf("NewScanner(r, %d) max = %d, want %d", tc.max, s.max, tc.want)
			}
		})
	}
}

// hugeFrameReader serves head, then size filler bytes, then tail, generating the filler.
type hugeFrameReader struct {
	head, tail []byte
	size       int64
}

func (r *hugeFrameReader) Read(p []byte) (int, error) {
	switch {
	case len(r.head) > 0:
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	case r.size > 0:
		n := int(min(int64(len(p)), r.size))
		for i := range p[:n] {
			p[i] = 'x'
		}
		r.size -= int64(n)
		return n, nil
	case len(r.tail) > 0:
		n := copy(p, r.tail)
		r.tail = r.tail[n:]
		return n, nil
	}
	return 0, io.EOF
}

// TestScannerHugeFrame sends 1 GB frames in both framings: each is cut to the maximum, its rest
// is discarded without being buffered, and the next frame is read.
func TestScannerHugeFrame(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 2 GB")
	}
	const size = 1_000_000_000
	r := io.MultiReader(
		&hugeFrameReader{head: []byte(fmt.Sprintf("%d ", size)), size: size, tail: []byte("2 ok")},
		&hugeFrameReader{head: []byte("<13>"), size: size - 4, tail: []byte("\n<13>next\n")},
	)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := NewScanner(r, 1000)
	var got []result
	for s.Scan() {
		got = append(got, result{fmt.Sprintf("%.4s...%d", s.Message(), len(s.Message())), s.Truncated()})
	}
	runtime.ReadMemStats(&after)
	want := []result{
		{Msg: "xxxx...1000", Truncated: true},
		{Msg: "ok...2"},
		{Msg: "<13>...1000", Truncated: true},
		{Msg: "<13>...8"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if s.Err() != nil {
		t.Errorf("Err() = %v", s.Err())
	}
	// The buffer doubles up to its size, so each growth allocates less than three times that; the
	// short reads between the frames let it shrink back, so it grows once per frame, or twice.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*(1000+readBufferBytes) {
		t.Errorf("scanning two 1 GB frames allocated %d bytes, want a buffer of %d grown a few times", alloc, 1000+readBufferBytes)
	}
}

func TestScannerAllocations(t *testing.T) {
	msgs := rfc5424Messages(100)
	tests := []struct {
		name   string
		stream []byte
		max    int
	}{
		{"octet counting", octetCounted(msgs), 0},
		{"LF", terminated(msgs, "\n"), 0},
		{"CRLF", terminated(msgs, "\r\n"), 0},
		{"NUL", terminated(msgs, "\x00"), 0},
		{"truncating octet counting", octetCounted(msgs), 100},
		{"truncating LF", terminated(msgs, "\n"), 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScanner(&testenv.RepeatReader{Data: tc.stream, Chunk: 1460}, tc.max)
			allocs := testing.AllocsPerRun(10_000, func() {
				if !s.Scan() {
					t.Fatalf("Scan() = false, Err() = %v", s.Err())
				}
			})
			if allocs != 0 {
				t.Errorf("Scan() allocates %v times per message, want 0", allocs)
			}
		})
	}
}

// rfc5424Messages returns n distinct RFC 5424 messages of about 200 bytes, as rsyslog forwards
// them.
func rfc5424Messages(n int) [][]byte {
	apps := []string{"sshd", "CRON", "kernel", "nginx", "postfix/smtpd"}
	msgs := make([][]byte, n)
	for i := range msgs {
		app := apps[i%len(apps)]
		msgs[i] = fmt.Appendf(nil,
			`<%d>1 2026-02-21T21:07:%02d.%06d+00:00 web-%02d.prod.example.com %s %d - `+
				`[timeQuality tzKnown="1" isSynced="1"] request %08x from 10.0.%d.%d took %d ms, status %d, user agent curl/8.5.0`,
			8+i%184, i%60, i*7919%1_000_000, i%17, app, 1000+i, i*2654435761%(1<<32), i%256, i*7%256,
			i%1000, 200+i%4*100)
	}
	return msgs
}

func octetCounted(msgs [][]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = fmt.Appendf(b, "%d %s", len(m), m)
	}
	return b
}

func terminated(msgs [][]byte, term string) []byte {
	var b []byte
	for _, m := range msgs {
		b = append(append(b, m...), term...)
	}
	return b
}

func TestRFC5424Messages(t *testing.T) {
	msgs := rfc5424Messages(100)
	total := 0
	for i, m := range msgs {
		total += len(m)
		if bytes.ContainsAny(m, "\n\x00\r") {
			t.Errorf("message %d has a terminator: %q", i, m)
		}
	}
	if mean := total / len(msgs); mean < 180 || mean > 220 {
		t.Errorf("mean message size %d, want about 200", mean)
	}
}

func TestNULScanner(t *testing.T) {
	in := "{\"a\":\n 1}\x00\x00123 {\"b\":2}\r\n\x00{\"c\":3}"
	s := NewNULScanner(strings.NewReader(in), 0)
	var got []string
	for s.Scan() {
		got = append(got, string(s.Message()))
	}
	want := []string{"{\"a\":\n 1}", "123 {\"b\":2}\r\n", "{\"c\":3}"}
	if diff := cmp.Diff(want, got); diff != "" || s.Err() != nil {
		t.Errorf("NUL-delimited messages (-want +got):\n%s\nErr() = %v", diff, s.Err())
	}
}

func TestBufferGrowsOnlyWithTheStream(t *testing.T) {
	// A slow sender, a few bytes per read: the buffer stays at its initial size.
	slow := NewScanner(iotest.OneByteReader(strings.NewReader(strings.Repeat("<13>slow message\n", 100))), 0)
	for slow.Scan() {
	}
	if len(slow.buf) != initialBufferBytes {
		t.Errorf("slow stream: buffer grew to %d, want %d", len(slow.buf), initialBufferBytes)
	}
	// A busy sender fills every read: the buffer grows to its full size, and no further.
	busy := NewScanner(strings.NewReader(strings.Repeat("<13>busy message\n", 20000)), 0)
	largest := 0
	for busy.Scan() {
		largest = max(largest, len(busy.buf))
	}
	if largest != busy.bufBytes {
		t.Errorf("busy stream: buffer grew to %d, want its full size %d", largest, busy.bufBytes)
	}
	// A message longer than the initial buffer is still read whole.
	long := strings.Repeat("x", 3*initialBufferBytes)
	s := NewScanner(iotest.HalfReader(strings.NewReader(long+"\n")), 0)
	if !s.Scan() || string(s.Message()) != long {
		t.Errorf("long message: Scan = %d bytes, want %d", len(s.Message()), len(long))
	}
}
