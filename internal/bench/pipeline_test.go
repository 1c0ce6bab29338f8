package bench

import (
	"context"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/framing"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/spool"
	"github.com/kinesyslog/kinesyslog/internal/syslog"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// The in-process pipeline: what the relay does with the bytes of a TCP connection, without the
// socket, so that a CPU profile shows the relay's own work (go test -bench Pipeline -cpuprofile).

// commitBytes is how much a busy connection stages between commits, as the listener does
// (listener.commitBytes).
const commitBytes = 64 << 10

// octetStream returns n distinct messages of g, octet-counted, and their mean size.
func octetStream(g Generator, n int) (data []byte, meanBytes int) {
	var msg []byte
	total := 0
	for i := range n {
		msg = g.Append(msg[:0], 0, i)
		total += len(msg)
		data = strconv.AppendInt(data, int64(len(msg)), 10)
		data = append(append(data, ' '), msg...)
	}
	return data, total / n
}

var benchStats record.Stats

// encodeStage is the relay's record stage (relay.encoder) reduced to what a benchmark needs.
func encodeStage(buffers *buffer.Buffers, emit func([]byte) error) (stats func() record.Stats) {
	var (
		mu    sync.Mutex
		total record.Stats
		wg    sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			enc := record.NewEncoder()
			h := record.Header{Owner: "000000000000", LogGroup: "/kinesyslog/syslog/514", LogStream: "127.0.0.1"}
			for batch := range buffers.Batches() {
				next, st, err := enc.Encode(h, batch.Events, batch.Full, emit)
				if err != nil {
					panic(err)
				}
				if batch.Full && st.Records > 0 {
					buffers.ObserveRatio(st.RawBytes, st.RecordBytes)
				}
				if next < batch.Len() && !buffers.Requeue(batch, next) {
					_, rest, err := enc.Encode(h, batch.Tail(next), false, emit)
					if err != nil {
						panic(err)
					}
					st.Records += rest.Records
					st.RecordBytes += rest.RecordBytes
					st.RawBytes += rest.RawBytes
				}
				buffers.Release(batch)
				mu.Lock()
				total.Records += st.Records
				total.RecordBytes += st.RecordBytes
				total.RawBytes += st.RawBytes
				mu.Unlock()
			}
		})
	}
	return func() record.Stats {
		wg.Wait()
		return total
	}
}

// BenchmarkPipeline runs 200-byte RFC 5424 messages from one connection's bytes to finished
// records: framing, header scan, JSON encoding, batching, gzip. "spool" also writes each record
// to a spool, fsync included. An op is one message; the time includes encoding what is buffered
// after the last one. cpu-ns/msg is the process's CPU time per message, GC included.
func BenchmarkPipeline(b *testing.B) {
	g := Generator{Run: 1, Format: RFC5424, MinBytes: 200, MaxBytes: 200, Base: time.Now().Truncate(time.Second)}
	data, meanBytes := octetStream(g, 10_000)
	for _, dest := range []string{"records", "spool"} {
		b.Run(dest, func(b *testing.B) {
			emit := func([]byte) error { return nil }
			if dest == "spool" {
				sp, err := spool.Open(b.TempDir(), spool.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer sp.Close(context.Background())
				emit = func(rec []byte) error { return sp.Write(context.Background(), rec) }
			}
			buffers := buffer.New(buffer.Options{})
			stats := encodeStage(buffers, emit)
			key := buffer.Key{Source: netip.MustParseAddr("127.0.0.1"), Port: 514}
			app := buffers.Appender(key, syslog.Stamper{})
			sc := framing.NewScanner(&testenv.RepeatReader{Data: data, Chunk: 64 << 10}, 0)
			b.SetBytes(int64(meanBytes))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := selfCPU()
			received := time.Now()
			for range b.N {
				if !sc.Scan() {
					b.Fatal(sc.Err())
				}
				app.Add(sc.Message(), received)
				if app.Staged() >= commitBytes {
					if err := app.Commit(); err != nil {
						b.Fatal(err)
					}
					received = time.Now()
				}
			}
			if err := app.Commit(); err != nil {
				b.Fatal(err)
			}
			buffers.Close()
			benchStats = stats()
			b.StopTimer()
			// The stages run on several goroutines: time per op is wall time, this is the work.
			b.ReportMetric(float64((selfCPU()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/msg")
			b.ReportMetric(float64(benchStats.RawBytes)/float64(max(1, benchStats.RecordBytes)), "ratio")
			b.ReportMetric(float64(benchStats.RecordBytes)/float64(max(1, benchStats.Records)), "B/record")
		})
	}
}

// TestPerMessageAllocs fails when the per-message path of the relay starts allocating: framing,
// header scan (and the rewrite of messages without a header), JSON encoding, and the buffer's
// Appender that runs them for each message.
func TestPerMessageAllocs(t *testing.T) {
	base := time.Now().Truncate(time.Second)
	rfc5424, _ := octetStream(Generator{Run: 1, Format: RFC5424, MinBytes: 100, MaxBytes: 2048, Base: base}, 1000)
	rfc3164, _ := octetStream(Generator{Run: 1, Format: RFC3164, MinBytes: 100, MaxBytes: 2048, Base: base}, 1000)
	headerless := []byte("52 no header at all, so the relay rewrites this message\n")
	tests := []struct {
		name string
		data []byte
	}{
		{name: "RFC5424", data: rfc5424},
		{name: "RFC3164", data: rfc3164},
		{name: "rewritten", data: headerless},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/stages", func(t *testing.T) {
			sc := framing.NewScanner(&testenv.RepeatReader{Data: tt.data, Chunk: 1460}, 0)
			st := syslog.Stamper{}
			var dst, scratch []byte
			received := time.Now()
			run := func() {
				if !sc.Scan() {
					t.Fatal(sc.Err())
				}
				msg := sc.Message()
				ts, out := st.Stamp(scratch[:0], msg, received, "127.0.0.1")
				if out != nil {
					scratch, msg = out, out
				}
				if len(dst) > 1<<20 {
					dst = dst[:0]
				}
				dst = record.AppendEvent(dst, record.UUID{}, ts.UnixMilli(), msg)
			}
			run() // the buffers grow once
			if n := testing.AllocsPerRun(20_000, run); n != 0 {
				t.Errorf("framing, header scan and AppendEvent allocate %v times per message, want 0", n)
			}
		})
		t.Run(tt.name+"/appender", func(t *testing.T) {
			buffers := buffer.New(buffer.Options{})
			stats := encodeStage(buffers, func([]byte) error { return nil })
			defer func() {
				buffers.Close()
				stats()
			}()
			app := buffers.Appender(buffer.Key{Source: netip.MustParseAddr("127.0.0.1"), Port: 514}, syslog.Stamper{})
			sc := framing.NewScanner(&testenv.RepeatReader{Data: tt.data, Chunk: 1460}, 0)
			received := time.Now()
			run := func() {
				if !sc.Scan() {
					t.Fatal(sc.Err())
				}
				app.Add(sc.Message(), received)
				// Commits allocate batches now and then; spread over the messages of a commit,
				// that is far below one allocation per message.
				if app.Staged() >= commitBytes {
					if err := app.Commit(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if n := testing.AllocsPerRun(50_000, run); n != 0 {
				t.Errorf("Appender.Add allocates %v times per message, want 0", n)
			}
		})
	}
}
