package intake

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// benchSink keeps benchmark results alive.
var benchSink Position

// benchEntries returns n entries of stream with msgBytes-byte messages.
func benchEntries(stream uint64, n, msgBytes int) []Entry {
	es := entriesOf(stream, 0, n)
	for i := range es {
		es[i].Message = make([]byte, msgBytes)
		copy(es[i].Message, fmt.Sprintf("<13>1 2024-01-01T00:00:00Z host app - - - message %d ", i))
	}
	return es
}

// BenchmarkAppend encodes batches of a connection's read (Batch.Add), appends them and releases
// them as the record stage would, with Run writing and syncing meanwhile: the cost of a batch to
// a listener, sync included in the wall time but not on the appending goroutine.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		batch, msgBytes int
		wait            bool
	}{{300, 200, false}, {300, 200, true}, {32, 200, true}, {1, 200, true}} {
		b.Run(fmt.Sprintf("batch=%d/msg=%dB/wait=%t", bc.batch, bc.msgBytes, bc.wait), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- l.Run(ctx) }()
			s := l.NewStream()
			es := benchEntries(s, bc.batch, bc.msgBytes)
			b.SetBytes(int64(bc.batch * bc.msgBytes))
			b.ReportAllocs()
			seq := uint64(0)
			var batch Batch
			for b.Loop() {
				batch.Reset()
				for i := range es {
					es[i].Seq = seq + uint64(i)
					batch.Add(&es[i])
				}
				p, err := l.Append(ctx, &batch)
				if err != nil {
					b.Fatal(err)
				}
				if bc.wait {
					if err := l.WaitSynced(ctx, p); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Release([]Run{{s, seq, seq + uint64(bc.batch) - 1}}); err != nil {
					b.Fatal(err)
				}
				seq += uint64(bc.batch)
				benchSink = p
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq), "ns/entry")
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			if err := l.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkAppendEntry encodes one entry of a 200-byte message, its header and checksum
// included: the part of Append's cost that is the log's format, per entry.
func BenchmarkAppendEntry(b *testing.B) {
	es := benchEntries(7, 64, 200)
	buf := make([]byte, 0, len(es)*(200+entryOverheadBytes))
	b.SetBytes(200)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(es) == 0 {
			buf = buf[:0]
		}
		buf = appendEntry(buf, &es[i%len(es)])
	}
	benchSink = Position(len(buf))
}

// BenchmarkAppendParallel appends from several goroutines, each its own stream, as connections
// do, without waiting for syncs.
func BenchmarkAppendParallel(b *testing.B) {
	l, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	defer l.Close(context.Background())
	const batch, msgBytes = 300, 200
	b.SetBytes(batch * msgBytes)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := l.NewStream()
		es := benchEntries(s, batch, msgBytes)
		seq := uint64(0)
		var eb Batch
		for pb.Next() {
			eb.Reset()
			for i := range es {
				es[i].Seq = seq + uint64(i)
				eb.Add(&es[i])
			}
			if _, err := l.Append(ctx, &eb); err != nil {
				b.Error(err)
				return
			}
			if err := l.Release([]Run{{s, seq, seq + batch - 1}}); err != nil {
				b.Error(err)
				return
			}
			seq += batch
		}
	})
}

// BenchmarkReplay replays a log of 100,000 unreleased 200-byte messages.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(dir, Options{SyncInterval: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go l.Run(ctx)
	const n, batch, msgBytes = 100_000, 500, 200
	s := l.NewStream()
	es := benchEntries(s, batch, msgBytes)
	for seq := uint64(0); seq < n; seq += batch {
		for i := range es {
			es[i].Seq = seq + uint64(i)
		}
		if _, err := l.Append(context.Background(), batchOf(es)); err != nil {
			b.Fatal(err)
		}
	}
	err = l.Close(context.Background())
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	l, err = Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(context.Background())
	b.SetBytes(n * msgBytes)
	b.ReportAllocs()
	entries := 0
	for b.Loop() {
		err := l.Replay(context.Background(), 0, func(e Entry) error {
			entries++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(entries), "ns/entry")
}
