package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want string // the message as a JSON decoder reads it back
	}{
		{name: "plain", msg: "<13>1 2026-02-21T21:07:50Z host app - - - Hello", want: "<13>1 2026-02-21T21:07:50Z host app - - - Hello"},
		{name: "quotes and backslashes", msg: `say "hi" \o/`, want: `say "hi" \o/`},
		{name: "controls", msg: "a\tb\nc\rd\x00e\x1f", want: "a\tb\nc\rd\x00e\x1f"},
		{name: "utf8", msg: "Grüße, 世界 🚀", want: "Grüße, 世界 🚀"},
		{name: "invalid byte", msg: "a\xffb", want: `a\xffb`},
		{name: "truncated rune", msg: "caf\xc3", want: `caf\xc3`},
		{name: "surrogate half", msg: "x\xed\xa0\x80y", want: `x\xed\xa0\x80y`},
		{name: "empty", msg: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := UUID{0: 0xde, 1: 0xad, 6: 0x7f, 8: 0xbf, 14: 0x90, 15: 0x01}
			out := AppendEvent([]byte("prefix"), id, 1519247270240, []byte(tt.msg))
			if !bytes.HasPrefix(out, []byte("prefix")) {
				t.Fatalf("AppendEvent dropped dst: %q", out)
			}
			var ev Event
			if err := json.Unmarshal(out[len("prefix"):], &ev); err != nil {
				t.Fatalf("AppendEvent(%q) = %s: not JSON: %v", tt.msg, out, err)
			}
			if ev.Message != tt.want {
				t.Errorf("message = %q, want %q", ev.Message, tt.want)
			}
			if ev.Timestamp != 1519247270240 {
				t.Errorf("timestamp = %d, want 1519247270240", ev.Timestamp)
			}
			if want := "dead0000-0000-7f00-bf00-000000009001"; ev.ID != want {
				t.Errorf("id = %q, want %q", ev.ID, want)
			}
		})
	}
}

func TestAppendEventCutsLongMessages(t *testing.T) {
	for _, fill := range []string{"a", "\xff", "é", "\n"} {
		msg := []byte(strings.Repeat(fill, 2*MaxEventBytes/len(fill)))
		out := AppendEvent(nil, UUID{}, 0, msg)
		if len(out) > MaxEventBytes {
			t.Errorf("fill %q: event is %d bytes, want at most %d", fill, len(out), MaxEventBytes)
		}
		if len(out) < MaxEventBytes-64 {
			t.Errorf("fill %q: event is %d bytes, want close to %d", fill, len(out), MaxEventBytes)
		}
		if !json.Valid(out) {
			t.Errorf("fill %q: cut event is not valid JSON", fill)
		}
	}
}

// TestAppendEventKeepsWhole checks that a message of MaxWholeMessageBytes is never cut, whatever
// it holds, and that its event fits a record on its own.
func TestAppendEventKeepsWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct {
		name string
		byte func() byte
	}{
		{name: "controls", byte: func() byte { return byte(r.IntN(0x20)) &^ 0x08 }}, // no \b\t\n\f\r
		{name: "invalid bytes", byte: func() byte { return 0xff }},
		{name: "random", byte: func() byte { return byte(r.UintN(256)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := make([]byte, MaxWholeMessageBytes)
			for i := range msg {
				msg[i] = tt.byte()
			}
			out := AppendEvent(nil, UUID{}, 1, msg)
			var ev Event
			if err := json.Unmarshal(out, &ev); err != nil {
				t.Fatal(err)
			}
			if want := recorded(msg); ev.Message != want {
				t.Errorf("message of %d bytes cut: %d characters back, want %d", len(msg), len(ev.Message), len(want))
			}
			var got [][]byte
			if _, _, err := NewEncoder().Encode(Header{Owner: "1", LogGroup: "g", LogStream: "s"}, Events{Data: out, Ends: []int{len(out)}}, false,
				func(rec []byte) error { got = append(got, bytes.Clone(rec)); return nil }); err != nil || len(got) != 1 {
				t.Fatalf("Encode of the event = %d records, %v; want one", len(got), err)
			}
		})
	}
}

