package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/bench"
	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

const (
	// loggedMemoryLimitBytes is the relay's soft memory limit with its intake log on, as the
	// README gives it: the buffers' cap with the log and 160 MiB for the rest
	// (cmd/kinesyslog's memoryLimitBytes).
	loggedMemoryLimitBytes = buffer.DefaultLoggedMaxBytes + 160<<20
	// loggedResidentBoundBytes is the README's ceiling on the relay's resident memory with the
	// log: the soft limit and 32 MiB for what the Go runtime does not count in it (the
	// program's own pages, some 20 MiB of the binary, and the limit's slack).
	loggedResidentBoundBytes = loggedMemoryLimitBytes + 32<<20
	// memoryLoadMessages is the size of TestFirehoseLoadMemory's load: bench/run's
	// firehose-tcp row, 2,500,000 messages of 200 bytes (500 MB). At 1,000,000 the relay
	// before the lower cap peaked at 194 MiB under -race, the heap not yet grown to its goal;
	// at this count at 262 MiB.
	memoryLoadMessages = 2_500_000
)

// TestFirehoseLoadMemory sends bench/run's Firehose load, 200-byte messages over 8 TCP
// connections as fast as the relay takes them, to a relay with its intake log (the default)
// delivering to the Firehose test server through the AWS SDK: the buffers' cap and the soft
// memory limit must be the README's, the buffers must never hold more than their cap, the
// relay's peak resident memory must stay under the README's ceiling, and every message must be
// spooled and delivered. Before the lower cap with the log (session 10) the relay ran with a cap of 256 MiB
// and a limit of 384 MiB, and peaked at 255 to 285 MiB under this load at full count.
func TestFirehoseLoadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a load of 500 MB: 15 to 50 s")
	}
	srv := firehosetest.Start(t, firehosetest.Config{})
	args, env := FirehoseArgs(srv)
	port := testenv.FreePort(t)
	r := Start(t, Options{Args: append(args, "--address", "127.0.0.1", "--tcp-port", Port(port),
		"--flush-age", "200ms"), Env: env, Metrics: true})
	m := r.Totals(t)
	if got := m["kinesyslog_buffer_max_bytes"]; got != buffer.DefaultLoggedMaxBytes {
		t.Errorf("kinesyslog_buffer_max_bytes = %v, want %d (buffer.DefaultLoggedMaxBytes)", got, buffer.DefaultLoggedMaxBytes)
	}
	if got := m["go_gc_gomemlimit_bytes"]; got != loggedMemoryLimitBytes {
		t.Errorf("go_gc_gomemlimit_bytes = %v, want %d", got, loggedMemoryLimitBytes)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// The buffers' bytes, sampled while the load runs.
	var held float64
	sampled := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			// Scrape, not r.Scrape: a failed scrape must not end the test from this goroutine.
			if series, err := testenv.Scrape(ctx, "http://"+r.MetricsAddress+"/metrics"); err == nil {
				held = max(held, testenv.Totals(series)["kinesyslog_buffer_bytes"])
			}
		}
	}()
	sent, err := bench.Send(ctx, bench.Load{
		Network: bench.TCP, Address: fmt.Sprintf("127.0.0.1:%d", port), Framing: bench.OctetCounting,
		Streams: 8, Count: memoryLoadMessages,
		Generator: bench.Generator{Run: 1, Format: bench.RFC5424, MinBytes: 200, MaxBytes: 200,
			Base: time.Now().Truncate(time.Second)},
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	// Received, then spooled (the last batches wait for the flush age), then uploaded: the spool
	// is empty before the first records too, so its emptiness alone says nothing.
	r.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v >= memoryLoadMessages })
	r.WaitMetric(t, "kinesyslog_encode_spooled_messages_total", func(v float64) bool { return v >= memoryLoadMessages })
	r.WaitMetric(t, "kinesyslog_spool_records", func(v float64) bool { return v == 0 })
	close(stop)
	<-sampled
	peak := residentBytes(t, &metricsRelay{Relay: r}, "VmHWM")
	t.Logf("%d messages sent in %v; buffers held at most %.1f MiB, peak resident memory %.0f MiB (bound %d MiB)",
		sent.Total(), sent.Elapsed.Round(time.Millisecond), held/(1<<20), peak/(1<<20), loggedResidentBoundBytes>>20)
	if held > buffer.DefaultLoggedMaxBytes {
		t.Errorf("buffers held %.0f bytes, above their cap of %d", held, buffer.DefaultLoggedMaxBytes)
	}
	if peak > loggedResidentBoundBytes {
		t.Errorf("peak resident memory %.0f MiB, want at most %d MiB", peak/(1<<20), loggedResidentBoundBytes>>20)
	}
	// Everything received was spooled, and the spool emptied into the test server.
	m = r.Totals(t)
	if got := m["kinesyslog_encode_spooled_messages_total"]; got != memoryLoadMessages {
		t.Errorf("%v messages spooled, want the %d sent", got, memoryLoadMessages)
	}
	if got, want := m["kinesyslog_upload_delivered_records_total"], m["kinesyslog_spool_writes_total"]; got != want || len(srv.Records()) != int(want) {
		t.Errorf("%v records delivered, %d stored by the test server, want the %v spooled", got, len(srv.Records()), want)
	}
}
