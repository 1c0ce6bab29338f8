package upload

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestWindow drives a window through the events a call can meet and checks its limits after
// each.
func TestWindow(t *testing.T) {
	const timeout = 10 * time.Second
	type step struct {
		name      string
		stale     bool // the call started before the last decrease
		slow      bool // the call took more than half the timeout
		ev        callEvent
		n         int
		size      int64
		wantCalls int
		wantBatch int64
	}
	full := int64(maxBatchBytes)
	const growBatchBytes = maxBatchBytes / growBatchDivisor
	steps := []step{
		{name: "fast full call opens a second slot", ev: callAnswered, n: 4, size: full, wantCalls: 2, wantBatch: full},
		{name: "another", ev: callAnswered, n: 4, size: full, wantCalls: 3, wantBatch: full},
		{name: "up to Concurrency", ev: callAnswered, n: 4, size: full, wantCalls: 4, wantBatch: full},
		{name: "never past it", ev: callAnswered, n: 4, size: full, wantCalls: 4, wantBatch: full},
		{name: "timeout halves the calls", ev: callTimedOut, n: 4, size: full, wantCalls: 2, wantBatch: full},
		{name: "a call of the same congestion does not halve again", stale: true, ev: callTimedOut, n: 4, size: full, wantCalls: 2, wantBatch: full},
		{name: "slow answer keeps the window", slow: true, ev: callAnswered, n: 4, size: full, wantCalls: 2, wantBatch: full},
		{name: "a failure says nothing of the link", ev: callFailed, n: 4, size: full, wantCalls: 2, wantBatch: full},
		{name: "next timeout down to one call", ev: callTimedOut, n: 4, size: full, wantCalls: 1, wantBatch: full},
		{name: "then half the bytes", ev: callTimedOut, n: 4, size: full, wantCalls: 1, wantBatch: full / 2},
		{name: "size complaint halves what the call carried", ev: callTooLarge, n: 1, size: 1_000_000, wantCalls: 1, wantBatch: 500_000},
		{name: "a stale larger complaint changes nothing", ev: callTooLarge, n: 4, size: full, wantCalls: 1, wantBatch: 500_000},
		{name: "a call that was not full does not grow it", ev: callAnswered, n: 10, size: 1000, wantCalls: 1, wantBatch: 500_000},
		{name: "500 records are full whatever their size", ev: callAnswered, n: maxBatchRecords, size: 1000, wantCalls: 1, wantBatch: 500_000 + growBatchBytes},
		{name: "fast full call grows the bytes back", ev: callAnswered, n: 1, size: 1_000_000, wantCalls: 1, wantBatch: 500_000 + 2*growBatchBytes},
		{name: "down to one record", ev: callTimedOut, n: 1, size: 1, wantCalls: 1, wantBatch: 1},
		{name: "which grows back", ev: callAnswered, n: 1, size: 900_000, wantCalls: 1, wantBatch: 1 + growBatchBytes},
	}
	w := newWindow(4, timeout, firehoseLike{}.Limits(), newMetrics(nil))
	if calls, batch := w.limits(); calls != 1 || batch != full {
		t.Fatalf("new window = %d calls of %d bytes, want 1 of %d", calls, batch, full)
	}
	for _, st := range steps {
		s, err := w.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s.full = true
		if st.slow {
			s.start = s.start.Add(-timeout)
		}
		if st.stale {
			s.epoch--
		}
		w.release(s, st.ev, st.n, st.size)
		if calls, batch := w.limits(); calls != st.wantCalls || batch != st.wantBatch {
			t.Errorf("%s: window = %d calls of %d bytes, want %d of %d", st.name, calls, batch, st.wantCalls, st.wantBatch)
		}
	}
}

func TestWindowAcquire(t *testing.T) {
	w := newWindow(4, time.Second, firehoseLike{}.Limits(), newMetrics(nil))
	s, err := w.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// One call in flight at first: a second waits.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := w.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("acquire() with the only slot taken = %v, want the context's error", err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := w.acquire(context.Background())
		got <- err
	}()
	w.release(s, callFailed, 1, 1)
	if err := <-got; err != nil {
		t.Errorf("acquire() after the slot was released = %v", err)
	}
}

// TestTimeoutsSendLess checks, with a sink that times out every call of more than two records at
// once, that the records of a timed-out call are sent again in smaller calls until all are
// delivered, each exactly once.
func TestTimeoutsSendLess(t *testing.T) {
	s := newSpool(t)
	var records [][]byte
	for i := range 8 {
		records = append(records, sized(t, 1_000_000, uint64(i)))
	}
	write(t, s, records...)
	inner := &recorder{}
	var calls []int
	sink := fakeDest{put: func(ctx context.Context, records [][]byte) ([]Result, error) {
		calls = append(calls, len(records))
		if len(records) > 2 {
			return nil, context.DeadlineExceeded
		}
		return inner.Put(ctx, records)
	}}
	if err := New(s, sink, fast).Flush(context.Background()); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	for i, r := range records {
		if n := inner.records[string(r)]; n != 1 {
			t.Errorf("record %d delivered %d times, want once", i, n)
		}
	}
	// A full call times out and is sent again in halves; the calls that answered quickly grow
	// the batch size back until a call of three times out in turn.
	if want := []int{4, 2, 2, 3, 1, 2, 1}; !slices.Equal(calls, want) {
		t.Errorf("calls = %v, want %v", calls, want)
	}
}
