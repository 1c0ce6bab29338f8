package buffer

import (
	"context"
	"errors"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
)

// TestReserve checks the reservations of connections: they count under the cap, not as events;
// together they take at most half of it, waiting beyond; a wait ends with its context or Close.
func TestReserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := New(Options{MaxBytes: 1 << 20, Registerer: reg})
	ctx := context.Background()
	if err := b.Reserve(ctx, 400<<10); err != nil {
		t.Fatal(err)
	}
	if got := testenv.Metric(t, reg, "kinesyslog_buffer_connection_bytes"); got != 400<<10 || b.Bytes() != 0 {
		t.Errorf("connection_bytes = %v and Bytes() = %d, want %d and 0", got, b.Bytes(), 400<<10)
	}
	granted := make(chan error, 1)
	go func() { granted <- b.Reserve(ctx, 200<<10) }() // 600 KiB: over half the cap
	testenv.Eventually(t, "Reserve waiting", func() bool { return testenv.Metric(t, reg, "kinesyslog_buffer_waiting_commits") == 1 })
	b.Unreserve(400 << 10)
	if err := <-granted; err != nil {
		t.Fatalf("Reserve after room was freed: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	go func() { granted <- b.Reserve(cancelled, 400<<10) }()
	testenv.Eventually(t, "Reserve waiting", func() bool { return testenv.Metric(t, reg, "kinesyslog_buffer_waiting_commits") == 1 })
	cancel()
	if err := <-granted; err == nil {
		t.Error("Reserve with its context done = nil, want an error")
	}
	go func() { granted <- b.Reserve(ctx, 400<<10) }()
	testenv.Eventually(t, "Reserve waiting", func() bool { return testenv.Metric(t, reg, "kinesyslog_buffer_waiting_commits") == 1 })
	b.Close()
	if err := <-granted; !errors.Is(err, ErrClosed) {
		t.Errorf("Reserve at Close = %v, want ErrClosed", err)
	}
	b.Unreserve(200 << 10)
	if got := b.ConnectionBytes(); got != 0 {
		t.Errorf("ConnectionBytes() = %d after every reservation was given back, want 0", got)
	}
}
