package spool

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/bench"
	recordpkg "github.com/kinesyslog/kinesyslog/internal/record"
)

// BenchmarkWriteSmall spools small records, as many quiet or spoofed sources make them: one Write per
// record against WriteGroup of several, from as many goroutines as the relay has record
// workers on a small host. It reports records spooled a second.
func BenchmarkWriteSmall(b *testing.B) {
	record := make([]byte, 400)
	for i := range record {
		record[i] = byte(i)
	}
	for _, group := range []int{16, 256} {
		b.Run(fmt.Sprintf("groups of %d", group), func(b *testing.B) {
			s := open(b, b.TempDir(), Options{})
			b.ReportAllocs()
			b.SetBytes(int64(len(record)))
			records := make([][]byte, group)
			for i := range records {
				records[i] = record
			}
			n := 0
			for n < b.N {
				if err := s.WriteGroup(context.Background(), records); err != nil {
					b.Fatal(err)
				}
				n += group
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
	for _, writers := range []int{1, 2} {
		b.Run(fmt.Sprintf("one by one/writers=%d", writers), func(b *testing.B) {
			s := open(b, b.TempDir(), Options{})
			b.ReportAllocs()
			b.SetBytes(int64(len(record)))
			var wg sync.WaitGroup
			per := b.N/writers + 1
			for range writers {
				wg.Go(func() {
					for range per {
						if err := s.Write(context.Background(), record); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(per*writers)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkRead reads back a full record of 200-byte messages as the uploader does before each
// send, the integrity check included. An op is one record; ns/event is per event of it.
func BenchmarkRead(b *testing.B) {
	g := bench.Generator{Run: 1, Format: bench.RFC5424, MinBytes: 200, MaxBytes: 200, Base: time.Now().Truncate(time.Second)}
	var ev recordpkg.Events
	var msg []byte
	for i := range 20_000 {
		msg = g.Append(msg[:0], 0, i)
		ev.Data = recordpkg.AppendEvent(ev.Data, recordpkg.UUID{byte(i), byte(i >> 8)}, int64(i), msg)
		ev.Ends = append(ev.Ends, len(ev.Data))
	}
	var rec []byte
	_, _, err := recordpkg.NewEncoder().Encode(recordpkg.Header{}, ev, true, func(r []byte) error {
		if rec == nil {
			rec = append(rec, r...)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	decoded, err := recordpkg.NewReader(bytes.NewReader(rec)).Next()
	if err != nil {
		b.Fatal(err)
	}
	events := len(decoded.LogEvents)
	s := open(b, b.TempDir(), Options{})
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
