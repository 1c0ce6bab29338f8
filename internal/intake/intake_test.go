package intake

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testLog is a Log with Run running, closed at the end of the test.
type testLog struct {
	*Log
	t    *testing.T
	done chan error
	reg  *prometheus.Registry
}

func openTest(t *testing.T, dir string, opts Options) *testLog {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	tl := runTest(t, l)
	tl.reg = reg
	return tl
}

// runTest runs l, opened by the test (which may set its hooks first), until the test ends.
func runTest(t *testing.T, l *Log) *testLog {
	tl := &testLog{Log: l, t: t, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { tl.done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		tl.close()
	})
	return tl
}

// close closes the log and checks that Run ended without an error.
func (tl *testLog) close() {
	tl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tl.Close(ctx); err != nil {
		tl.t.Errorf("Close = %v", err)
	}
	select {
	case err := <-tl.done:
		if err != nil {
			tl.t.Errorf("Run = %v", err)
		}
		tl.done <- nil // a later close finds Run ended
	case <-ctx.Done():
		tl.t.Errorf("Run did not return after Close")
	}
}

// appendSynced appends entries and waits until they are durable.
func (tl *testLog) appendSynced(entries ...Entry) Position {
	tl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := tl.Append(ctx, batchOf(entries))
	if err != nil {
		tl.t.Fatalf("Append = %v", err)
	}
	if err := tl.WaitSynced(ctx, p); err != nil {
		tl.t.Fatalf("WaitSynced(%d) = %v", p, err)
	}
	return p
}

// replayAll returns what Replay delivers, messages copied.
func replayAll(t *testing.T, l *Log) []Entry { return replayTo(t, l, 0) }

// replayTo returns what Replay up to position upTo delivers, messages copied.
func replayTo(t *testing.T, l *Log, upTo Position) []Entry {
	t.Helper()
	var got []Entry
	err := l.Replay(context.Background(), upTo, func(e Entry) error {
		e.Message = slices.Clone(e.Message)
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatalf("Replay = %v", err)
	}
	return got
}

// entriesOf returns n entries of stream, from seq first on, with varied fields.
func entriesOf(stream, first uint64, n int) []Entry {
	sources := []netip.Addr{
		netip.MustParseAddr("192.0.2.7"),
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("fe80::1%eth0"),
		netip.MustParseAddr("::ffff:198.51.100.1"),
		{},
	}
	es := make([]Entry, n)
	for i := range es {
		seq := first + uint64(i)
		es[i] = Entry{
			Stream:   stream,
			Seq:      seq,
			Source:   sources[int(seq)%len(sources)],
			Port:     uint16(514 + seq%3),
			Format:   uint8(seq % 2),
			Received: time.Unix(1_700_000_000+int64(seq), int64(seq*7919)%1e9),
			Message:  fmt.Appendf(nil, "<13>1 2024-01-01T00:00:00Z host app - - - stream %d message %d", stream, seq),
		}
		es[i].ID[0], es[i].ID[15] = byte(stream), byte(seq)
		es[i].ID[7] = byte(seq >> 8)
	}
	return es
}

var cmpEntries = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, Options{})
	s0, s1 := l.NewStream(), l.NewStream()
	a, b := entriesOf(s0, 0, 50), entriesOf(s1, 0, 30)
	var want []Entry
	// Interleave the streams, in one batch and in several.
	l.appendSynced(append(slices.Clone(a[:10]), b[:10]...)...)
	l.appendSynced(a[10:]...)
	l.appendSynced(b[10:]...)
	want = append(append(append(want, a[:10]...), b[:10]...), a[10:]...)
	want = append(want, b[10:]...)
	l.close()

	l2 := openTest(t, dir, Options{})
	if diff := cmp.Diff(want, replayAll(t, l2.Log), cmpEntries); diff != "" {
		t.Errorf("Replay after reopen (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(l2.metrics.replayed); got != float64(len(want)) {
		t.Errorf("replayed_messages_total = %v, want %d", got, len(want))
	}
	if s := l2.NewStream(); s <= s1 {
		t.Errorf("NewStream after reopen = %d, want above %d", s, s1)
	}
	// Replay again: nothing was released, everything comes back.
	if got := replayAll(t, l2.Log); len(got) != len(want) {
		t.Errorf("second Replay returned %d entries, want %d", len(got), len(want))
	}
}

// TestReplayWhileRunning replays, while the log runs, what an earlier run left and what this run
// appended before a position: not what was released meanwhile, nor what came after the position,
// across segments.
func TestReplayWhileRunning(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, Options{SegmentBytes: minSegmentBytes})
	old := entriesOf(l.NewStream(), 0, 20)
	l.appendSynced(old...)
	l.close()

	l = openTest(t, dir, Options{SegmentBytes: minSegmentBytes})
	s := l.NewStream()
	held := entriesOf(s, 0, 200) // several segments of minSegmentBytes
	for i := 0; i < len(held); i += 10 {
		if _, err := l.Append(context.Background(), batchOf(held[i:i+10])); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Release([]Run{{Stream: s, First: 50, Last: 59}}); err != nil {
		t.Fatal(err)
	}
	upTo := l.Position()
	later := entriesOf(s, 200, 10)
	l.appendSynced(later...)
	if n := l.Segments(); n < 3 {
		t.Fatalf("%d segments, want several for the test to mean something", n)
	}
	want := append(append(slices.Clone(old), held[:50]...), held[60:]...)
	if diff := cmp.Diff(want, replayTo(t, l.Log, upTo), cmpEntries); diff != "" {
		t.Errorf("Replay(upTo) while running (-want +got):\n%s", diff)
	}
	if got := replayTo(t, l.Log, 0); !cmp.Equal(got, old, cmpEntries) {
		t.Errorf("Replay(0) while running gave %d entries, want the %d of the earlier run", len(got), len(old))
	}
}

// batchOf returns a Batch of es, for Append.
func batchOf(es []Entry) *Batch {
	var b Batch
	for i := range es {
		b.Add(&es[i])
	}
	return &b
}
