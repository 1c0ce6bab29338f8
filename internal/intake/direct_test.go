package intake

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// paddedEntries returns n entries of stream from seq first on whose messages grow by 37 bytes
// each, so that rounds end at every offset of a block.
func paddedEntries(stream, first uint64, n int) []Entry {
	es := entriesOf(stream, first, n)
	for i := range es {
		es[i].Message = append(es[i].Message, strings.Repeat("p", int(es[i].Seq*37%1500))...)
	}
	return es
}

// noDamage fails the test when l counted damage of any kind.
func noDamage(t *testing.T, l *Log, what string) {
	t.Helper()
	for _, kind := range []string{damageEntry, damageTail, damageHeader} {
		if got := testutil.ToFloat64(l.metrics.corrupt.WithLabelValues(kind)); got != 0 {
			t.Errorf("%s: corrupt_entries_total{kind=%q} = %v, want 0", what, kind, got)
		}
	}
}

// TestDirectWrites checks what rounds written with O_DIRECT leave in a segment: whole blocks,
// the entries then zeros (padding, and zeroAheadBytes after a small round that grew the file),
// while the log runs; the entries alone once it is closed. One batch is
// larger than a round buffer, which Append then moves: that round is written from a copy, and
// the rounds after it from their buffers again.
func TestDirectWrites(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, Options{SyncInterval: time.Hour})
	s := l.NewStream()
	var want []Entry
	for i := range 12 {
		es := paddedEntries(s, uint64(len(want)), 1+i%4)
		if i == 5 {
			for j := range es[:2] {
				es[j].Message = append(es[j].Message, bytes.Repeat([]byte{'b'}, 3<<20)...)
			}
		}
		want = append(want, es...)
		p := l.appendSynced(es...)
		if !l.direct {
			t.Skipf("the file system of %s does not take O_DIRECT (ramfs, or tmpfs before Linux 6.6): nothing to check", dir)
		}
		// One segment: positions are file offsets. Small rounds are followed by zeros ahead.
		seg, err := os.ReadFile(l.path(l.firstOwn))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(seg); n < roundUp(int(p)) || n > roundUp(int(p))+zeroAheadBytes || n%blockBytes != 0 {
			t.Fatalf("round %d: segment of %d bytes holding %d bytes of records, want them padded to %d, and at most %d bytes of zeros ahead",
				i, n, p, roundUp(int(p)), zeroAheadBytes)
		}
		if j := bytes.IndexFunc(seg[p:], func(r rune) bool { return r != 0 }); j >= 0 {
			t.Fatalf("round %d: byte %d after the records is not zero", i, int(p)+j)
		}
	}
	end := l.Position()
	l.close()
	info, err := os.Stat(l.path(l.firstOwn))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != int64(end) {
		t.Errorf("closed segment of %d bytes, want %d: cut to its records", info.Size(), end)
	}
	l2 := openTest(t, dir, Options{})
	if got := replayAll(t, l2.Log); len(got) != len(want) {
		t.Errorf("Replay returned %d entries, want %d", len(got), len(want))
	} else if i := firstDifferent(want, got); i >= 0 {
		t.Errorf("entry %d replayed as %+v, want %+v", i, got[i], want[i])
	}
	noDamage(t, l2.Log, "reopened")
}

// firstDifferent returns the index of the first entry of got that is not the one of want at
// the same index, compared in their encoding (go-cmp is slow for many points under -race), or -1.
func firstDifferent(want, got []Entry) int {
	var a, b []byte
	for i := range got {
		a, b = appendEntry(a[:0], &want[i]), appendEntry(b[:0], &got[i])
		if !bytes.Equal(a, b) {
			return i
		}
	}
	return -1
}

