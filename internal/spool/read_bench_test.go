package spool_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/bench"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/spool"
)

// BenchmarkRead reads back a full record of 200-byte messages as the uploader does before each
// send, the integrity check included. An op is one record; ns/event is per event of it. It is an
// external test: the message generator of internal/bench imports the uploader, which imports spool.
func BenchmarkRead(b *testing.B) {
	g := bench.Generator{Run: 1, Format: bench.RFC5424, MinBytes: 200, MaxBytes: 200, Base: time.Now().Truncate(time.Second)}
	var ev record.Events
	var msg []byte
	for i := range 20_000 {
		msg = g.Append(msg[:0], 0, i)
		ev.Data = record.AppendEvent(ev.Data, record.UUID{byte(i), byte(i >> 8)}, int64(i), msg)
		ev.Ends = append(ev.Ends, len(ev.Data))
	}
	var rec []byte
	_, _, err := record.NewEncoder().Encode(record.Header{}, ev, true, func(r []byte) error {
		if rec == nil {
			rec = append(rec, r...)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	decoded, err := record.NewReader(bytes.NewReader(rec)).Next()
	if err != nil {
		b.Fatal(err)
	}
	events := len(decoded.LogEvents)
	s, err := spool.Open(b.TempDir(), spool.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	if err := s.Write(context.Background(), rec); err != nil {
		b.Fatal(err)
	}
	e := s.Pending(0, 1)[0]
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Read(e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}
