package event_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/event"
	"github.com/kinesyslog/kinesyslog/internal/intake"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// openLog opens the intake log in dir and runs it until the test ends or it is closed.
func openLog(t *testing.T, dir string) *intake.Log {
	t.Helper()
	l, err := intake.Open(dir, intake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		l.Close(context.Background())
	})
	return l
}

// closeLog syncs and closes l, as a relay's shutdown does.
func closeLog(t *testing.T, l *intake.Log) {
	t.Helper()
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// batchOf closes b and returns its one batch.
func batchOf(t *testing.T, b *buffer.Buffers) *buffer.Batch {
	t.Helper()
	done := make(chan []*buffer.Batch, 1)
	go func() {
		var all []*buffer.Batch
		for batch := range b.Batches() {
			all = append(all, batch)
		}
		done <- all
	}()
	b.Close()
	all := <-done
	if len(all) != 1 {
		t.Fatalf("%d batches, want 1", len(all))
	}
	return all[0]
}

// TestStreamIntakeLog commits messages through a Stream with a real intake log: the Receipt is
// durable once the log synced them, the batch carries their run, and after the log is reopened
// Replay gives the same events again (the stored ids, the stamps of the same stamper) with the
// same run, until that run is released.
func TestStreamIntakeLog(t *testing.T) {
	dir := t.TempDir()
	log := openLog(t, dir)
	b := buffer.New(buffer.Options{Queue: 10})
	s := event.NewStreams(b, stamper, log, event.FormatSyslog).Stream(source, 514)
	for _, m := range []string{"<13>1 2026-11-25T02:34:55Z host app - - - one", "!rewritten", "three"} {
		s.Add(context.Background(), []byte(m), t0)
	}
	receipt, err := s.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := receipt.Durable(ctx); err != nil {
		t.Fatalf("Durable = %v, want nil", err)
	}
	first := batchOf(t, b)
	runs := first.Runs(nil, 0, first.Len())
	if len(runs) != 1 || runs[0].First != 0 || runs[0].Last != 2 {
		t.Fatalf("batch runs %v, want one run of Seq 0 to 2", runs)
	}
	closeLog(t, log)

	replay := func(t *testing.T) *buffer.Batch {
		t.Helper()
		log := openLog(t, dir)
		b := buffer.New(buffer.Options{Queue: 10})
		n, err := event.NewStreams(b, stamper, log, event.FormatSyslog).Replay(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			b.Close()
			closeLog(t, log)
			return nil
		}
		batch := batchOf(t, b)
		if err := log.Release(batch.Runs(nil, 0, batch.Len())); err != nil {
			t.Fatal(err)
		}
		closeLog(t, log)
		return batch
	}
	again := replay(t)
	if again == nil {
		t.Fatal("Replay gave nothing, want the 3 committed messages")
	}
	if diff := cmp.Diff(events(t, first), events(t, again)); diff != "" {
		t.Errorf("replayed events differ (-committed +replayed):\n%s", diff)
	}
	if got := again.Runs(nil, 0, again.Len()); !cmp.Equal(got, runs) {
		t.Errorf("replayed runs %v, want %v", got, runs)
	}
	if batch := replay(t); batch != nil {
		t.Errorf("Replay after the release gave %d events, want none", batch.Len())
	}
}

// TestStreamIntakeLogAllocs checks that with the intake log, adding messages allocates nothing
// and a commit (one Append for all its messages) at most its Receipt.
func TestStreamIntakeLogAllocs(t *testing.T) {
	log := openLog(t, t.TempDir())
	b := buffer.New(buffer.Options{Queue: 1000})
	s := event.NewStreams(b, stamper, log, event.FormatSyslog).Stream(source, 514)
	msg := []byte("<13>1 2026-11-25T02:34:55Z host app - - - hello")
	const perCommit = 50
	run := func() {
		for range perCommit {
			s.Add(context.Background(), msg, t0)
		}
		if _, err := s.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		run()
	}
	if allocs := testing.AllocsPerRun(200, run); allocs > 1 {
		t.Errorf("%d Adds and a Commit allocate %v times, want at most 1 (the Receipt)", perCommit, allocs)
	}
}

// TestStreamsHold commits messages while the Streams hold: the buffers get nothing, each Receipt
// is durable, and Held counts them; Replay then hands them, from the log, to the buffers with the
// runs of their commits, and hands their batches on; commits made after it go to the buffers.
func TestStreamsHold(t *testing.T) {
	log := openLog(t, t.TempDir())
	b := buffer.New(buffer.Options{Queue: 10})
	streams := event.NewStreams(b, stamper, log, event.FormatSyslog)
	streams.Hold()
	tcp, udp := streams.Stream(source, 514), streams.Stream(source, 515)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, m := range []string{"one", "two", "three"} {
		tcp.Add(context.Background(), []byte(m), t0.Add(time.Duration(i)*time.Millisecond))
		receipt, err := tcp.Commit(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := receipt.Durable(ctx); err != nil {
			t.Fatalf("Durable of a held commit = %v, want nil", err)
		}
	}
	udp.TryAdd([]byte("datagram"), t0)
	if !udp.TryCommit() {
		t.Fatal("TryCommit of a held datagram = false, want true")
	}
	if n := b.Bytes(); n != 0 {
		t.Errorf("buffers hold %d bytes while the Streams hold, want 0", n)
	}
	if n := streams.Held(); n != 4 {
		t.Errorf("Held() = %d, want 4", n)
	}

	n, err := streams.Replay(ctx)
	if err != nil || n != 4 {
		t.Fatalf("Replay() = %d, %v, want 4, nil", n, err)
	}
	tcp.Add(context.Background(), []byte("four"), t0.Add(time.Second))
	if _, err := tcp.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.FlushReceived(t0.Add(time.Hour))
	got := map[uint16][]string{}
	var runs []intake.Run
	for range 3 { // Replay hands on the two replayed batches, FlushReceived the newer one
		batch := <-b.Batches()
		got[batch.Key.Port] = append(got[batch.Key.Port], messages(t, batch)...)
		runs = batch.Runs(runs, 0, batch.Len())
	}
	want := map[uint16][]string{514: {"one", "two", "three", "four"}, 515: {"datagram"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batches after Replay (-want +got):\n%s", diff)
	}
	tcpNum, udpNum := tcp.(*event.Stream).Number(), udp.(*event.Stream).Number()
	wantRuns := []intake.Run{{Stream: tcpNum, First: 0, Last: 2}, {Stream: tcpNum, First: 3, Last: 3}, {Stream: udpNum, First: 0, Last: 0}}
	if diff := cmp.Diff(wantRuns, runs, cmpopts.SortSlices(func(a, b intake.Run) bool {
		return a.Stream < b.Stream || a.Stream == b.Stream && a.First < b.First
	})); diff != "" {
		t.Errorf("runs after Replay (-want +got):\n%s", diff)
	}
}

// TestWaitRoomBeforeRead runs a reader as a listener's: WaitRoom before each read, then the read's
// messages added and committed, into a small intake log that holds every commit (nothing is
// released). The reader ends up waiting in WaitRoom, with every message it read in the log, and
// ending its context (the drain's end at shutdown) ends the wait. Before, the next read's
// messages waited in memory alone, in an Append at the cap, lost at kill -9, and the wait had no
// context: shutdown hung.
func TestWaitRoomBeforeRead(t *testing.T) {
	reg := prometheus.NewRegistry()
	log, err := intake.Open(t.TempDir(), intake.Options{MaxBytes: 512 << 10, DiskReserve: -1, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); log.Run(ctx) }()
	defer func() { log.Close(context.Background()); cancel(); <-done }()
	streams := event.NewStreams(buffer.New(buffer.Options{Queue: 10}), stamper, log, event.FormatSyslog)
	streams.Hold() // nothing is released: the log fills
	st := streams.Stream(source, 514)
	var added atomic.Int64
	msg := bytes.Repeat([]byte("x"), 8<<10)
	drained, endDrain := context.WithCancel(context.Background())
	readerErr := make(chan error, 1)
	go func() {
		for range 100 { // 800 KiB: more than the cap
			if err := streams.WaitRoom(drained); err != nil {
				readerErr <- err
				return
			}
			st.Add(drained, msg, t0) // a read's worth
			added.Add(1)
			if _, err := st.Commit(drained); err != nil {
				readerErr <- err
				return
			}
		}
		readerErr <- nil
	}()
	testenv.Eventually(t, "the reader waiting for room with every message it read in the log", func() bool {
		return log.Check() != nil && testenv.Metric(t, reg, "kinesyslog_intake_appended_messages_total") == float64(added.Load())
	})
	endDrain()
	var got error
	testenv.Eventually(t, "the reader's wait ended by its context", func() bool {
		select {
		case got = <-readerErr:
			return true
		default:
			return false
		}
	})
	if !errors.Is(got, context.Canceled) {
		t.Errorf("WaitRoom after the drain's end = %v, want context.Canceled", got)
	}
	if n := added.Load(); n == 100 {
		t.Errorf("the reader read all %d messages: the log took them all, the test proves nothing", n)
	}
}
