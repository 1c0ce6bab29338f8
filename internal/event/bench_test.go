package event_test

import (
	"context"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/bench"
	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/event"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/syslog"
)

// BenchmarkStreamAdd is the per-message path of a TCP connection from its framed messages to the
// batch, without the intake log: the bench's 200-byte messages (internal/bench) stamped by the
// syslog Stamper, made events, and committed 64 at a time, as a read of a loaded connection
// holds, to buffers whose batches are taken as they fill.
func BenchmarkStreamAdd(b *testing.B) {
	for _, format := range []bench.Format{bench.RFC5424, bench.RFC3164} {
		b.Run(string(format), func(b *testing.B) {
			const perCommit = 64
			gen := bench.Generator{Run: 1, Format: format, MinBytes: 200, MaxBytes: 200, Base: t0}
			msgs := make([][]byte, 1024)
			for i := range msgs {
				msgs[i] = gen.Append(nil, 0, i)
			}
			buffers := buffer.New(buffer.Options{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for batch := range buffers.Batches() {
					buffers.Done(batch, batch.Len(), record.Stats{})
				}
			}()
			s := event.NewStreams(buffers, syslog.Stamper{}, nil, 0).Stream(source, 514)
			ctx := context.Background()
			b.SetBytes(200)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Add(ctx, msgs[i%len(msgs)], t0)
				if i++; i%perCommit == 0 {
					if _, err := s.Commit(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			buffers.Close()
			<-done
		})
	}
}
