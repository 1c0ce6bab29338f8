package event_test

import (
	"context"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/bench"
	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/event"
	"github.com/kinesyslog/kinesyslog/internal/intake"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/syslog"
)

// BenchmarkStreamAdd is the per-message path of a TCP connection from its framed messages to the
// batch: the bench's 200-byte messages (internal/bench) stamped by the syslog Stamper, made
// events, and committed 64 at a time, as a read of a loaded connection holds, to buffers whose
// batches are taken as they fill; without the intake log, and with it (/log: each message also
// encoded as the log's entry and appended, the log's writer running meanwhile).
func BenchmarkStreamAdd(b *testing.B) {
	for _, bc := range []struct {
		format bench.Format
		log    bool
	}{{bench.RFC5424, false}, {bench.RFC3164, false}, {bench.RFC5424, true}} {
		name := string(bc.format)
		if bc.log {
			name += "/log"
		}
		format := bc.format
		b.Run(name, func(b *testing.B) {
			const perCommit = 64
			gen := bench.Generator{Run: 1, Format: format, MinBytes: 200, MaxBytes: 200, Base: t0}
			msgs := make([][]byte, 1024)
			for i := range msgs {
				msgs[i] = gen.Append(nil, 0, i)
			}
			ctx := context.Background()
			var log *intake.Log
			if bc.log {
				var err error
				if log, err = intake.Open(b.TempDir(), intake.Options{}); err != nil {
					b.Fatal(err)
				}
				runCtx, stop := context.WithCancel(ctx)
				ran := make(chan error, 1)
				go func() { ran <- log.Run(runCtx) }()
				defer func() {
					stop()
					if err := <-ran; err != nil {
						b.Error(err)
					}
					if err := log.Close(ctx); err != nil {
						b.Error(err)
					}
				}()
			}
			buffers := buffer.New(buffer.Options{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				var runs []intake.Run
				for batch := range buffers.Batches() {
					if log != nil {
						// As the record stage releases what it spooled, so that the log stays
						// under its cap.
						runs = batch.Runs(runs[:0], 0, batch.Len())
						if err := log.Release(runs); err != nil {
							b.Error(err)
						}
					}
					buffers.Done(batch, batch.Len(), record.Stats{})
				}
			}()
			s := event.NewStreams(buffers, syslog.Stamper{}, log, event.FormatSyslog).Stream(source, 514)
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
