package intake

import (
	"context"
	"errors"
	"os"
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
	// The file goes before the directory sync that lets Bytes stop counting it: wait for both.
	testenv.Eventually(t, "the released active segment removed, Bytes() down to a segment header", func() bool {
		files := segmentFiles(t, dir)
		return len(files) == 1 && files[0] > first[0] && l.Bytes() <= int64(segmentHeaderBytes)
	})
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
			_, err := l.Append(ctx, batchOf(entriesOf(l.NewStream(), 0, 10)))
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

// TestDiskShortFlushRequests: while appends wait for disk space, FlushRequests asks at once for
// the batches holding the entries of the oldest pinned segment, here the one appends go to (the
// log is far below half its cap, which alone asked before); once they are released and the disk
// has room, the waiting Append goes through.
func TestDiskShortFlushRequests(t *testing.T) {
	l := openTest(t, t.TempDir(), Options{})
	s := l.NewStream()
	pinning := entriesOf(s, 0, 100)
	l.appendSynced(pinning...)
	l.mu.Lock()
	reserve := l.disk.reserve
	l.disk.reserve = 1 << 60 // more than the disk has
	l.mu.Unlock()
	appended := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testenv.PollTimeout)
		defer cancel()
		_, err := l.Append(ctx, batchOf(entriesOf(s, 100, 1)))
		appended <- err
	}()
	select {
	case got := <-l.FlushRequests():
		if want := pinning[len(pinning)-1].Received; !got.Equal(want) {
			t.Errorf("FlushRequests = %v, want %v, the latest arrival in the pinned segment", got, want)
		}
	case err := <-appended:
		t.Fatalf("Append on a disk under the reserve = %v, want it to wait", err)
	case <-time.After(testenv.PollTimeout):
		t.Fatal("no flush request while appends wait for disk space")
	}
	if err := l.Release([]Run{{Stream: s, First: 0, Last: uint64(len(pinning) - 1)}}); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.disk.reserve = reserve
	l.mu.Unlock()
	if err := <-appended; err != nil {
		t.Errorf("Append once the disk had room = %v, want nil", err)
	}
}

// TestDiskSegmentBytes: Open bounds the segment size to an eighth of the room its disk has above
// the reserve, and at least 1 MiB, so that a small disk gets its space back in steps.
func TestDiskSegmentBytes(t *testing.T) {
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	free, err := freeBytes(d)
	d.Close()
	if err != nil {
		t.Skipf("free space not known here: %v", err)
	}
	const room = 80 << 20
	if free < room+DefaultDiskReserve+DefaultSegmentBytes*diskSegments {
		t.Skipf("%d bytes free: too few to tell the bound from the default", free)
	}
	for _, tc := range []struct {
		name     string
		reserve  int64
		min, max int64 // others share the disk: its free space moves a little
	}{
		{name: "large disk", reserve: 0, min: DefaultSegmentBytes, max: DefaultSegmentBytes},
		{name: "80 MiB of room", reserve: free - room, min: room/diskSegments - 1<<20, max: room/diskSegments + 1<<20},
		{name: "no room", reserve: free, min: minDiskSegmentBytes, max: minDiskSegmentBytes},
		{name: "no reserve", reserve: -1, min: DefaultSegmentBytes, max: DefaultSegmentBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t, t.TempDir(), Options{DiskReserve: tc.reserve})
			if got := l.segmentBytes; got < tc.min || got > tc.max {
				t.Errorf("segment size %d, want %d to %d", got, tc.min, tc.max)
			}
		})
	}
}
