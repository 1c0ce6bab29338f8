package buffer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

var (
	t0   = time.Date(2026, 11, 25, 2, 34, 55, 0, time.UTC)
	keyA = Key{Source: netip.MustParseAddr("10.0.0.1"), Port: 514}
	keyB = Key{Source: netip.MustParseAddr("10.0.0.2"), Port: 514}
)

// appender plays the event stage for one key: each message becomes an event stamped t0, staged
// and committed as the event stage does, so that a test reads back what it added.
type appender struct {
	b   *Buffers
	key Key
	st  *Staging
	err error // of Stage, for the next commit
}

func newAppender(b *Buffers, key Key) *appender { return &appender{b: b, key: key} }

func (a *appender) add(msg []byte, received time.Time, wait bool) {
	if a.st == nil {
		if a.st, a.err = a.b.Stage(wait); a.err != nil {
			return
		}
		a.st.Oldest = received
	}
	a.st.Data = record.AppendEvent(a.st.Data, record.UUID{}, t0.UnixMilli(), msg)
	a.st.Ends = append(a.st.Ends, len(a.st.Data))
}

func (a *appender) Add(msg []byte, received time.Time)    { a.add(msg, received, true) }
func (a *appender) TryAdd(msg []byte, received time.Time) { a.add(msg, received, false) }

func (a *appender) Commit() error {
	st, err := a.st, a.err
	a.st, a.err = nil, nil
	if err != nil || st == nil {
		return err
	}
	return a.b.Commit(a.key, st)
}

func (a *appender) TryCommit() bool {
	st, err := a.st, a.err
	a.st, a.err = nil, nil
	if err != nil || st == nil {
		return err == nil
	}
	return a.b.TryCommit(a.key, st)
}

// release is the record stage done with batch, encoded whole.
func release(b *Buffers, batch *Batch) { b.Done(batch, batch.Len(), record.Stats{}) }

func messages(t *testing.T, b *Batch) []string {
	t.Helper()
	var out []string
	for i := range b.Len() {
		var ev record.Event
		if err := json.Unmarshal(b.Event(i), &ev); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.Timestamp != t0.UnixMilli() {
			t.Errorf("event %d timestamp %d, want %d", i, ev.Timestamp, t0.UnixMilli())
		}
		out = append(out, ev.Message)
	}
	return out
}

// drain collects every batch until the channel closes.
func drain(b *Buffers) <-chan []*Batch {
	done := make(chan []*Batch, 1)
	go func() {
		var all []*Batch
		for batch := range b.Batches() {
			all = append(all, batch)
		}
		done <- all
	}()
	return done
}

