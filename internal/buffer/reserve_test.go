package buffer

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestReserve checks the reservations of connections: they count under the cap, not as events;
// together they take at most half of it, waiting beyond; a wait ends with its context or Close.
func TestReserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := New(Options{MaxBytes: 1 << 20, Registerer: reg})
	a1, a2 := b.Appender(key(1), stamper), b.Appender(key(2), stamper)
	ctx := context.Background()
	if err := a1.Reserve(ctx, 400<<10); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, reg, "kinesyslog_buffer_connection_bytes"); got != 400<<10 || b.Bytes() != 0 {
		t.Errorf("connection_bytes = %v and Bytes() = %d, want %d and 0", got, b.Bytes(), 400<<10)
	}
	granted := make(chan error, 1)
	go func() { granted <- a2.Reserve(ctx, 200<<10) }() // 600 KiB: over half the cap
	poll(t, "Reserve waiting", func() bool { return metricValue(t, reg, "kinesyslog_buffer_waiting_commits") == 1 })
	a1.Unreserve(400 << 10)
	if err := <-granted; err != nil {
		t.Fatalf("Reserve after room was freed: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	go func() { granted <- a1.Reserve(cancelled, 400<<10) }()
	poll(t, "Reserve waiting", func() bool { return metricValue(t, reg, "kinesyslog_buffer_waiting_commits") == 1 })
	cancel()
	if err := <-granted; err == nil {
		t.Error("Reserve with its context done = nil, want an error")
	}
	go func() { granted <- a1.Reserve(ctx, 400<<10) }()
	poll(t, "Reserve waiting", func() bool { return metricValue(t, reg, "kinesyslog_buffer_waiting_commits") == 1 })
	b.Close()
	if err := <-granted; !errors.Is(err, ErrClosed) {
		t.Errorf("Reserve at Close = %v, want ErrClosed", err)
	}
	a2.Unreserve(200 << 10)
	if got := b.ConnectionBytes(); got != 0 {
		t.Errorf("ConnectionBytes() = %d after every reservation was given back, want 0", got)
	}
}

// TestTryAddNeverBlocks stages far more than maxStagedBytes with TryAdd while the buffers are at
// their cap and nothing reads their batches: TryAdd and TryCommit return, dropping and counting
// what does not fit.
func TestTryAddNeverBlocks(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := New(Options{MaxBytes: 64 << 10, FlushBytes: 1 << 30, Registerer: reg})
	filler := b.Appender(key(1), stamper)
	for i := range 60 {
		stage(filler, fmt.Sprintf("f%d-", i), 1000)
	}
	if err := filler.Commit(); err != nil {
		t.Fatal(err)
	}
	a := b.Appender(key(2), stamper)
	const n = 400 // 4 MB of events
	done := make(chan bool)
	go func() {
		for i := range n {
			msg := []byte(fmt.Sprintf("m%d-%0*d", i, 10_000, 0))
			a.TryAdd(msg, t0)
		}
		done <- a.TryCommit()
	}()
	poll(t, "TryAdd and TryCommit returned", func() bool {
		select {
		case ok := <-done:
			if ok {
				t.Error("TryCommit at the cap = true, want false")
			}
			return true
		default:
			return false
		}
	})
	if got := metricValue(t, reg, "kinesyslog_buffer_dropped_messages_total"); got != n {
		t.Errorf("dropped_messages_total = %v, want %d", got, n)
	}
	all := drain(b)
	b.Close()
	<-all
}
