package encode_test

import (
	"context"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/bench"
	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/encode"
	"github.com/kinesyslog/kinesyslog/internal/event"
	"github.com/kinesyslog/kinesyslog/internal/framing"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/syslog"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// The in-process pipeline: what the relay does with the bytes of a TCP connection, without the
// socket, so that a CPU profile shows the relay's own work (go test -bench Pipeline -cpuprofile).

// commitBytes is how much a busy connection stages between commits, as the listener does
// (listener.commitBytes).
const commitBytes = 64 << 10

// octetStream returns n distinct messages of g, octet-counted, and their mean size.
func octetStream(g bench.Generator, n int) (data []byte, meanBytes int) {
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

// countingSpool counts the records written to it, and writes them on to next unless it is nil.
type countingSpool struct {
	next           encode.Spool
	records, bytes atomic.Int64
}

func (c *countingSpool) WriteGroup(ctx context.Context, records [][]byte) error {
	for _, r := range records {
		c.records.Add(1)
		c.bytes.Add(int64(len(r)))
	}
	if c.next == nil {
		return nil
	}
	return c.next.WriteGroup(ctx, records)
}

// pipeline is the relay's stages from the event stage to the spool, running.
type pipeline struct {
	buffers *buffer.Buffers
	stream  *event.Stream
	done    chan error
}

func startPipeline(tb testing.TB, sp encode.Spool) *pipeline {
	tb.Helper()
	buffers := buffer.New(buffer.Options{})
	stage, err := encode.New(buffers, sp, owner("000000000000"), encode.Options{LogGroupPrefix: "/kinesyslog/syslog"})
	if err != nil {
		tb.Fatal(err)
	}
	p := &pipeline{
		buffers: buffers,
		stream:  event.NewStreams(buffers, syslog.Stamper{}, nil, 0).Stream(netip.MustParseAddr("127.0.0.1"), 514).(*event.Stream),
		done:    make(chan error, 1),
	}
	go func() { p.done <- stage.Run(context.Background()) }()
	return p
}

// stop encodes and spools everything committed.
func (p *pipeline) stop(tb testing.TB) {
	tb.Helper()
	p.buffers.Close()
	if err := <-p.done; err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkPipeline runs 200-byte RFC 5424 messages from one connection's bytes to finished
// records: framing, header scan, JSON encoding, batching, gzip, through the real event and
// record stages. "spool" also writes each record to a spool, fsync included. An op is one
// message; the time includes encoding what is buffered after the last one. cpu-ns/msg is the
// process's CPU time per message, GC included.
func BenchmarkPipeline(b *testing.B) {
	g := bench.Generator{Run: 1, Format: bench.RFC5424, MinBytes: 200, MaxBytes: 200, Base: time.Now().Truncate(time.Second)}
	data, meanBytes := octetStream(g, 10_000)
	for _, dest := range []string{"records", "spool"} {
		b.Run(dest, func(b *testing.B) {
			sp := &countingSpool{}
			if dest == "spool" {
				sp.next = openSpool(b)
			}
			p := startPipeline(b, sp)
			sc := framing.NewScanner(&testenv.RepeatReader{Data: data, Chunk: 64 << 10}, 0)
			rawBytes := 0
			b.SetBytes(int64(meanBytes))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := bench.SelfCPU()
			received := time.Now()
			for range b.N {
				if !sc.Scan() {
					b.Fatal(sc.Err())
				}
				p.stream.Add(context.Background(), sc.Message(), received)
				if n := p.stream.Staged(); n >= commitBytes {
					rawBytes += n
					if _, err := p.stream.Commit(context.Background()); err != nil {
						b.Fatal(err)
					}
					received = time.Now()
				}
			}
			rawBytes += p.stream.Staged()
			if _, err := p.stream.Commit(context.Background()); err != nil {
				b.Fatal(err)
			}
			p.stop(b)
			b.StopTimer()
			// The stages run on several goroutines: time per op is wall time, this is the work.
			records, recordBytes := sp.records.Load(), sp.bytes.Load()
			b.ReportMetric(float64((bench.SelfCPU()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/msg")
			b.ReportMetric(float64(rawBytes)/float64(max(1, recordBytes)), "ratio")
			b.ReportMetric(float64(recordBytes)/float64(max(1, records)), "B/record")
		})
	}
}

// TestPerMessageAllocs fails when the per-message path of the relay starts allocating: framing,
// header scan (and the rewrite of messages without a header), JSON encoding, and the event
// stage's Stream that runs them for each message, committing to buffers that the record stage
// drains.
func TestPerMessageAllocs(t *testing.T) {
	base := time.Now().Truncate(time.Second)
	rfc5424, _ := octetStream(bench.Generator{Run: 1, Format: bench.RFC5424, MinBytes: 100, MaxBytes: 2048, Base: base}, 1000)
	rfc3164, _ := octetStream(bench.Generator{Run: 1, Format: bench.RFC3164, MinBytes: 100, MaxBytes: 2048, Base: base}, 1000)
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
		t.Run(tt.name+"/stream", func(t *testing.T) {
			p := startPipeline(t, &countingSpool{})
			defer p.stop(t)
			sc := framing.NewScanner(&testenv.RepeatReader{Data: tt.data, Chunk: 1460}, 0)
			received := time.Now()
			run := func() {
				if !sc.Scan() {
					t.Fatal(sc.Err())
				}
				p.stream.Add(context.Background(), sc.Message(), received)
				// Commits allocate batches now and then; spread over the messages of a commit,
				// that is far below one allocation per message.
				if p.stream.Staged() >= commitBytes {
					if _, err := p.stream.Commit(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			}
			if n := testing.AllocsPerRun(50_000, run); n != 0 {
				t.Errorf("Stream.Add allocates %v times per message, want 0", n)
			}
		})
	}
}