func TestCloseFlushesEveryKey(t *testing.T) {
	b := New(Options{})
	done := drain(b)
	a, c := newAppender(b, keyA), newAppender(b, keyB)
	a.Add([]byte("one"), t0)
	a.Add([]byte("two"), t0)
	c.Add([]byte("three"), t0)
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	got := map[Key][]string{}
	for _, batch := range <-done {
		if batch.Full {
			t.Errorf("batch of %v flushed at Close is marked Full", batch.Key)
		}
		got[batch.Key] = append(got[batch.Key], messages(t, batch)...)
	}
	if fmt.Sprint(got[keyA]) != "[one two]" || fmt.Sprint(got[keyB]) != "[three]" {
		t.Errorf("batches = %v", got)
	}
	if err := a.Commit(); err != nil {
		t.Errorf("Commit of nothing after Close = %v, want nil", err)
	}
	a.Add([]byte("late"), t0)
	if err := a.Commit(); err != ErrClosed {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
}

func TestFlushBySize(t *testing.T) {
	b := New(Options{FlushBytes: 1000, Queue: 100})
	a := newAppender(b, keyA)
	for i := range 30 {
		a.Add(fmt.Appendf(nil, "message %d", i), t0)
		if err := a.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case batch := <-b.Batches():
		if !batch.Full || len(batch.Data) < 1000 {
			t.Errorf("batch Full=%v with %d bytes, want a full batch of at least 1000", batch.Full, len(batch.Data))
		}
		if got := messages(t, batch); got[0] != "message 0" {
			t.Errorf("first message %q, want message 0", got[0])
		}
	default:
		t.Fatal("no batch handed on after 30 messages over the flush size")
	}
}

func TestFlushByAge(t *testing.T) {
	b := New(Options{FlushAge: time.Minute, Queue: 10})
	a := newAppender(b, keyA)
	a.Add([]byte("old"), t0)
	a.Commit()
	b.flushAged(t0.Add(59 * time.Second))
	if len(b.out) != 0 {
		t.Fatal("batch handed on before its age")
	}
	b.flushAged(t0.Add(time.Minute))
	batch := <-b.Batches()
	if batch.Full || fmt.Sprint(messages(t, batch)) != "[old]" {
		t.Errorf("aged batch Full=%v messages %v", batch.Full, messages(t, batch))
	}
	// The idle key is forgotten one age later, and comes back on use.
	b.flushAged(t0.Add(2 * time.Minute))
	if n := len(b.keys); n != 0 {
		t.Errorf("%d keys after idle period, want 0", n)
	}
	a.Add([]byte("again"), t0)
	if err := a.Commit(); err != nil || len(b.keys) != 1 {
		t.Errorf("Commit after key was forgotten: err %v, %d keys", err, len(b.keys))
	}
}

// TestDoneRequeuesTail checks that Done puts the events of a batch from next on back in front of
// the key's newer events, and after Close returns them to the caller instead.
func TestDoneRequeuesTail(t *testing.T) {
	b := New(Options{FlushBytes: 200, Queue: 10})
	a := newAppender(b, keyA)
	for _, m := range []string{"a", "b", "c"} { // about 80 bytes of event each
		a.Add([]byte(m), t0)
	}
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	old := <-b.Batches()
	a.Add([]byte("d"), t0)
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	if rest := b.Done(old, 1, record.Stats{}); rest.Len() != 0 {
		t.Fatalf("Done(batch, 1) before Close returned %d events, want none", rest.Len())
	}
	done := drain(b)
	b.Close()
	all := <-done
	if len(all) != 1 || fmt.Sprint(messages(t, all[0])) != "[b c d]" {
		t.Fatalf("after Done(batch, 1): %d batches, first %v; want one [b c d]", len(all), messages(t, all[0]))
	}
	rest := b.Done(all[0], 1, record.Stats{})
	if got := fmt.Sprint(messages(t, &Batch{Events: rest})); got != "[c d]" {
		t.Errorf("Done(batch, 1) after Close returned %s, want [c d]", got)
	}
	if got := b.Bytes(); got != 0 {
		t.Errorf("Bytes() = %d after every batch was done, want 0", got)
	}
}

func TestObserveRatioAdaptsFlushSize(t *testing.T) {
	b := New(Options{})
	if got := b.FlushBytes(); got != DefaultFlushBytes {
		t.Fatalf("initial FlushBytes = %d, want %d", got, DefaultFlushBytes)
	}
	full := &Batch{Full: true}
	for range 50 {
		b.mem.handedOn.Add(1) // as if handed on
		b.Done(full, 0, record.Stats{Records: 1, RawBytes: 8_000_000, RecordBytes: 1_000_000})
	}
	want := int(8 * record.TargetBytes * overshoot)
	if got := b.FlushBytes(); got < want*99/100 || got > want*101/100 {
		t.Errorf("FlushBytes after ratio 8 = %d, want about %d", got, want)
	}
	for range 50 {
		b.observeRatio(1000, 1)
	}
	b.mem.handedOn.Add(1)
	b.Done(&Batch{}, 0, record.Stats{Records: 1, RawBytes: 1, RecordBytes: 1_000_000})
	if got := b.FlushBytes(); got != maxFlushBytes {
		t.Errorf("FlushBytes after Done of a batch that is not Full = %d, want it unchanged, %d", got, maxFlushBytes)
	}
	if got := b.FlushBytes(); got != maxFlushBytes {
		t.Errorf("FlushBytes after ratio 1000 = %d, want the cap %d", got, maxFlushBytes)
	}
}

// consumeRequeuing plays the encoder: it counts in seen the messages of every batch, but gives the
// second half of each full batch back with Done, as an encoder does with a tail that does
// not fill a record. It returns when the Batches channel closes.
func consumeRequeuing(t *testing.T, b *Buffers, seen map[string]int) {
	for batch := range b.Batches() {
		next := batch.Len()
		if batch.Full && batch.Len() > 1 {
			next = batch.Len() / 2
		}
		for _, m := range messages(t, &Batch{Events: record.Events{Data: batch.Data, Ends: batch.Ends[:next]}}) {
			seen[m]++
		}
		rest := b.Done(batch, next, record.Stats{})
		for _, m := range messages(t, &Batch{Events: rest}) {
			seen[m]++
		}
	}
}

// TestConcurrentAppenders checks that every message committed from many goroutines reaches
// exactly one batch while batches are flushed by size and by age and requeued.
func TestConcurrentAppenders(t *testing.T) {
	b := New(Options{FlushBytes: 4096, FlushAge: time.Millisecond, Queue: 1})
	seen := make(map[string]int)
	var consumer sync.WaitGroup
	consumer.Go(func() { consumeRequeuing(t, b, seen) })
	var ager sync.WaitGroup
	stop := make(chan struct{})
	ager.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				b.flushAged(time.Now())
			}
		}
	})
	var senders sync.WaitGroup
	const goroutines, perGoroutine = 8, 2000
	for g := range goroutines {
		senders.Go(func() {
			a := newAppender(b, Key{Source: netip.AddrFrom4([4]byte{10, 0, 0, byte(g % 3)}), Port: 514})
			for i := range perGoroutine {
				a.Add(fmt.Appendf(nil, "g%d-m%d", g, i), time.Now())
				if i%7 == 0 {
					if err := a.Commit(); err != nil {
						t.Error(err)
						return
					}
				}
			}
			a.Commit()
		})
	}
	senders.Wait()
	close(stop)
	ager.Wait()
	b.Close()
	consumer.Wait()
	if len(seen) != goroutines*perGoroutine {
		t.Errorf("saw %d distinct messages, want %d", len(seen), goroutines*perGoroutine)
	}
	for m, n := range seen {
		if n != 1 {
			t.Errorf("message %s seen %d times", m, n)
		}
	}
}

