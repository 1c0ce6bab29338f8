package intake

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestDiskFullRecovers fails the log's file writes with ENOSPC, after writing part of what they
// were given, and then lets them through: the log waits (appends and WaitSynced do not fail),
// counts the failures and, once the disk has room, syncs everything, which a reopen replays whole
// and once.
func TestDiskFullRecovers(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		n    int // entries appended while the disk is full
	}{
		{name: "one segment", n: 20},
		{name: "round across segments", opts: Options{MaxBytes: 64 << 10, SegmentBytes: minSegmentBytes}, n: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			reg := prometheus.NewRegistry()
			tc.opts.Registerer = reg
			l, err := Open(dir, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var full atomic.Bool
			l.fileWrite = func(f *os.File, b []byte, off int64) (int, error) {
				if full.Load() {
					// Half of it, in whole blocks as a direct write is cut short.
					n, _ := f.WriteAt(b[:len(b)/2&^(blockBytes-1)], off)
					return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
				}
				return f.WriteAt(b, off)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- l.Run(ctx) }()

			s := l.NewStream()
			before := entriesOf(s, 0, 5)
			tl := &testLog{Log: l, t: t, done: done, reg: reg}
			tl.appendSynced(before...)

			if err := l.Check(); err != nil {
				t.Errorf("Check() before the disk filled = %v, want nil", err)
			}
			full.Store(true)
			during := entriesOf(s, 5, tc.n)
			synced := make(chan error, 1)
			go func() {
				wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer wcancel()
				var p Position
				var err error
				for i := range during {
					if p, err = l.Append(wctx, batchOf(during[i:i+1])); err != nil {
						break
					}
				}
				if err == nil {
					err = l.WaitSynced(wctx, p)
				}
				synced <- err
			}()
			testenv.Eventually(t, "write errors to be counted", func() bool {
				return testutil.ToFloat64(l.metrics.writeErrors) >= 1
			})
			if err := l.Check(); err == nil || !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("Check() while writes fail = %v, want ENOSPC", err)
			}
			select {
			case err := <-synced:
				t.Fatalf("WaitSynced returned %v while the disk was full", err)
			default:
			}
			full.Store(false)
			if err := <-synced; err != nil {
				t.Fatalf("Append or WaitSynced after the disk had room = %v", err)
			}
			if err := l.Check(); err != nil {
				t.Errorf("Check() once the disk had room = %v, want nil", err)
			}
			tl.close()

			l2 := openTest(t, dir, Options{})
			want := slices.Concat(before, during)
			if diff := cmp.Diff(want, replayAll(t, l2.Log), cmpEntries); diff != "" {
				t.Errorf("Replay after the disk had room (-want +got):\n%s", diff)
			}
			for _, kind := range []string{damageEntry, damageTail, damageHeader} {
				if got := testutil.ToFloat64(l2.metrics.corrupt.WithLabelValues(kind)); got != 0 {
					t.Errorf("corrupt_entries_total{kind=%q} = %v, want 0: a failed write left a partial entry", kind, got)
				}
			}
		})
	}
}
