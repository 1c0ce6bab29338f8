package intake

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBatch appends Batches as a listener does, reusing one: a batch that crosses several
// segments, a batch appended twice (refused the second time, the log unchanged), and a batch
// with an entry too large, refused whole until Reset; then everything appended comes back once,
// in order, after a restart.
func TestBatch(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, Options{SegmentBytes: minSegmentBytes})
	s := l.NewStream()
	ctx := context.Background()
	all := entriesOf(s, 0, 300)
	var b Batch
	add := func(es []Entry) {
		b.Reset()
		for i := range es {
			b.Add(&es[i])
		}
	}

	add(all[:200]) // about 20 KB: five segments of minSegmentBytes
	if b.Len() != 200 {
		t.Fatalf("Len = %d, want 200", b.Len())
	}
	if _, err := l.Append(ctx, &b); err != nil {
		t.Fatalf("Append of a batch across segments = %v", err)
	}
	if n := l.Segments(); n < 4 {
		t.Fatalf("%d segments after one batch of %d bytes, want several for the test to mean something", n, b.Bytes())
	}
	before := l.Bytes()
	if _, err := l.Append(ctx, &b); !errors.Is(err, ErrOrder) {
		t.Errorf("Append of the same batch again = %v, want %v", err, ErrOrder)
	}
	if got := l.Bytes(); got != before {
		t.Errorf("Bytes after a refused Append = %d, want %d", got, before)
	}

	huge := slices.Clone(all[200:202])
	huge[1].Message = make([]byte, MaxEntryBytes)
	add(huge)
	if _, err := l.Append(ctx, &b); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append of a batch with an entry too large = %v, want %v", err, ErrTooLarge)
	}
	if got := l.Bytes(); got != before {
		t.Errorf("Bytes after a refused Append = %d, want %d", got, before)
	}

	add(all[200:])
	p, err := l.Append(ctx, &b)
	if err != nil {
		t.Fatalf("Append after Reset = %v", err)
	}
	if err := l.WaitSynced(ctx, p); err != nil {
		t.Fatal(err)
	}
	l.close()

	l2 := openTest(t, dir, Options{})
	if diff := cmp.Diff(all, replayAll(t, l2.Log), cmpEntries); diff != "" {
		t.Errorf("Replay after reopen (-want +got):\n%s", diff)
	}
}
