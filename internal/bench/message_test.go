package bench

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/syslog"
)

var testBase = time.Date(2026, 2, 21, 21, 7, 50, 0, time.UTC)

func TestGenerator(t *testing.T) {
	tests := []struct {
		name     string
		format   Format
		min, max int
	}{
		{name: "RFC5424 200 B", format: RFC5424, min: 200, max: 200},
		{name: "RFC3164 200 B", format: RFC3164, min: 200, max: 200},
		{name: "RFC5424 100 B to 2 KB", format: RFC5424, min: 100, max: 2048},
		{name: "RFC3164 100 B to 2 KB", format: RFC3164, min: 100, max: 2048},
		{name: "shorter than the header", format: RFC5424, min: 10, max: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Generator{Run: 77, Format: tt.format, MinBytes: tt.min, MaxBytes: tt.max, Base: testBase}
			if err := g.Validate(); err != nil {
				t.Fatal(err)
			}
			received := testBase.Add(time.Minute)
			seen := map[string]bool{}
			total := 0
			const n = 2000
			for i := range n {
				stream, seq := i%7, i
				msg := g.Append(nil, stream, seq)
				total += len(msg)
				if tt.min > 100 && (len(msg) < tt.min || len(msg) > tt.max) {
					t.Fatalf("message %d is %d bytes, want %d to %d: %q", i, len(msg), tt.min, tt.max, msg)
				}
				if bytes.ContainsAny(msg, "\n\r\x00") || !utf8.Valid(msg) || msg[len(msg)-1] == ' ' {
					t.Fatalf("message %d has a terminator, invalid UTF-8 or a trailing space: %q", i, msg)
				}
				if seen[string(msg)] {
					t.Fatalf("message %d repeats an earlier one: %q", i, msg)
				}
				seen[string(msg)] = true
				if again := g.Append([]byte("x"), stream, seq); !bytes.Equal(again[1:], msg) {
					t.Fatalf("Append is not a function of (stream, seq): %q then %q", msg, again[1:])
				}
				tok, ok := ParseToken(msg)
				if want := (Token{Run: 77, Stream: stream, Seq: seq}); !ok || tok != want {
					t.Fatalf("ParseToken(%q) = %+v, %v; want %+v", msg, tok, ok, want)
				}
				// The relay must find the sender's stamp, not rewrite the message.
				h := syslog.Parser{}.Scan(msg, received)
				want := testBase.Add(time.Duration(seq) * stampStep)
				if tt.format == RFC3164 {
					want = want.Truncate(time.Second)
				}
				if h.Rewrite || !h.Timestamp.Equal(want) {
					t.Fatalf("header of %q: stamp %v, rewrite %v; want %v", msg, h.Timestamp, h.Rewrite, want)
				}
			}
			if tt.min == 100 {
				// Log-uniform from 100 to 2048 bytes has a mean of about 650.
				if mean := total / n; mean < 550 || mean > 750 {
					t.Errorf("mean size %d, want about 650", mean)
				}
			}
		})
	}
}

func TestGeneratorValidate(t *testing.T) {
	tests := []struct {
		name string
		g    Generator
	}{
		{name: "format", g: Generator{Format: "rfc9999", MinBytes: 1, MaxBytes: 1, Base: testBase}},
		{name: "sizes", g: Generator{Format: RFC5424, MinBytes: 300, MaxBytes: 200, Base: testBase}},
		{name: "base", g: Generator{Format: RFC5424, MinBytes: 1, MaxBytes: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.g.Validate(); err == nil {
				t.Errorf("Validate(%+v) = nil, want an error", tt.g)
			}
		})
	}
}