// snapshot copies the segment files of dir into a new directory and returns it.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	names, err := filepath.Glob(filepath.Join(dir, segmentPrefix+"*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(name)), b, filePerm); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// TestCrashPoints stops the writer, as a kill -9 would, between each of its steps: before and
// after every write (after the file was opened and cut, before the fdatasync), after every sync,
// after Close; the copy of the segment files taken there reopens with every entry synced before
// it, and no damage counted: padding is not damage.
func TestCrashPoints(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{name: "one segment"},
		{name: "rounds across segments", opts: Options{MaxBytes: 1 << 20, SegmentBytes: 16 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.opts.SyncInterval = time.Hour // rounds start for WaitSynced only
			l, err := Open(dir, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			type point struct {
				name    string
				dir     string
				durable int // entries synced before the copy
			}
			var (
				mu      sync.Mutex
				points  []point
				durable atomic.Int64
				writes  int
			)
			snap := func(name string) {
				mu.Lock()
				defer mu.Unlock()
				points = append(points, point{name, snapshot(t, dir), int(durable.Load())})
			}
			l.fileWrite = func(f *os.File, b []byte, off int64) (int, error) {
				writes++
				snap(fmt.Sprintf("before write %d", writes))
				n, err := f.WriteAt(b, off)
				snap(fmt.Sprintf("after write %d", writes))
				return n, err
			}
			tl := runTest(t, l)
			s := l.NewStream()
			var all []Entry
			for i := range 16 {
				es := paddedEntries(s, uint64(len(all)), 1+i%5)
				all = append(all, es...)
				tl.appendSynced(es...)
				durable.Store(int64(len(all)))
				snap(fmt.Sprintf("after sync %d", i))
			}
			tl.close()
			snap("after Close")
			t.Logf("%d writes, %d segments, %d crash points", writes, len(segmentFiles(t, dir)), len(points))
			if tc.opts.SegmentBytes > 0 && len(segmentFiles(t, dir)) < 3 {
				t.Errorf("%d segments, want rounds across several", len(segmentFiles(t, dir)))
			}
			for _, p := range points {
				// Open recovers; Replay needs no Run.
				l, err := Open(p.dir, Options{Registerer: prometheus.NewRegistry()})
				if err != nil {
					t.Fatal(err)
				}
				got := replayAll(t, l)
				if len(got) < p.durable {
					t.Errorf("%s: %d entries replayed, want at least the %d synced", p.name, len(got), p.durable)
				} else if i := firstDifferent(all, got); i >= 0 {
					t.Errorf("%s: entry %d replayed as %+v, want %+v", p.name, i, got[i], all[i])
				}
				noDamage(t, l, p.name)
				if err := l.closeFiles(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestDirectFallback makes the log meet a file system that does not take O_DIRECT, at open
// (tmpfs answers EINVAL) or at a write: it logs so once at Info and goes on through the page
// cache, with no write error and nothing lost.
func TestDirectFallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		// refuse makes direct writes fail with EINVAL.
		refuse bool
	}{{
		// tmpfs takes O_DIRECT since Linux 6.6; ramfs still refuses it at open.
		name: "ramfs refuses O_DIRECT at open",
		dir: func(t *testing.T) string {
			dir := t.TempDir()
			if out, err := exec.Command("mount", "-t", "ramfs", "ramfs", dir).CombinedOutput(); err != nil {
				t.Skipf("cannot mount a ramfs (%v: %s)", err, strings.TrimSpace(string(out)))
			}
			t.Cleanup(func() {
				if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
					t.Errorf("umount %s: %v: %s", dir, err, out)
				}
			})
			return dir
		},
	}, {
		name:   "a direct write fails with EINVAL",
		dir:    func(t *testing.T) string { return t.TempDir() },
		refuse: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			var logs testenv.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			// ramfs counts no free space: no reserve to keep.
			l, err := Open(dir, Options{Logger: logger, SyncInterval: time.Hour, DiskReserve: -1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.refuse {
				l.fileWrite = func(f *os.File, b []byte, off int64) (int, error) {
					if l.direct { // the writer's own state: the hook runs in its goroutine
						return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.EINVAL}
					}
					return f.WriteAt(b, off)
				}
			}
			tl := runTest(t, l)
			s := l.NewStream()
			var want []Entry
			for i := range 5 {
				es := paddedEntries(s, uint64(len(want)), 1+i)
				want = append(want, es...)
				tl.appendSynced(es...)
			}
			if l.direct {
				t.Error("the log still writes with O_DIRECT")
			}
			if got := testutil.ToFloat64(l.metrics.writeErrors); got != 0 {
				t.Errorf("write errors = %v, want 0: a refused O_DIRECT is not a failed write", got)
			}
			tl.close()
			if out := logs.String(); strings.Count(out, "does not take O_DIRECT") != 1 || !strings.Contains(out, "level=INFO") {
				t.Errorf("the fallback logged %d times, want once at Info:\n%s", strings.Count(out, "does not take O_DIRECT"), out)
			}
			l2 := openTest(t, dir, Options{})
			if diff := cmp.Diff(want, replayAll(t, l2.Log), cmpEntries); diff != "" {
				t.Errorf("Replay (-want +got):\n%s", diff)
			}
			noDamage(t, l2.Log, "reopened")
		})
	}
}

// TestSmallRoundsWithinFile checks that small rounds written with O_DIRECT overwrite the zeros
// written ahead of them instead of growing the segment file (whose fdatasync would then commit
// the file system's journal): of 40 rounds, only those that reach past the zeros grow it, and
// the segment reads back whole once closed.
func TestSmallRoundsWithinFile(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var writes, grew int // the writes of entries, and those that grew the file
	l.fileWrite = func(f *os.File, b []byte, off int64) (int, error) {
		info, err := f.Stat()
		if err != nil {
			return 0, err
		}
		if bytes.ContainsFunc(b, func(r rune) bool { return r != 0 }) {
			writes++
			if off+int64(len(b)) > info.Size() {
				grew++
			}
		}
		return f.WriteAt(b, off)
	}
	tl := runTest(t, l)
	if !l.direct {
		t.Skipf("the file system of %s does not take O_DIRECT: nothing to check", dir)
	}
	s := l.NewStream()
	var want []Entry
	for i := range 40 {
		es := paddedEntries(s, uint64(len(want)), 1+i%4)
		want = append(want, es...)
		tl.appendSynced(es...)
	}
	tl.close()
	if writes < 40 || grew > 1+int(tl.Position())/zeroAheadBytes {
		t.Errorf("%d of %d writes of entries grew the segment file, want only the first and those past the zeros", grew, writes)
	}
	l2 := openTest(t, dir, Options{})
	if got := replayAll(t, l2.Log); firstDifferent(want, got) >= 0 || len(got) != len(want) {
		t.Errorf("Replay returned %d entries, want the %d appended", len(got), len(want))
	}
	noDamage(t, l2.Log, "reopened")
}