// TestDoneHandsOnFullBatch checks that a requeued rest that makes its key's batch full is
// handed on at once when the encoder's channel has room, and otherwise by the next tick of Run,
// not only when its source sends again or its events age.
func TestDoneHandsOnFullBatch(t *testing.T) {
	for _, room := range []bool{true, false} {
		t.Run(fmt.Sprintf("room in the channel %v", room), func(t *testing.T) {
			b := New(Options{FlushBytes: 1000, Queue: 1})
			a := newAppender(b, keyA)
			for i := range 20 {
				a.Add(fmt.Appendf(nil, "message %d", i), t0)
			}
			if err := a.Commit(); err != nil {
				t.Fatal(err)
			}
			old := <-b.Batches()
			if !room {
				b.out <- &Batch{Key: keyB}
			}
			if rest := b.Done(old, 1, record.Stats{}); rest.Len() != 0 {
				t.Fatalf("Done(batch, 1) before Close returned %d events, want none", rest.Len())
			}
			if !room {
				if batch := <-b.Batches(); batch.Key != keyB {
					t.Fatalf("Done handed on a batch of %v through a full channel", batch.Key)
				}
				b.flushAged(t0) // a tick of Run, long before the batch's age
			}
			select {
			case batch := <-b.Batches():
				if !batch.Full || batch.Key != keyA || messages(t, batch)[0] != "message 1" {
					t.Errorf("batch handed on: key %v Full %v first %q; want the full rest of %v", batch.Key, batch.Full, messages(t, batch)[0], keyA)
				}
			default:
				t.Fatal("a full requeued batch was not handed on")
			}
		})
	}
}

// TestBatchGrowth fills one batch with commits of 64 KiB, as a busy connection makes them: it
// grows by doubling, to the flush size and an appender's worth more, never further.
func TestBatchGrowth(t *testing.T) {
	const flush = 6 << 20
	b := New(Options{FlushBytes: flush, Queue: 10})
	a := newAppender(b, keyA)
	msg := bytes.Repeat([]byte("x"), 1000)
	var caps []int
	for {
		for range 64 {
			a.Add(msg, t0)
		}
		if err := a.Commit(); err != nil {
			t.Fatal(err)
		}
		p, err := b.lookup(keyA)
		if err != nil {
			t.Fatal(err)
		}
		n, c := len(p.batch.Data), cap(p.batch.Data)
		p.mu.Unlock()
		b.busy.Done()
		if n == 0 {
			break // the batch reached the flush size and was handed on
		}
		if len(caps) == 0 || caps[len(caps)-1] != c {
			caps = append(caps, c)
		}
		if c > flush+MaxStagedBytes || c > 2*max(n, 64<<10) {
			t.Fatalf("a batch of %d bytes has room for %d: want at most twice its size and at most %d", n, c, flush+MaxStagedBytes)
		}
	}
	if len(caps) > 8 {
		t.Errorf("the batch grew %d times (%v): want doubling, at most 8 times from 64 KiB to 6 MiB", len(caps), caps)
	}
	if last := caps[len(caps)-1]; last != flush+MaxStagedBytes {
		t.Errorf("the batch ended with room for %d bytes, want the flush size and an appender's worth, %d", last, flush+MaxStagedBytes)
	}
}
