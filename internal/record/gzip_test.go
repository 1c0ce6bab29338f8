package record_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/kinesyslog/kinesyslog/internal/bench"
	"github.com/kinesyslog/kinesyslog/internal/record"
)

// The benchmarks of this file are an external test package: they take their messages from the
// benchmark's generator, which imports record.

// BenchmarkGzip compresses the JSON events of 200-byte messages with the compressors the record
// stage could use, to show why it uses klauspost/compress at level 2 (record.CompressionLevel):
// the ratio and the time per event of each. The events carry the relay's ids (record.IDs) or, to
// show what those save, random version 4 UUIDs; their timestamps go up by a millisecond every 500
// events, as at 500,000 messages/s.
func BenchmarkGzip(b *testing.B) {
	for _, idKind := range []string{"v7", "random-v4"} {
		b.Run("ids="+idKind, func(b *testing.B) { benchmarkGzip(b, idKind == "v7") })
	}
}

func benchmarkGzip(b *testing.B, v7 bool) {
	g := bench.Generator{Run: 1, Format: bench.RFC5424, MinBytes: 200, MaxBytes: 200, Base: time.Now().Truncate(time.Second)}
	base := g.Base.UnixMilli()
	var (
		events, msg []byte
		id          record.UUID
		v7IDs       = record.NewIDs()
		random      = rand.NewChaCha8([32]byte{})
		n           int
	)
	for ; len(events) < 4<<20; n++ {
		msg = g.Append(msg[:0], 0, n)
		ms := base + int64(n/500)
		if v7 {
			id = v7IDs.Next(ms)
		} else {
			random.Read(id[:])
			id[6] = id[6]&0x0f | 0x40 // version 4
			id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
		}
		events = record.AppendEvent(events, id, ms, msg)
		events = append(events, ',')
	}
	compressors := []struct {
		name string
		new  func(w io.Writer) io.WriteCloser
	}{
		{"klauspost-1", func(w io.Writer) io.WriteCloser { z, _ := kgzip.NewWriterLevel(w, 1); return z }},
		{"klauspost-2", func(w io.Writer) io.WriteCloser { z, _ := kgzip.NewWriterLevel(w, 2); return z }},
		{"klauspost-6", func(w io.Writer) io.WriteCloser { z, _ := kgzip.NewWriterLevel(w, 6); return z }},
		{"klauspost-huffman-only", func(w io.Writer) io.WriteCloser { z, _ := kgzip.NewWriterLevel(w, kgzip.HuffmanOnly); return z }},
		{"stdlib-1", func(w io.Writer) io.WriteCloser { z, _ := gzip.NewWriterLevel(w, 1); return z }},
		{"stdlib-6", func(w io.Writer) io.WriteCloser { z, _ := gzip.NewWriterLevel(w, 6); return z }},
	}
	for _, c := range compressors {
		b.Run(c.name, func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(len(events)))
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				zw := c.new(&out)
				zw.Write(events)
				zw.Close()
			}
			b.ReportMetric(float64(len(events))/float64(out.Len()), "ratio")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

// BenchmarkEncodeRecords encodes 16 MiB of the JSON events of the bench's 200-byte RFC 5424
// messages with their relay ids, four records full and a rest, as the record stage does with a
// batch of the bench's TCP load: the cost per event of filling records to record.TargetBytes.
// "reuse" compresses every record into the Encoder's buffer, "copy" copies each as well, and
// "handover" hands each over and gets it back for the next, as the record stage does.
func BenchmarkEncodeRecords(b *testing.B) {
	g := bench.Generator{Run: 1, Format: bench.RFC5424, MinBytes: 200, MaxBytes: 200, Base: time.Now().Truncate(time.Second)}
	base := g.Base.UnixMilli()
	var (
		ev  record.Events
		msg []byte
		ids = record.NewIDs()
	)
	for n := 0; len(ev.Data) < 16<<20; n++ {
		msg = g.Append(msg[:0], 0, n)
		ms := base + int64(n/500)
		ev.Data = record.AppendEvent(ev.Data, ids.Next(ms), ms, msg)
		ev.Ends = append(ev.Ends, len(ev.Data))
	}
	h := record.Header{Owner: "123456789012", LogGroup: "/kinesyslog/syslog/514", LogStream: "10.0.0.5"}
	var free []byte // a free list of one, as the record stage's
	for _, bb := range []struct {
		name string
		enc  *record.Encoder
		emit func(rec []byte) error
	}{
		{name: "reuse", enc: record.NewEncoder(), emit: func([]byte) error { return nil }},
		// What the record stage did before it took records over: a copy of each.
		{name: "copy", enc: record.NewEncoder(), emit: func(rec []byte) error {
			free = bytes.Clone(rec)
			return nil
		}},
		{name: "handover", enc: record.NewEncoderFrom(func() []byte { return free }), emit: func(rec []byte) error {
			free = rec
			return nil
		}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(ev.Data)))
			b.ReportAllocs()
			var st record.Stats
			for b.Loop() {
				_, st, _ = bb.enc.Encode(h, ev, false, bb.emit)
			}
			b.ReportMetric(float64(st.Records), "records")
			b.ReportMetric(float64(st.RecordBytes)/float64(st.Records), "B/record")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*ev.Len()), "ns/event")
		})
	}
}
