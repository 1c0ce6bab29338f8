package buffer

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/intake"
	"github.com/kinesyslog/kinesyslog/internal/record"
)

// commitLogged commits msgs to key as the event stage does with the intake log: as one chunk of
// stream's Seq from first on.
func commitLogged(t *testing.T, b *Buffers, key Key, stream, first uint64, msgs ...string) {
	t.Helper()
	st, err := b.Stage(true)
	if err != nil {
		t.Fatal(err)
	}
	st.Oldest, st.Logged = t0, true
	st.Run = intake.Run{Stream: stream, First: first, Last: first + uint64(len(msgs)) - 1}
	for _, m := range msgs {
		st.Data = record.AppendEvent(st.Data, record.UUID{}, t0.UnixMilli(), []byte(m))
		st.Ends = append(st.Ends, len(st.Data))
	}
	if err := b.Commit(key, st); err != nil {
		t.Fatal(err)
	}
}

// TestRunsFollowEvents checks that a batch's runs of the intake log cover exactly the events
// asked for, and that the tail Done puts back keeps the runs of its own events only, in front
// of the newer events' runs.
func TestRunsFollowEvents(t *testing.T) {
	b := New(Options{FlushBytes: 200, Queue: 10})
	commitLogged(t, b, keyA, 7, 0, "a", "b", "c") // about 80 bytes of event each: full
	old := <-b.Batches()
	commitLogged(t, b, keyA, 9, 5, "d")
	if got, want := old.Runs(nil, 0, 1), []intake.Run{{Stream: 7, First: 0, Last: 0}}; !cmp.Equal(got, want) {
		t.Errorf("Runs(0, 1) of [a b c] = %v, want %v", got, want)
	}
	b.Done(old, 1, record.Stats{}) // [b c] go back in front of [d]
	done := drain(b)
	b.Close()
	all := <-done
	if len(all) != 1 || all[0].Len() != 3 {
		t.Fatalf("after Done(batch, 1): %d batches, want one of 3 events", len(all))
	}
	batch := all[0]
	tests := []struct {
		name     string
		from, to int
		want     []intake.Run
	}{
		{name: "all", from: 0, to: 3, want: []intake.Run{{Stream: 7, First: 1, Last: 2}, {Stream: 9, First: 5, Last: 5}}},
		{name: "tail only", from: 0, to: 2, want: []intake.Run{{Stream: 7, First: 1, Last: 2}}},
		{name: "first event", from: 0, to: 1, want: []intake.Run{{Stream: 7, First: 1, Last: 1}}},
		{name: "across commits", from: 1, to: 3, want: []intake.Run{{Stream: 7, First: 2, Last: 2}, {Stream: 9, First: 5, Last: 5}}},
		{name: "newer only", from: 2, to: 3, want: []intake.Run{{Stream: 9, First: 5, Last: 5}}},
		{name: "none", from: 3, to: 3, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := batch.Runs(nil, tt.from, tt.to); !cmp.Equal(got, tt.want) {
				t.Errorf("Runs(%d, %d) = %v, want %v", tt.from, tt.to, got, tt.want)
			}
		})
	}
	b.Done(batch, batch.Len(), record.Stats{})
}

// TestFlushReceived checks that FlushReceived hands on exactly the batches holding an event
// received at or before its time, whatever their size and age.
func TestFlushReceived(t *testing.T) {
	b := New(Options{Queue: 10})
	a, c := newAppender(b, keyA), newAppender(b, keyB)
	a.Add([]byte("old"), t0)
	c.Add([]byte("new"), t0.Add(time.Second))
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	b.FlushReceived(t0)
	select {
	case batch := <-b.Batches():
		if batch.Key != keyA {
			t.Errorf("FlushReceived(t0) handed on the batch of %v, want %v's", batch.Key, keyA)
		}
		release(b, batch)
	default:
		t.Fatal("FlushReceived(t0) handed on no batch")
	}
	select {
	case batch := <-b.Batches():
		t.Errorf("FlushReceived(t0) also handed on the batch of %v, received after t0", batch.Key)
	default:
	}
	done := drain(b)
	b.Close()
	<-done
}

// TestFlushReceivedTails checks that after FlushReceived(t), the tail that Done puts back of a
// batch holding events received at or before t is handed on by the next tick, not at the flush
// age, while newer batches wait.
func TestFlushReceivedTails(t *testing.T) {
	b := New(Options{FlushBytes: 200, Queue: 10})
	commitLogged(t, b, keyA, 7, 0, "a", "b", "c") // full: handed on
	b.FlushReceived(t0)
	full := <-b.Batches()
	b.Done(full, 1, record.Stats{}) // [b c] go back
	newer := newAppender(b, keyB)
	newer.Add([]byte("new"), t0.Add(time.Second))
	if err := newer.Commit(); err != nil {
		t.Fatal(err)
	}
	b.flushAged(t0.Add(2 * time.Second)) // a tick, long before the flush age
	select {
	case tail := <-b.Batches():
		if tail.Key != keyA || tail.Len() != 2 {
			t.Errorf("the tick handed on %d events of %v, want the 2 of the tail of %v", tail.Len(), tail.Key, keyA)
		}
	default:
		t.Fatal("the tick after FlushReceived handed on nothing, want the tail put back")
	}
	select {
	case batch := <-b.Batches():
		t.Errorf("the tick also handed on the batch of %v, received after t0", batch.Key)
	default:
	}
}

// TestCloseManyKeys checks that Close, with more than closeBatches batches being filled, hands on
// the largest closeBatches and those not in the intake log, and lets the other logged ones go.
func TestCloseManyKeys(t *testing.T) {
	b := New(Options{Queue: 10})
	const logged = closeBatches + 44
	for i := range logged {
		key := Key{Source: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 514}
		msgs := []string{"small"}
		if i == logged-1 {
			msgs = append(msgs, "the", "largest") // handed on whatever the order of the keys
		}
		commitLogged(t, b, key, uint64(i), 0, msgs...)
	}
	memory := newAppender(b, keyA)
	memory.Add([]byte("m"), t0) // smaller than the rest: handed on for being in memory only
	if err := memory.Commit(); err != nil {
		t.Fatal(err)
	}
	done := drain(b)
	left := b.Close()
	all := <-done
	if want := logged - closeBatches; left != want {
		t.Errorf("Close() = %d events left in the log, want %d", left, want)
	}
	if len(all) != closeBatches+1 {
		t.Errorf("Close handed on %d batches, want %d and the one in memory", len(all), closeBatches)
	}
	var largest, inMemory bool
	for _, batch := range all {
		largest = largest || batch.Len() == 3
		inMemory = inMemory || batch.Key == keyA
		b.Done(batch, batch.Len(), record.Stats{})
	}
	if !largest || !inMemory {
		t.Errorf("handed on the largest batch: %v, the one in memory: %v; want both", largest, inMemory)
	}
	if n := b.Bytes(); n != 0 {
		t.Errorf("Bytes() = %d after Close and Done, want 0", n)
	}
}