func TestParseToken(t *testing.T) {
	tests := []struct {
		msg  string
		want Token
		ok   bool
	}{
		{msg: "<13>1 - h a - - - kbid=1.2.3 text", want: Token{1, 2, 3}, ok: true},
		{msg: "kbid=4294967295.0.12345678901", want: Token{4294967295, 0, 12345678901}, ok: true},
		{msg: "kbid=1.2.3", want: Token{1, 2, 3}, ok: true},
		{msg: "kbid=1.2.3.", want: Token{1, 2, 3}, ok: true},
		{msg: "kbid=1.2.3;", want: Token{1, 2, 3}, ok: true},
		{msg: "no token"},
		{msg: "kbid=1.2"},
		{msg: "kbid=1.2.x"},
		{msg: "kbid=1..3"},
		{msg: "kbid=4294967296.0.0"},
		{msg: "kbid=1.2.3456789012345"},
		{msg: "kbid=1;2.3"},
	}
	for _, tt := range tests {
		got, ok := ParseToken([]byte(tt.msg))
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseToken(%q) = %+v, %v; want %+v, %v", tt.msg, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFitSize(t *testing.T) {
	tests := []struct {
		in   string
		size int
		want string
	}{
		{in: "abcdef", size: 4, want: "abcd"},
		{in: "ab cdef", size: 3, want: "ab."},
		{in: "aébc", size: 2, want: "a."},
		{in: "aébc", size: 3, want: "aé"},
		{in: "a世b", size: 3, want: "a.."},
		{in: "short", size: 10, want: "short"},
	}
	for _, tt := range tests {
		got := fitSize([]byte("prefix"+tt.in), len("prefix"), tt.size)
		if diff := cmp.Diff("prefix"+tt.want, string(got)); diff != "" {
			t.Errorf("fitSize(%q, %d) (-want +got):\n%s", tt.in, tt.size, diff)
		}
	}
}

func TestGeneratorAllocs(t *testing.T) {
	g := Generator{Run: 1, Format: RFC5424, MinBytes: 100, MaxBytes: 2048, Base: testBase}
	dst := make([]byte, 0, 4096)
	seq := 0
	if n := testing.AllocsPerRun(1000, func() {
		dst = g.Append(dst[:0], 3, seq)
		seq++
	}); n != 0 {
		t.Errorf("Append allocates %v times per message, want 0", n)
	}
}

// TestStream: a Stream makes the messages Generator.Append does, in any order of seqs: across
// seconds, back in time and far ahead.
func TestStream(t *testing.T) {
	for _, f := range []Format{RFC5424, RFC3164} {
		g := Generator{Run: 9, Format: f, MinBytes: 100, MaxBytes: 2048, Base: time.Date(2026, 12, 31, 23, 59, 59, 999_000_500, time.UTC)}
		m := g.Stream(5)
		var got []byte
		for _, seq := range []int{0, 1, 999, 1000, 1001, 0, 1_000_000, 999, 86_400_000_000, 2, 3} {
			got = m.Append(got[:0], seq)
			if want := g.Append(nil, 5, seq); !bytes.Equal(got, want) {
				t.Errorf("%s: Stream(5).Append(%d) = %q, want %q", f, seq, got, want)
			}
		}
	}
}

func TestAppendUint(t *testing.T) {
	values := []uint64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535, 99999, 100000, 1<<32 - 1,
		999_999_999_999, 1e18, 1e19 - 1, 1e19, math.MaxUint64}
	r := rng(1)
	for range 1000 {
		v := r.next()
		values = append(values, v, v>>(v%64))
	}
	for _, v := range values {
		if got, want := decimalLen(v), len(strconv.FormatUint(v, 10)); got != want {
			t.Errorf("decimalLen(%d) = %d, want %d", v, got, want)
		}
		got := appendUint([]byte("x"), v)
		if want := strconv.AppendUint([]byte("x"), v, 10); !bytes.Equal(got, want) {
			t.Errorf("appendUint(%d) = %q, want %q", v, got, want)
		}
		// Into a slice with room: the same, and in place.
		buf := make([]byte, 1, 32)
		if got := appendUint(buf, v); string(got[1:]) != strconv.FormatUint(v, 10) || &got[0] != &buf[0] {
			t.Errorf("appendUint(%d) into room = %q, want %d in place", v, got[1:], v)
		}
	}
}

var benchMessage []byte

func BenchmarkGenerator(b *testing.B) {
	for _, tt := range []struct {
		format   Format
		min, max int
	}{{RFC5424, 200, 200}, {RFC3164, 200, 200}, {RFC3164, 100, 2048}} {
		name := fmt.Sprintf("%s/%d-%d", tt.format, tt.min, tt.max)
		b.Run(name, func(b *testing.B) {
			g := Generator{Run: 1, Format: tt.format, MinBytes: tt.min, MaxBytes: tt.max, Base: testBase}
			m := g.Stream(0)
			dst := make([]byte, 0, 4096)
			total := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				dst = m.Append(dst[:0], i)
				total += len(dst)
			}
			b.SetBytes(int64(total / b.N))
			benchMessage = dst
		})
	}
}

// TestGeneratorGolden pins the bytes of generated messages over the formats and sizes of the
// loads, streams and sequence numbers of every width, and stamps that cross a second, a minute, a
// day and a year: the verifier regenerates each message from its token, so a change of Append
// that changed its bytes would fail every run made before it. -update rewrites the file.
func TestGeneratorGolden(t *testing.T) {
	bases := []time.Time{
		testBase,
		time.Date(2026, 12, 31, 23, 59, 59, 999_996_000, time.UTC),
		time.Date(1999, 3, 5, 9, 59, 59, 999_999_500, time.UTC),
	}
	gens := []struct {
		name string
		g    Generator
	}{
		{name: "rfc5424-200", g: Generator{Run: 733_512_345, Format: RFC5424, MinBytes: 200, MaxBytes: 200}},
		{name: "rfc3164-100-2048", g: Generator{Run: 1, Format: RFC3164, MinBytes: 100, MaxBytes: 2048}},
		{name: "rfc5424-100-2048", g: Generator{Run: 4_294_967_295, Format: RFC5424, MinBytes: 100, MaxBytes: 2048}},
		{name: "rfc3164-200", g: Generator{Run: 42, Format: RFC3164, MinBytes: 200, MaxBytes: 200}},
		{name: "rfc5424-10", g: Generator{Run: 7, Format: RFC5424, MinBytes: 10, MaxBytes: 10}},
	}
	seqs := []int{0, 1, 2, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535, 99_999, 100_000,
		374_999, 999_999, 1_000_000, 1_000_001, 59_999_999, 86_400_000_000, 123_456_789_012}
	streams := []int{0, 7, 63}
	var buf bytes.Buffer
	for _, gen := range gens {
		for bi, base := range bases {
			g := gen.g
			g.Base = base
			for i, seq := range seqs {
				// Every stream at the small seqs, where the digits change width; one stream each
				// after them.
				for si, stream := range streams {
					if i > 6 && si != i%len(streams) {
						continue
					}
					fmt.Fprintf(&buf, "%s\t%d\t%d\t%d\t%s\n", gen.name, bi, stream, seq, g.Append(nil, stream, seq))
				}
			}
		}
	}
	checkGolden(t, filepath.Join("testdata", "generator.golden"), "Generator.Append", buf.Bytes())
}
