package buffer

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
)

func key(i int) Key { return Key{Source: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), Port: 514} }

// stage adds one message of about size bytes of event to a, returning its text.
func stage(a *appender, name string, size int) string {
	msg := name + strings.Repeat("x", max(size-len(name)-80, 0))
	a.Add([]byte(msg), t0)
	return msg
}

// TestCommitWaitsForMemory checks that a commit over the cap waits until the encoder releases a
// batch, and that with no batch at the encoder the largest batch being filled is handed on early
// instead of holding the memory until it ages.
func TestCommitWaitsForMemory(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := New(Options{MaxBytes: 10_000, FlushBytes: 1 << 20, Queue: 4, Registerer: reg})
	small, large := newAppender(b, key(1)), newAppender(b, key(2))
	stage(small, "small", 2000)
	stage(large, "large", 6000)
	if err := small.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := large.Commit(); err != nil {
		t.Fatal(err)
	}
	held := b.Bytes()
	if held < 8000 || held > 10_000 {
		t.Fatalf("Bytes() = %d after committing about 8000", held)
	}

	third := newAppender(b, key(3))
	stage(third, "third", 3000)
	done := make(chan error, 1)
	go func() { done <- third.Commit() }()

	// Nothing is at the encoder, so the waiting commit hands on the largest batch, early.
	var early *Batch
	select {
	case early = <-b.Batches():
	case <-time.After(10 * time.Second):
		t.Fatal("no batch handed on while a commit waits for memory")
	}
	if early.Key != key(2) || early.Full {
		t.Errorf("batch handed on early: key %v Full %v; want the largest, %v, not Full", early.Key, early.Full, key(2))
	}
	testenv.Eventually(t, "commit waiting", func() bool { return testenv.Metric(t, reg, "kinesyslog_buffer_waiting_commits") == 1 })
	select {
	case err := <-done:
		t.Fatalf("Commit over the cap returned %v before any memory was released", err)
	default:
	}
	earlyBytes := int64(len(early.Data))
	release(b, early)
	if err := <-done; err != nil {
		t.Fatalf("Commit after the batch was done = %v", err)
	}
	if got := testenv.Metric(t, reg, "kinesyslog_buffer_waiting_commits"); got != 0 {
		t.Errorf("waiting_commits = %v after the commit went through", got)
	}
	if got, want := b.Bytes(), held-earlyBytes+3000; got < want-200 || got > want+200 {
		t.Errorf("Bytes() = %d, want about %d", got, want)
	}

	all := drain(b)
	b.Close()
	var keys []Key
	for _, batch := range <-all {
		keys = append(keys, batch.Key)
		release(b, batch)
	}
	if len(keys) != 2 {
		t.Errorf("Close handed on batches of %v, want the two keys not handed on early", keys)
	}
	if got := b.Bytes(); got != 0 {
		t.Errorf("Bytes() = %d after every batch was released, want 0", got)
	}
}

// TestCloseWakesWaitingCommit checks that a commit waiting for memory fails with ErrClosed at
// Close instead of blocking the shutdown.
func TestCloseWakesWaitingCommit(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := New(Options{MaxBytes: 5000, FlushBytes: 4000, Queue: 1, Registerer: reg})
	a := newAppender(b, key(1))
	stage(a, "fills", 4500)
	if err := a.Commit(); err != nil { // full: handed on, and kept until released
		t.Fatal(err)
	}
	stage(a, "waits", 1000)
	done := make(chan error, 1)
	go func() { done <- a.Commit() }()
	testenv.Eventually(t, "commit waiting", func() bool { return testenv.Metric(t, reg, "kinesyslog_buffer_waiting_commits") == 1 })
	all := drain(b)
	b.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("waiting Commit at Close = %v, want ErrClosed", err)
	}
	<-all
}

// TestTryCommit checks that TryCommit drops, exactly and with a count, what Commit would have
// waited for room under the cap for, and that a full batch the busy encoder cannot take waits in
// memory instead of being dropped.
func TestTryCommit(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		wantDrops bool
	}{
		{name: "memory cap", opts: Options{MaxBytes: 6000, FlushBytes: 1 << 20, Queue: 1}, wantDrops: true},
		{name: "encoder busy", opts: Options{FlushBytes: 2500, Queue: 1}},
		{name: "encoder busy at the cap", opts: Options{MaxBytes: 12000, FlushBytes: 2500, Queue: 1}, wantDrops: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			tt.opts.Registerer = reg
			b := New(tt.opts)
			a := newAppender(b, key(1))
			var kept []string
			dropped := 0
			for i := range 10 {
				msg := stage(a, fmt.Sprintf("m%d-", i), 1000)
				stage(a, fmt.Sprintf("n%d-", i), 1000)
				if a.TryCommit() {
					kept = append(kept, msg, "n"+msg[1:])
				} else {
					dropped += 2
				}
			}
			if len(kept) == 0 || (dropped > 0) != tt.wantDrops {
				t.Fatalf("kept %d and dropped %d messages; want some kept, and drops %v", len(kept), dropped, tt.wantDrops)
			}
			if got := testenv.Metric(t, reg, "kinesyslog_buffer_dropped_messages_total"); got != float64(dropped) {
				t.Errorf("dropped_messages_total = %v, want %d", got, dropped)
			}
			all := drain(b)
			b.Close()
			var got []string
			for _, batch := range <-all {
				got = append(got, messages(t, batch)...)
			}
			if fmt.Sprint(got) != fmt.Sprint(kept) {
				t.Errorf("batches hold %d messages %.200v\nwant the %d kept %.200v", len(got), got, len(kept), kept)
			}
			if a.TryCommit() != true {
				t.Error("TryCommit of nothing = false, want true")
			}
			stage(a, "late", 100)
			if a.TryCommit() {
				t.Error("TryCommit after Close = true, want false")
			}
		})
	}
}

