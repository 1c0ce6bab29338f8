package intake

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// syncs returns how many rounds wrote and synced, from kinesyslog_intake_sync_seconds.
func syncs(t *testing.T, l *testLog) uint64 {
	t.Helper()
	mfs, err := l.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "kinesyslog_intake_sync_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("no kinesyslog_intake_sync_seconds")
	return 0
}

func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	// A long interval: only waiters make rounds start.
	l := openTest(t, dir, Options{SyncInterval: time.Hour})
	testenv.Eventually(t, "the first segment's header to be written", func() bool { return syncs(t, l) == 1 })
	const appenders, appends = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, appenders)
	for range appenders {
		wg.Go(func() {
			s := l.NewStream()
			for i := range appends {
				p, err := l.Append(context.Background(), batchOf(entriesOf(s, uint64(i), 1)))
				if err == nil {
					err = l.WaitSynced(context.Background(), p)
				}
				if err != nil {
					errs <- err
					return
				}
				// What WaitSynced covers is in the file (one segment: positions are file offsets).
				info, err := os.Stat(l.path(l.firstOwn))
				if err != nil || info.Size() < int64(p) {
					errs <- errors.Join(err, errors.New("WaitSynced returned before the file held its position"))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := syncs(t, l) - 1
	t.Logf("%d appends, each waited for, took %d syncs", appenders*appends, n)
	if n == 0 || n > appenders*appends/2 {
		t.Errorf("%d appends by %d goroutines took %d syncs, want far fewer than appends", appenders*appends, appenders, n)
	}
}

func TestSyncIntervalWithoutWaiters(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, Options{SyncInterval: time.Millisecond})
	s := l.NewStream()
	p, err := l.Append(context.Background(), batchOf(entriesOf(s, 0, 3)))
	if err != nil {
		t.Fatal(err)
	}
	// No one waits: the interval alone gets the entries to the file.
	testenv.Eventually(t, "the appended entries to reach the file", func() bool {
		info, err := os.Stat(l.path(l.firstOwn))
		return err == nil && info.Size() >= int64(p)
	})
	testenv.Eventually(t, "the sync to be published", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.synced >= p
	})
}

func TestMaxBytesBlocks(t *testing.T) {
	dir := t.TempDir()
	const maxBytes = 64 << 10
	l := openTest(t, dir, Options{MaxBytes: maxBytes, SyncInterval: time.Millisecond})
	s := l.NewStream()
	seq := uint64(0)
	// Fill the log up to the point where the next batch does not fit.
	for {
		batch := entriesOf(s, seq, 20)
		est := int64(0)
		for _, e := range batch {
			est += int64(len(e.Message) + entryOverheadBytes)
		}
		if l.Bytes()+est > maxBytes {
			break
		}
		l.appendSynced(batch...)
		seq += 20
	}
	full := seq

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Append(ctx, batchOf(entriesOf(s, seq, 20))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append at the cap = %v, want it to wait until its context ends", err)
	}
	if got := testutil.ToFloat64(l.metrics.blocked); got != 0 {
		t.Errorf("blocked_appends after the wait ended = %v, want 0", got)
	}

	done := make(chan error, 1)
	go func() {
		p, err := l.Append(context.Background(), batchOf(entriesOf(s, seq, 20)))
		if err == nil {
			err = l.WaitSynced(context.Background(), p)
		}
		done <- err
	}()
	testenv.Eventually(t, "the append to block", func() bool { return testutil.ToFloat64(l.metrics.blocked) == 1 })
	select {
	case err := <-done:
		t.Fatalf("Append at the cap returned %v before any release", err)
	default:
	}
	if err := l.Check(); err == nil || !strings.Contains(err.Error(), "full") {
		t.Errorf("Check() while an append waits at the cap = %v, want full", err)
	}
	if err := l.Release([]Run{{s, 0, full - 1}}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Append after the release = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Append still blocked after releasing everything")
	}
	if got := l.Bytes(); got > maxBytes {
		t.Errorf("Bytes = %d, above MaxBytes %d", got, maxBytes)
	}
	if err := l.Check(); err != nil {
		t.Errorf("Check() after the release = %v, want nil", err)
	}
}

func TestFlushRequests(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, Options{MaxBytes: 64 << 10, SyncInterval: time.Millisecond})
	slow, fast := l.NewStream(), l.NewStream()
	pinning := entriesOf(slow, 0, 1)
	l.appendSynced(pinning...)
	// The fast stream's entries are released as they come; the slow one's is not.
	for seq := uint64(0); l.Bytes() < 40<<10; seq += 10 {
		l.appendSynced(entriesOf(fast, seq, 10)...)
		if err := l.Release([]Run{{fast, seq, seq + 9}}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case got := <-l.FlushRequests():
		if got.Before(pinning[0].Received) {
			t.Errorf("FlushRequests = %v, want at least %v, the pinning entry's arrival", got, pinning[0].Received)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no flush request while one entry pins a log past half its cap")
	}
	before := l.Segments()
	if err := l.Release([]Run{{slow, 0, 0}}); err != nil {
		t.Fatal(err)
	}
	l.appendSynced(entriesOf(fast, 1000, 1)...)
	testenv.Eventually(t, "the unpinned segments to go", func() bool { return l.Segments() < before })
}

func TestPendingBytesBounded(t *testing.T) {
	// No Run: nothing is written, so appends must stop at maxPendingBytes instead of buffering
	// up to MaxBytes in memory.
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	s := l.NewStream()
	es := benchEntries(s, 300, 200)
	for seq := uint64(0); ; seq += 300 {
		for i := range es {
			es[i].Seq = seq + uint64(i)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := l.Append(ctx, batchOf(es))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("Append = %v", err)
		}
		if seq > 1e6 {
			t.Fatalf("%d bytes appended without a writer, and Append does not wait", l.Bytes())
		}
	}
	l.mu.Lock()
	pending := len(l.buf)
	l.mu.Unlock()
	if pending > maxPendingBytes {
		t.Errorf("%d bytes pending, above %d", pending, maxPendingBytes)
	}
}
