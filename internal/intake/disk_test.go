package intake

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestReleasedActiveSegmentRemoved releases every entry of the segment appends go to: the log
// moves on to a new segment and removes the old one, so that its space comes back (before, the
// active segment stayed however much of it was released, and on a disk shared with the spool
// that could be all the space there was). A reopen replays nothing.
func TestReleasedActiveSegmentRemoved(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, Options{})
	s := l.NewStream()
	entries := entriesOf(s, 0, 2000) // about 170 KiB: past rotateBytes
	l.appendSynced(entries...)
	first := segmentFiles(t, dir)
	if len(first) != 1 {
		t.Fatalf("segment files %v, want one", first)
	}
	if err := l.Release([]Run{{Stream: s, First: 0, Last: uint64(len(entries) - 1)}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the released active segment removed", func() bool {
		files := segmentFiles(t, dir)
		return len(files) == 1 && files[0] > first[0]
	})
	if got := l.Bytes(); got > int64(segmentHeaderBytes) {
		t.Errorf("Bytes() = %d once everything was released, want at most a segment header (%d)", got, segmentHeaderBytes)
	}
	l.close()
	l2 := openTest(t, dir, Options{})
	if got := replayAll(t, l2.Log); len(got) != 0 {
		t.Errorf("Replay after reopen = %d entries, want none", len(got))
	}
	if s2 := l2.NewStream(); s2 <= s {
		t.Errorf("NewStream after reopen = %d, want above %d: the new segment's header keeps the count", s2, s)
	}
}

// TestDiskReserve: while the log's disk has less free space than Options.DiskReserve, appends
// wait (an Append with a deadline returns its error), Check says why, and nothing is appended;
// with a reserve the disk has room for, they go on.
func TestDiskReserve(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reserve int64
		short   bool
	}{
		{name: "more than the disk has", reserve: 1 << 60, short: true},
		{name: "none", reserve: -1},
		{name: "default", reserve: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t, t.TempDir(), Options{DiskReserve: tc.reserve})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := l.Append(ctx, entriesOf(l.NewStream(), 0, 10))
			if !tc.short {
				if err != nil {
					t.Fatalf("Append = %v, want nil", err)
				}
				if err := l.Check(); err != nil {
					t.Errorf("Check() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Append on a disk under the reserve = %v, want the deadline's error", err)
			}
			if err := l.Check(); err == nil {
				t.Error("Check() = nil while appends wait for disk space")
			}
			if got := l.Position(); got != Position(segmentHeaderBytes) {
				t.Errorf("Position() = %d after a refused Append, want %d", got, segmentHeaderBytes)
			}
		})
	}
}
