package buffer

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

// slowEncoders plays a record stage of n encoders that are slow to report: each makes a "record"
// of the events before the middle of a full batch (the whole of any other), appended to records
// in the order made, and then holds the batch's Done until another batch has come out of
// Batches, or hold has passed: the key's next batch has every chance to leave before the tail
// is put back. After Close, what Done gives back is made into a record at once, as
// internal/encode does. It returns when the Batches channel is closed and drained.
func slowEncoders(t *testing.T, b *Buffers, n int, hold time.Duration) (records [][]string) {
	var (
		mu       sync.Mutex
		received atomic.Int64
		wg       sync.WaitGroup
	)
	emit := func(ev record.Events) {
		if ev.Len() == 0 {
			return
		}
		msgs := messages(t, &Batch{Events: ev})
		mu.Lock()
		records = append(records, msgs)
		mu.Unlock()
	}
	for range n {
		wg.Go(func() {
			for batch := range b.Batches() {
				mine := received.Add(1)
				next := batch.Len()
				if batch.Full && next > 1 {
					next /= 2
				}
				emit(record.Events{Data: batch.Data, Ends: batch.Ends[:next]})
				for deadline := time.Now().Add(hold); received.Load() == mine && time.Now().Before(deadline); {
					time.Sleep(100 * time.Microsecond)
				}
				emit(b.Done(batch, next, record.Stats{}))
			}
		})
	}
	wg.Wait()
	return records
}

// TestOrdered has each of some keys commit messages faster than the slow encoders report on
// their batches, with the age flush running: with Options.Ordered, every key's messages come out
// of the record stage exactly once and in the order committed; without it, a full batch's tail
// is put back behind the key's batch that left meanwhile, and the order breaks.
func TestOrdered(t *testing.T) {
	const perKey = 1_500
	tests := []struct {
		name     string
		ordered  bool
		keys     int
		encoders int
	}{
		{"ordered, one key", true, 1, 2},
		{"ordered, three keys", true, 3, 3},
		{"unordered, one key", false, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(Options{FlushBytes: 1000, FlushAge: time.Millisecond, Queue: 1, Ordered: tt.ordered})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go b.Run(ctx)
			done := make(chan [][]string, 1)
			go func() { done <- slowEncoders(t, b, tt.encoders, 20*time.Millisecond) }()
			var wg sync.WaitGroup
			for k := range tt.keys {
				wg.Go(func() {
					a := newAppender(b, Key{Source: netip.AddrFrom4([4]byte{10, 0, 2, byte(k)}), Port: 514})
					for i := range perKey {
						a.Add(fmt.Appendf(nil, "k%d-%06d %s", k, i, strings.Repeat("x", 64)), t0)
						if err := a.Commit(); err != nil {
							t.Errorf("key %d: commit %d: %v", k, i, err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.Close()
			records := <-done

			last := map[int]int{}
			seen := map[string]bool{}
			disorder := 0
			for _, rec := range records {
				for _, m := range rec {
					var k, i int
					if _, err := fmt.Sscanf(m, "k%d-%d", &k, &i); err != nil {
						t.Fatalf("message %q: %v", m, err)
					}
					if prev, ok := last[k]; ok && i <= prev {
						disorder++
					}
					last[k] = i
					if seen[m] {
						t.Errorf("message %q out twice", m)
					}
					seen[m] = true
				}
			}
			if len(seen) != tt.keys*perKey {
				t.Errorf("%d messages out, want %d", len(seen), tt.keys*perKey)
			}
			if tt.ordered && disorder > 0 {
				t.Errorf("%d messages out of their key's order, want none", disorder)
			}
			if !tt.ordered && disorder == 0 {
				t.Errorf("no message out of order without Ordered: the test no longer shows what Ordered prevents")
			}
			t.Logf("%d records, %d messages out of order", len(records), disorder)
			if got := b.Bytes(); got != 0 {
				t.Errorf("Bytes() = %d after Close and every Done, want 0", got)
			}
		})
	}
}