// TestConcurrentAppendersUnderCap runs blocking and dropping appenders against a small cap while
// an encoder requeues: every message committed is handed on exactly once, every message dropped
// is counted and never handed on, and the memory count returns to zero.
func TestConcurrentAppendersUnderCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := New(Options{MaxBytes: 16 << 10, FlushBytes: 4096, FlushAge: time.Millisecond, Queue: 1, Registerer: reg})
	seen := make(map[string]int)
	var consumer sync.WaitGroup
	consumer.Go(func() { consumeRequeuing(t, b, seen) })
	stop := make(chan struct{})
	var ager sync.WaitGroup
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
	const goroutines, perGoroutine = 8, 1000
	var mu sync.Mutex
	committed := map[string]bool{}
	var senders sync.WaitGroup
	for g := range goroutines {
		senders.Go(func() {
			a := newAppender(b, key(g%3))
			var staged []string
			for i := range perGoroutine {
				m := fmt.Sprintf("g%d-m%d", g, i)
				a.Add([]byte(m), time.Now())
				staged = append(staged, m)
				if i%5 != 0 {
					continue
				}
				ok := true
				if g%2 == 0 {
					ok = a.TryCommit()
				} else if err := a.Commit(); err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					for _, m := range staged {
						committed[m] = true
					}
					mu.Unlock()
				}
				staged = staged[:0]
			}
			if err := a.Commit(); err != nil {
				t.Error(err)
			}
			mu.Lock()
			for _, m := range staged {
				committed[m] = true
			}
			mu.Unlock()
		})
	}
	senders.Wait()
	close(stop)
	ager.Wait()
	b.Close()
	consumer.Wait()
	for m, n := range seen {
		if n != 1 || !committed[m] {
			t.Errorf("message %s seen %d times, committed %v", m, n, committed[m])
		}
	}
	dropped := testenv.Metric(t, reg, "kinesyslog_buffer_dropped_messages_total")
	if len(seen) != len(committed) || float64(len(seen))+dropped != goroutines*perGoroutine {
		t.Errorf("%d messages handed on, %d committed, %v dropped; want %d in all", len(seen), len(committed), dropped, goroutines*perGoroutine)
	}
	if got := b.Bytes(); got != 0 {
		t.Errorf("Bytes() = %d after every batch was released, want 0", got)
	}
}

// TestBlockedSendersOfOneKey stalls the encoder while many senders of one key keep committing:
// one of them waits with a full batch and the others wait behind it, rather than each filling a
// batch of its own to wait with, so that what the key holds does not grow with its senders.
// Once the encoder reads again, every message is handed on exactly once.
func TestBlockedSendersOfOneKey(t *testing.T) {
	const (
		flushBytes = 16 << 10
		senders    = 16
		msgBytes   = 1000
	)
	reg := prometheus.NewRegistry()
	b := New(Options{FlushBytes: flushBytes, Queue: 1, Registerer: reg})
	var wg sync.WaitGroup
	sent := make([][]string, senders)
	stop := make(chan struct{})
	for s := range senders {
		wg.Go(func() {
			a := newAppender(b, keyA)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := stage(a, fmt.Sprintf("s%d-m%d-", s, i), msgBytes)
				if err := a.Commit(); err != nil {
					t.Error(err)
					return
				}
				sent[s] = append(sent[s], msg)
			}
		})
	}
	testenv.Eventually(t, "every sender waiting", func() bool { return testenv.Metric(t, reg, "kinesyslog_buffer_waiting_commits") == senders })
	// Held: the batch in the queue, the one waiting to be queued, the one being filled, and what
	// each waiting sender has reserved, a message each. Each sender holding a full batch would be
	// many times that.
	if held, most := b.Bytes(), int64(3*(flushBytes+msgBytes)+senders*msgBytes); held > most {
		t.Errorf("%d senders of one key waiting hold %d bytes, want at most %d", senders, held, most)
	}
	close(stop)
	all := drain(b)
	wg.Wait()
	b.Close()
	seen := make(map[string]int)
	for _, batch := range <-all {
		for _, m := range messages(t, batch) {
			seen[m]++
		}
	}
	for s := range senders {
		for _, m := range sent[s] {
			if seen[m] != 1 {
				t.Fatalf("message %.20q handed on %d times, want once", m, seen[m])
			}
			delete(seen, m)
		}
	}
	if len(seen) > 0 {
		t.Errorf("%d messages handed on that no sender committed", len(seen))
	}
}
