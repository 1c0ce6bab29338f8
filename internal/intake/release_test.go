package intake

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// segmentFiles returns the numbers of the segment files in dir.
func segmentFiles(t *testing.T, dir string) []uint64 {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var nums []uint64
	for _, de := range des {
		if n, ok := parseSegmentName(de.Name()); ok {
			nums = append(nums, n)
		}
	}
	return nums
}

// segmentOf returns the segment that holds entry seq of stream, unreleased.
func segmentOf(t *testing.T, l *Log, stream, seq uint64) uint64 {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.streams[stream]; st != nil {
		for _, s := range st.spans {
			if s.first <= seq && seq <= s.last {
				return s.seg.num
			}
		}
	}
	t.Fatalf("entry %d of stream %d is not in the log", seq, stream)
	return 0
}

func TestReleasePrefix(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: minSegmentBytes, MaxBytes: 1 << 20}
	l := openTest(t, dir, opts)
	s := l.NewStream()
	all := entriesOf(s, 0, 200)
	for i := 0; i < len(all); i += 10 {
		l.appendSynced(all[i : i+10]...)
	}
	files := segmentFiles(t, dir)
	if len(files) < 5 {
		t.Fatalf("%d segment files, want at least 5 (SegmentBytes %d)", len(files), minSegmentBytes)
	}
	// Keep one entry of the second segment: the first goes, the second and all later ones stay.
	var keep uint64
	for seq := range uint64(len(all)) {
		if segmentOf(t, l.Log, s, seq) == files[1] {
			keep = seq
			break
		}
	}
	if err := l.Release([]Run{{s, 0, keep - 1}, {s, keep + 1, uint64(len(all)) - 1}}); err != nil {
		t.Fatalf("Release = %v", err)
	}
	// Released twice, or never appended: ignored.
	if err := l.Release([]Run{{s, 0, 3}, {s + 100, 0, 9}}); err != nil {
		t.Fatalf("Release = %v", err)
	}
	other := l.NewStream()
	extra := entriesOf(other, 0, 1)
	l.appendSynced(extra...) // its round also syncs the release marker, then removes segments
	testenv.Eventually(t, "the first segment to go", func() bool { return !slices.Contains(segmentFiles(t, dir), files[0]) })
	if got := segmentFiles(t, dir); !slices.Contains(got, files[1]) || !slices.Contains(got, files[len(files)-1]) {
		t.Fatalf("segment files %v after releasing all but one entry of %d: want %d and every later one kept",
			got, files[1], files[1])
	}
	l.close()

	l2 := openTest(t, dir, opts)
	want := []Entry{all[keep], extra[0]}
	if diff := cmp.Diff(want, replayAll(t, l2.Log), cmpEntries); diff != "" {
		t.Fatalf("Replay after releasing all but one entry (-want +got):\n%s", diff)
	}
	if got := segmentFiles(t, dir); !slices.Contains(got, files[1]) {
		t.Fatalf("segment files %v after reopen: want %d kept, it holds an unreleased entry", got, files[1])
	}
	if err := l2.Release([]Run{{s, keep, keep}, {other, 0, 0}}); err != nil {
		t.Fatalf("Release = %v", err)
	}
	l2.appendSynced(entriesOf(l2.NewStream(), 0, 1)...)
	testenv.Eventually(t, "every recovered segment to go", func() bool { return len(segmentFiles(t, dir)) == 1 })
	l2.close()

	l3 := openTest(t, dir, opts)
	if got := replayAll(t, l3.Log); len(got) != 1 {
		t.Errorf("Replay after releasing everything but one entry returned %d entries, want 1", len(got))
	}
}

func TestReleaseSplitsRuns(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, Options{})
	s := l.NewStream()
	all := entriesOf(s, 0, 20)
	l.appendSynced(all...)
	// Out of order and overlapping, as record workers finish.
	for _, r := range []Run{{s, 5, 7}, {s, 12, 12}, {s, 0, 1}, {s, 6, 9}, {s, 19, 25}} {
		if err := l.Release([]Run{r}); err != nil {
			t.Fatalf("Release(%v) = %v", r, err)
		}
	}
	l.close()
	l2 := openTest(t, dir, Options{})
	var want []Entry
	for _, seq := range []int{2, 3, 4, 10, 11, 13, 14, 15, 16, 17, 18} {
		want = append(want, all[seq])
	}
	if diff := cmp.Diff(want, replayAll(t, l2.Log), cmpEntries); diff != "" {
		t.Errorf("Replay after partial releases (-want +got):\n%s", diff)
	}
	l2.mu.Lock()
	unreleased := l2.segs[0].unreleased
	l2.mu.Unlock()
	if unreleased != int64(len(want)) {
		t.Errorf("recovered segment counts %d unreleased entries, want %d", unreleased, len(want))
	}
}

func TestAppendErrors(t *testing.T) {
	l := openTest(t, t.TempDir(), Options{MaxBytes: 1 << 20})
	s := l.NewStream()
	l.appendSynced(entriesOf(s, 5, 2)...)
	huge := entriesOf(s, 10, 1)
	huge[0].Message = make([]byte, MaxEntryBytes)
	tests := []struct {
		name    string
		entries []Entry
		want    error
	}{
		{"seq not above the stream's last", entriesOf(s, 6, 1), ErrOrder},
		{"seq repeated in the batch", append(entriesOf(s, 7, 2), entriesOf(s, 8, 1)...), ErrOrder},
		{"stream back later in the batch", slices.Concat(entriesOf(s, 7, 1), entriesOf(s+1, 0, 1), entriesOf(s, 7, 1)), ErrOrder},
		{"message too large", huge, ErrTooLarge},
		{"batch too large for the cap", slices.Repeat(entriesOf(s, 7, 1), 3000), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := l.Bytes()
			if _, err := l.Append(context.Background(), batchOf(tt.entries)); !errors.Is(err, tt.want) {
				t.Errorf("Append = %v, want %v", err, tt.want)
			}
			if got := l.Bytes(); got != before {
				t.Errorf("Bytes after a refused Append = %d, want %d", got, before)
			}
		})
	}
	if _, err := Open(l.dir, Options{}); !errors.Is(err, ErrInUse) {
		t.Errorf("second Open of the same directory = %v, want %v", err, ErrInUse)
	}
	l.close()
	if _, err := l.Append(context.Background(), batchOf(entriesOf(s, 9, 1))); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want %v", err, ErrClosed)
	}
}