// recorded returns msg as AppendEvent documents it records it: valid UTF-8 as it is, each other
// byte as the four characters \xNN.
func recorded(msg []byte) string {
	var b strings.Builder
	for len(msg) > 0 {
		r, size := utf8.DecodeRune(msg)
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02x`, msg[0])
		} else {
			b.Write(msg[:size])
		}
		msg = msg[size:]
	}
	return b.String()
}

func TestAppendEventAllocs(t *testing.T) {
	msg := []byte(`<165>1 2026-11-25T02:34:55.123456Z web-07 nginx 4242 - - GET /index.html 200 "ok" é`)
	dst := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(1000, func() {
		dst = AppendEvent(dst[:0], UUID{}, 1, msg)
	})
	if allocs != 0 {
		t.Errorf("AppendEvent allocates %v times per event, want 0", allocs)
	}
}

// events builds n events whose messages come from gen.
func events(n int, gen func(i int) []byte) Events {
	var ev Events
	for i := range n {
		ev.Data = AppendEvent(ev.Data, UUID{byte(i)}, int64(i), gen(i))
		ev.Ends = append(ev.Ends, len(ev.Data))
	}
	return ev
}

func randomText(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

func decodeAll(t *testing.T, records [][]byte) []*Record {
	t.Helper()
	var out []*Record
	rd := NewReader(bytes.NewReader(bytes.Join(records, nil)))
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out = append(out, rec)
	}
}

func TestEncode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	header := Header{Owner: "123456789012", LogGroup: "/kinesyslog/syslog/514", LogStream: "10.0.0.5"}
	tests := []struct {
		name        string
		ev          Events
		minRecords  int
		minFillRate float64 // every record but the last is at least this full
	}{
		{name: "one small", ev: events(1, func(int) []byte { return []byte("hello") }), minRecords: 1},
		{name: "incompressible", ev: events(3000, func(int) []byte { return randomText(r, 2000) }), minRecords: 6, minFillRate: 0.99},
		{name: "text", ev: events(60000, func(i int) []byte {
			return fmt.Appendf(nil, "<134>1 2026-11-25T02:34:55.%06dZ web-%02d app %d - - request %d took %dms", i, i%50, i%999, r.Int64(), r.IntN(5000))
		}), minRecords: 2, minFillRate: 0.99},
		{name: "huge events", ev: events(5, func(int) []byte { return randomText(r, 2*MaxEventBytes) }), minRecords: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var records [][]byte
			next, st, err := NewEncoder().Encode(header, tt.ev, false, func(rec []byte) error {
				records = append(records, bytes.Clone(rec))
				return nil
			})
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if next != tt.ev.Len() || st.Events != tt.ev.Len() {
				t.Fatalf("Encode encoded %d (next %d) of %d events", st.Events, next, tt.ev.Len())
			}
			if len(records) < tt.minRecords || st.Records != len(records) {
				t.Fatalf("Encode made %d records (stats %d), want at least %d", len(records), st.Records, tt.minRecords)
			}
			for i, rec := range records {
				if len(rec) > TargetBytes {
					t.Errorf("record %d is %d bytes, over %d", i, len(rec), TargetBytes)
				}
				if i < len(records)-1 && float64(len(rec)) < tt.minFillRate*TargetBytes {
					t.Errorf("record %d is %d bytes, want at least %.0f%% of %d", i, len(rec), 100*tt.minFillRate, TargetBytes)
				}
			}
			var got []Event
			for _, rec := range decodeAll(t, records) {
				if diff := cmp.Diff(header, Header{Owner: rec.Owner, LogGroup: rec.LogGroup, LogStream: rec.LogStream}); diff != "" {
					t.Errorf("record header (-want +got):\n%s", diff)
				}
				if rec.MessageType != "DATA_MESSAGE" || len(rec.SubscriptionFilters) != 1 || rec.SubscriptionFilters[0] != header.LogGroup {
					t.Errorf("record type %q filters %q", rec.MessageType, rec.SubscriptionFilters)
				}
				got = append(got, rec.LogEvents...)
			}
			if len(got) != tt.ev.Len() {
				t.Fatalf("decoded %d events, want %d", len(got), tt.ev.Len())
			}
			for i, ev := range got {
				var want Event
				json.Unmarshal(tt.ev.Event(i), &want)
				if ev != want {
					t.Fatalf("event %d = %+v, want %+v", i, ev, want)
				}
			}
		})
	}
}

func TestEncodeKeepTail(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ev := events(1500, func(int) []byte { return randomText(r, 1000) })
	var records [][]byte
	next, st, err := NewEncoder().Encode(Header{}, ev, true, func(rec []byte) error {
		records = append(records, bytes.Clone(rec))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(records) == 0 || next == ev.Len() || next != st.Events {
		t.Fatalf("Encode kept no tail: %d records, next %d of %d, %d events encoded", len(records), next, ev.Len(), st.Events)
	}
	for i, rec := range records {
		if len(rec) < 0.99*TargetBytes || len(rec) > TargetBytes {
			t.Errorf("record %d is %d bytes, want full records only", i, len(rec))
		}
	}

	// A batch that fits in one record is encoded whole even with keepTail.
	small := events(10, func(int) []byte { return []byte("x") })
	next, _, err = NewEncoder().Encode(Header{}, small, true, func([]byte) error { return nil })
	if err != nil || next != small.Len() {
		t.Errorf("small batch: next %d, err %v; want %d, nil", next, err, small.Len())
	}
}

// TestEncodeKeepTailSkipsSmallRest checks that Encode with keepTail hands back a rest it does not
// expect to fill a record, even one that would compress better than the records before it, and
// that the records and the rest together hold every event once, in order.
func TestEncodeKeepTailSkipsSmallRest(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	tests := []struct {
		name string
		rest func(i int) []byte
		n    int
	}{
		{name: "small rest alike", n: 30, rest: func(int) []byte { return randomText(r, 1000) }},
		{name: "large rest that compresses better", n: 900, rest: func(int) []byte { return []byte(strings.Repeat("a", 1000)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := events(1000, func(int) []byte { return randomText(r, 1000) })
			ev := head
			for i := range tt.n {
				ev.Data = AppendEvent(ev.Data, UUID{}, int64(i), tt.rest(i))
				ev.Ends = append(ev.Ends, len(ev.Data))
			}
			var records [][]byte
			next, st, err := NewEncoder().Encode(Header{}, ev, true, func(rec []byte) error {
				records = append(records, bytes.Clone(rec))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(records) != 1 || next != st.Events || next >= ev.Len() {
				t.Fatalf("Encode made %d records and kept events from %d of %d (%d encoded); want 1 record and a rest",
					len(records), next, ev.Len(), st.Events)
			}
			var got []Event
			for _, rec := range decodeAll(t, records) {
				got = append(got, rec.LogEvents...)
			}
			rest := ev.Tail(next)
			for i := range rest.Len() {
				var e Event
				if err := json.Unmarshal(rest.Event(i), &e); err != nil {
					t.Fatal(err)
				}
				got = append(got, e)
			}
			if len(got) != ev.Len() {
				t.Fatalf("records and rest hold %d events, want %d", len(got), ev.Len())
			}
			for i, e := range got {
				want := int64(i) // the timestamps count the events of head, then those of the rest
				if i >= head.Len() {
					want = int64(i - head.Len())
				}
				if e.Timestamp != want {
					t.Fatalf("event %d has timestamp %d, want %d: out of order", i, e.Timestamp, want)
				}
			}
		})
	}
}

func TestEncodeEmitError(t *testing.T) {
	ev := events(3, func(int) []byte { return []byte("x") })
	boom := fmt.Errorf("disk full")
	next, _, err := NewEncoder().Encode(Header{}, ev, false, func([]byte) error { return boom })
	if err != boom || next != 0 {
		t.Errorf("Encode = next %d, err %v; want 0, %v", next, err, boom)
	}
}

var sinkBytes int

// appendEventCases are messages like the bench's (internal/bench): quotes to escape, UTF-8 to
// keep, and a control character.
var appendEventCases = []struct{ name, msg string }{
	{name: "RFC5424", msg: `<165>1 2026-11-25T02:34:55.123456Z web-07.example.com nginx 4242 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] GET /api/v1/items?id=42 HTTP/1.1 200 1532 "-" "curl/8.5"`},
	{name: "ASCII", msg: `<30>1 2026-11-25T02:34:55.123456Z db-03.prod.example.com postgres 812 - - user=app,db=orders LOG:  duration: 4.512 ms  statement: SELECT id, total, created_at FROM orders WHERE customer_id = 81723`},
	{name: "UTF-8", msg: "<86>1 2026-11-25T02:34:55.123456Z api-02.staging.example.net sshd 3121 - - Accepted publickey for jürgen from 203.0.113.7 port 50122 ssh2: ED25519 SHA256:9f3c0a1b2d4e6f8091a2b3c4d5e6f708192a3b4c5d6"},
	{name: "control", msg: "<13>1 2026-11-25T02:34:55.123456Z host app - - - first line\nsecond\tline\x00 with a \x1b[0mcolour\r reset and some trailing text"},
}

func BenchmarkAppendEvent(b *testing.B) {
	for _, bm := range appendEventCases {
		b.Run(bm.name, func(b *testing.B) {
			msg := []byte(bm.msg)
			dst := make([]byte, 0, 4096)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				dst = AppendEvent(dst[:0], UUID{byte(i)}, 1764038095123, msg)
			}
			sinkBytes = len(dst)
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	ev := events(20000, func(i int) []byte {
		return fmt.Appendf(nil, "<134>1 2026-11-25T02:34:55.%06dZ web-%02d.example.com app %d - - GET /api/items/%d status=%d bytes=%d ua=\"curl/8.5\"",
			i, i%50, r.IntN(99999), r.IntN(1_000_000), 200+r.IntN(4)*100, r.IntN(100_000))
	})
	enc := NewEncoder()
	b.SetBytes(int64(len(ev.Data)))
	b.ReportAllocs()
	var st Stats
	for b.Loop() {
		_, st, _ = enc.Encode(Header{Owner: "123456789012", LogGroup: "/kinesyslog/syslog/514", LogStream: "10.0.0.5"}, ev, false, func([]byte) error { return nil })
	}
	b.ReportMetric(float64(st.RawBytes)/float64(st.RecordBytes), "ratio")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*ev.Len()), "ns/event")
}
