package upload

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/spool"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// Firehose's limits (package firehose), which the tests' destinations have unless a test says
// otherwise.
const (
	maxBatchRecords = 500
	maxBatchBytes   = 4_000_000
	maxRecordBytes  = 1_024_000
)

// firehoseLike gives a test's destination Firehose's limits (or limits of its own) and the
// methods of a Destination that an Uploader does not call.
type firehoseLike struct{ limits *Limits }

func (f firehoseLike) Limits() Limits {
	if f.limits != nil {
		return *f.limits
	}
	return Limits{MaxRecords: maxBatchRecords, MaxBatchBytes: maxBatchBytes, MaxRecordBytes: maxRecordBytes}
}

func (firehoseLike) Owner(context.Context) (string, error) { return "123456789012", nil }
func (firehoseLike) Run(context.Context) error             { return nil }
func (firehoseLike) Close(context.Context) error           { return nil }

// fakeDest is a Destination whose answers a test writes as a function.
type fakeDest struct {
	firehoseLike
	put func(ctx context.Context, records [][]byte) ([]Result, error)
}

func (f fakeDest) Put(ctx context.Context, records [][]byte) ([]Result, error) {
	return f.put(ctx, records)
}

var _ Destination = fakeDest{}

// fast are options for tests: retries at once, no interval unless a test sets one.
var fast = Options{Interval: time.Hour, RetryBase: time.Microsecond, RetryMax: time.Millisecond}

// newSpool opens a spool in a fresh directory for the length of the test.
func newSpool(t testing.TB) *spool.Spool {
	t.Helper()
	return openSpool(t, t.TempDir())
}

func openSpool(t testing.TB, dir string) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// gz returns a gzip member holding a record whose one event's message is payload: a spool checks
// that the files an earlier run left are records.
func gz(t testing.TB, payload string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	fmt.Fprintf(zw, `{"owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["g"],`+
		`"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":%q}]}`, payload)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sized returns a valid gzip member of exactly n bytes, different for each seed. Its data is
// stored, not compressed, so its size is known, and the header's Extra field pads it to n.
func sized(t testing.TB, n int, seed uint64) []byte {
	t.Helper()
	payload := make([]byte, n-200-5*(n/65535+2))
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	rand.NewChaCha8(key).Read(payload)
	build := func(extra int) []byte {
		var b bytes.Buffer
		zw, err := gzip.NewWriterLevel(&b, gzip.NoCompression)
		if err != nil {
			t.Fatal(err)
		}
		zw.Extra = make([]byte, extra)
		zw.Write(payload)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	r := build(n - len(build(0)))
	if len(r) != n {
		t.Fatalf("sized(%d) made %d bytes", n, len(r))
	}
	return r
}

// write spools records.
func write(t testing.TB, s *spool.Spool, records ...[]byte) {
	t.Helper()
	for _, r := range records {
		if err := s.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

// writeConcurrently spools records from several goroutines, as record workers do, which lets
// their fsyncs overlap.
func writeConcurrently(t testing.TB, s *spool.Spool, records [][]byte) {
	t.Helper()
	const writers = 8
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < len(records); i += writers {
				if err := s.Write(context.Background(), records[i]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// run starts u.Run for the length of the test.
func run(t testing.TB, u *Uploader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
}

func delivered(ids ...string) []Result {
	out := make([]Result, len(ids))
	for i, id := range ids {
		out[i] = Result{RecordID: id}
	}
	return out
}

func TestPrefix(t *testing.T) {
	entries := func(sizes ...int64) []spool.Entry {
		out := make([]spool.Entry, len(sizes))
		for i, s := range sizes {
			out[i] = spool.Entry{Seq: uint64(i + 1), Size: s}
		}
		return out
	}
	repeat := func(n int, size int64) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = size
		}
		return out
	}
	tests := []struct {
		name     string
		sizes    []int64
		maxBytes int64
		wantLen  int
		wantFull bool
	}{
		{"499 records wait", repeat(499, 100), maxBatchBytes, 499, false},
		{"500 records are full", repeat(500, 100), maxBatchBytes, 500, true},
		{"500 records of 501 are full", repeat(501, 100), maxBatchBytes, 500, true},
		{"exactly 4,000,000 bytes with nothing behind wait", repeat(4, 1_000_000), maxBatchBytes, 4, false},
		{"exactly 4,000,000 bytes with a record behind are full", repeat(5, 1_000_000), maxBatchBytes, 4, true},
		{"one byte over", []int64{1_000_000, 1_000_000, 1_000_000, 1_000_001}, maxBatchBytes, 3, true},
		{"record too large for any call goes alone", []int64{maxBatchBytes + 1, 10}, maxBatchBytes, 1, true},
		{"a smaller window", repeat(5, 1_000_000), 2_500_000, 2, true},
		{"a window smaller than a record takes one", repeat(5, 1_000_000), 1, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, full := prefix(entries(tt.sizes...), func(e spool.Entry) int64 { return e.Size }, tt.maxBytes, maxBatchRecords)
			if n != tt.wantLen || full != tt.wantFull {
				t.Errorf("prefix(%d bytes) = %d records, full %t; want %d, %t", tt.maxBytes, n, full, tt.wantLen, tt.wantFull)
			}
		})
	}
}

// TestOutcomes drives one batch of ten records through scripted answers and checks each call and
// that no record leaves the spool before its RecordId.
func TestOutcomes(t *testing.T) {
	type answer func(names []string) ([]Result, error)
	all := func(names []string) ([]Result, error) { return delivered(names...), nil }
	refuse := func(refused ...string) answer {
		return func(names []string) ([]Result, error) {
			out := delivered(names...)
			for i, n := range names {
				if slices.Contains(refused, n) {
					out[i] = Result{ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down."}
				}
			}
			return out, nil
		}
	}
	callError := func([]string) ([]Result, error) {
		return nil, &smithy.GenericAPIError{Code: "ServiceUnavailableException", Message: "Slow down."}
	}
	tooLargeAbove := func(n int) answer {
		return func(names []string) ([]Result, error) {
			if len(names) > n {
				return nil, fmt.Errorf("sink: %w", ErrBatchTooLarge)
			}
			return delivered(names...), nil
		}
	}
	names := func(first, last int) []string {
		var out []string
		for i := first; i <= last; i++ {
			out = append(out, fmt.Sprint("r", i))
		}
		return out
	}
	tests := []struct {
		name            string
		records         int
		answers         []answer // one per call; the last repeats
		wantCalls       [][]string
		wantQuarantined int
	}{
		{
			name:      "all delivered",
			records:   10,
			answers:   []answer{all},
			wantCalls: [][]string{names(0, 9)},
		},
		{
			name:      "partial failure resends only the refused records",
			records:   10,
			answers:   []answer{refuse("r1", "r3", "r8"), refuse("r3"), all},
			wantCalls: [][]string{names(0, 9), {"r1", "r3", "r8"}, {"r3"}},
		},
		{
			name:      "call error resends the batch",
			records:   10,
			answers:   []answer{callError, callError, all},
			wantCalls: [][]string{names(0, 9), names(0, 9), names(0, 9)},
		},
		{
			name:    "fewer results than records is a call error",
			records: 10,
			answers: []answer{
				func(n []string) ([]Result, error) { return delivered(n[:9]...), nil },
				all,
			},
			wantCalls: [][]string{names(0, 9), names(0, 9)},
		},
		{
			name:      "batch too large is split in halves",
			records:   10,
			answers:   []answer{tooLargeAbove(3)},
			wantCalls: [][]string{names(0, 9), names(0, 4), names(0, 1), names(2, 4), names(5, 9), names(5, 6), names(7, 9)},
		},
		{
			name:    "refused records of split halves are resent together",
			records: 4,
			answers: []answer{
				tooLargeAbove(2),
				refuse("r1"),
				refuse("r2"),
				all,
			},
			wantCalls: [][]string{names(0, 3), names(0, 1), names(2, 3), {"r1", "r2"}},
		},
		{
			name:            "a single record too large is quarantined",
			records:         1,
			answers:         []answer{tooLargeAbove(0)},
			wantCalls:       [][]string{{"r0"}},
			wantQuarantined: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSpool(t)
			name := make(map[string]string)
			for i := range tt.records {
				r := gz(t, fmt.Sprint("r", i))
				name[string(r)] = fmt.Sprint("r", i)
				write(t, s, r)
			}
			var (
				mu    sync.Mutex
				calls [][]string
				acked = make(map[string]int)
			)
			sink := fakeDest{put: func(_ context.Context, records [][]byte) ([]Result, error) {
				mu.Lock()
				defer mu.Unlock()
				var names []string
				for _, r := range records {
					names = append(names, name[string(r)])
				}
				if got, want := s.Len(), tt.records-len(acked); got != want {
					t.Errorf("call %d: spool holds %d records, want %d (all but the acknowledged)", len(calls)+1, got, want)
				}
				answer := tt.answers[min(len(calls), len(tt.answers)-1)]
				calls = append(calls, names)
				results, err := answer(names)
				if err == nil && len(results) == len(names) {
					for i, r := range results {
						if r.Delivered() {
							acked[names[i]]++
						}
					}
				}
				return results, err
			}}
			u := New(s, sink, fast)
			if err := u.Flush(context.Background()); err != nil {
				t.Fatalf("Flush() = %v", err)
			}
			if diff := cmp.Diff(tt.wantCalls, calls); diff != "" {
				t.Errorf("calls differ (-want +got):\n%s", diff)
			}
			for n, times := range acked {
				if times != 1 {
					t.Errorf("%s acknowledged %d times, want once", n, times)
				}
			}
			if got := s.Len(); got != 0 {
				t.Errorf("spool holds %d records after Flush, want 0", got)
			}
			quarantined, _ := os.ReadDir(filepath.Join(s.Dir(), spool.QuarantineDir))
			if len(quarantined) != tt.wantQuarantined {
				t.Errorf("%d records quarantined, want %d", len(quarantined), tt.wantQuarantined)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	s := newSpool(t)
	write(t, s, gz(t, "a"), gz(t, "b"))
	reg := prometheus.NewRegistry()
	calls := 0
	sink := fakeDest{put: func(_ context.Context, records [][]byte) ([]Result, error) {
		calls++
		switch calls {
		case 1:
			return nil, &net.OpError{Op: "dial", Err: errors.New("connection refused")}
		case 2:
			return []Result{{RecordID: "1"}, {ErrorCode: "InternalFailure"}}, nil
		}
		return delivered("2"), nil
	}}
	opts := fast
	opts.Registerer = reg
	u := New(s, sink, opts)
	if err := u.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := u.metrics
	for _, c := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"delivered records", m.deliveredRecords, 2},
		{"delivered bytes", m.deliveredBytes, float64(len(gz(t, "a")) + len(gz(t, "b")))},
		{"failed InternalFailure", m.failedRecords.WithLabelValues("InternalFailure"), 1},
		{"call errors NetworkError", m.callErrors.WithLabelValues("NetworkError"), 1},
		{"calls error", m.calls.WithLabelValues(outcomeError), 1},
		{"calls partial", m.calls.WithLabelValues(outcomePartial), 1},
		{"calls ok", m.calls.WithLabelValues(outcomeOK), 1},
		{"retried records", m.retries, 3},
	} {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Errorf("GatherAndCount() = %d, %v; want registered metrics", n, err)
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"AWS error code", fmt.Errorf("put: %w", &smithy.GenericAPIError{Code: "ThrottlingException"}), "ThrottlingException"},
		{"deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), "Timeout"},
		{"refused connection", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, "NetworkError"},
		{"anything else", errors.New("boom"), "Unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorCode(tt.err); got != tt.want {
				t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// recorder is a Destination that accepts everything and remembers each call's record count.
type recorder struct {
	firehoseLike
	mu      sync.Mutex
	calls   []int
	records map[string]int
}

func (r *recorder) Put(_ context.Context, records [][]byte) ([]Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.records == nil {
		r.records = make(map[string]int)
	}
	r.calls = append(r.calls, len(records))
	out := make([]Result, len(records))
	for i, rec := range records {
		r.records[string(rec)]++
		out[i] = Result{RecordID: fmt.Sprint(len(r.records))}
	}
	return out, nil
}

func (r *recorder) callSizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func TestFullBatchSentAtOnce(t *testing.T) {
	tests := []struct {
		name    string
		records func(t testing.TB) [][]byte
		want    []int // calls before Flush
		after   []int // calls of Flush
	}{
		{
			name: "500 records",
			records: func(t testing.TB) [][]byte {
				var out [][]byte
				for i := range maxBatchRecords + 3 {
					out = append(out, gz(t, fmt.Sprint(i)))
				}
				return out
			},
			want:  []int{500},
			after: []int{3},
		},
		{
			name: "4,000,000 bytes",
			records: func(t testing.TB) [][]byte {
				var out [][]byte
				for i := range 5 {
					out = append(out, sized(t, 1_000_000, uint64(i)))
				}
				return out
			},
			want:  []int{4},
			after: []int{1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSpool(t)
			sink := &recorder{}
			u := New(s, sink, fast)
			run(t, u)
			records := tt.records(t)
			writeConcurrently(t, s, records)
			// The interval is an hour: only a full batch is sent before Flush.
			testenv.Eventually(t, "a full batch", func() bool { return len(sink.callSizes()) == len(tt.want) })
			if got := sink.callSizes(); !cmp.Equal(got, tt.want) {
				t.Errorf("calls before Flush = %v, want %v", got, tt.want)
			}
			if err := u.Flush(context.Background()); err != nil {
				t.Fatalf("Flush() = %v", err)
			}
			if got, want := sink.callSizes(), append(tt.want, tt.after...); !cmp.Equal(got, want) {
				t.Errorf("calls = %v, want %v", got, want)
			}
			for _, r := range records {
				if n := sink.records[string(r)]; n != 1 {
					t.Errorf("record delivered %d times, want once", n)
				}
			}
		})
	}
}

// TestDestinationLimits checks that calls and records are bounded by the destination's Limits, not
// by Firehose's: a destination that takes fewer records or bytes per call gets smaller calls, and
// a record larger than it takes is quarantined.
func TestDestinationLimits(t *testing.T) {
	records := func(t testing.TB, sizes ...int) [][]byte {
		out := make([][]byte, len(sizes))
		for i, n := range sizes {
			out[i] = sized(t, n, uint64(i))
		}
		return out
	}
	tests := []struct {
		name            string
		limits          Limits
		sizes           []int
		want            []int // records per call, largest first: calls may run at once
		wantQuarantined int   // the last records
	}{
		{name: "records per call", limits: Limits{MaxRecords: 3, MaxBatchBytes: maxBatchBytes, MaxRecordBytes: maxRecordBytes},
			sizes: []int{1000, 1000, 1000, 1000, 1000, 1000, 1000}, want: []int{3, 3, 1}},
		{name: "bytes per call", limits: Limits{MaxRecords: maxBatchRecords, MaxBatchBytes: 5000, MaxRecordBytes: 3000},
			sizes: []int{2000, 2000, 2000, 2000, 2000}, want: []int{2, 2, 1}},
		{name: "bytes per record", limits: Limits{MaxRecords: maxBatchRecords, MaxBatchBytes: 10_000, MaxRecordBytes: 3000},
			sizes: []int{2000, 2000, 3001}, want: []int{2}, wantQuarantined: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSpool(t)
			dest := &recorder{firehoseLike: firehoseLike{limits: &tt.limits}}
			records := records(t, tt.sizes...)
			write(t, s, records...)
			if err := New(s, dest, fast).Flush(context.Background()); err != nil {
				t.Fatalf("Flush() = %v", err)
			}
			got := dest.callSizes()
			slices.SortFunc(got, func(a, b int) int { return b - a })
			if !cmp.Equal(got, tt.want) {
				t.Errorf("records per call = %v, want %v", got, tt.want)
			}
			for i, r := range records {
				want := 1
				if i >= len(records)-tt.wantQuarantined {
					want = 0
				}
				if n := dest.records[string(r)]; n != want {
					t.Errorf("record %d (%d bytes) delivered %d times, want %d", i, len(r), n, want)
				}
			}
			quarantined, _ := os.ReadDir(filepath.Join(s.Dir(), spool.QuarantineDir))
			if len(quarantined) != tt.wantQuarantined {
				t.Errorf("%d records quarantined, want %d", len(quarantined), tt.wantQuarantined)
			}
		})
	}
}

func TestRecordsOfPreviousRunSentOnStart(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, gz(t, "a"), gz(t, "b"), gz(t, "c"))
	s.Close(context.Background())

	s = openSpool(t, dir)
	sink := &recorder{}
	run(t, New(s, sink, fast)) // an hour's interval: only the start can send them
	testenv.Eventually(t, "the records of the previous run to be delivered", func() bool { return s.Len() == 0 })
	if got, want := sink.callSizes(), []int{3}; !cmp.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
}

func TestIntervalSendsPartialBatch(t *testing.T) {
	s := newSpool(t)
	sink := &recorder{}
	opts := fast
	opts.Interval = 10 * time.Millisecond
	run(t, New(s, sink, opts))
	write(t, s, gz(t, "a"), gz(t, "b"))
	testenv.Eventually(t, "a partial batch to be sent by the interval", func() bool { return s.Len() == 0 })
}

// TestSpoolFullSendsPartialBatch checks that records are sent without waiting for a full batch
// or the interval while a writer waits for room: a full disk may hold fewer records than make a
// full batch, and nothing else would free it.
func TestSpoolFullSendsPartialBatch(t *testing.T) {
	r := gz(t, "capped")
	s, err := spool.Open(t.TempDir(), spool.Options{MaxBytes: 2 * int64(len(r))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	sink := &recorder{}
	run(t, New(s, sink, fast)) // an hour's interval
	write(t, s, r, r)
	// The third write waits for room, which only the delivery of the first two makes.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Write(ctx, r); err != nil {
		t.Fatalf("Write() at the cap = %v: the records of the full spool were not sent", err)
	}
	if got, want := sink.callSizes(), []int{2}; !cmp.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
}

func TestQuarantineUndeliverable(t *testing.T) {
	dir := t.TempDir()
	earlier := openSpool(t, dir)
	good := gz(t, "good")
	tooLarge := sized(t, maxRecordBytes+1, 1)
	write(t, earlier, tooLarge, []byte("not gzip"), good)
	// The spool checks the records an earlier run left, which a crash may have damaged.
	if err := earlier.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := openSpool(t, dir)
	sink := &recorder{}
	if err := New(s, sink, fast).Flush(context.Background()); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	if got, want := sink.records, map[string]int{string(good): 1}; !cmp.Equal(got, want) {
		t.Errorf("delivered %d records, want only the good one", len(got))
	}
	quarantined, _ := os.ReadDir(filepath.Join(s.Dir(), spool.QuarantineDir))
	if len(quarantined) != 2 {
		t.Errorf("%d records quarantined, want 2", len(quarantined))
	}
}

func TestFlush(t *testing.T) {
	t.Run("empty spool", func(t *testing.T) {
		u := New(newSpool(t), fakeDest{put: func(context.Context, [][]byte) ([]Result, error) {
			t.Error("PutRecordBatch called with an empty spool")
			return nil, nil
		}}, fast)
		if err := u.Flush(context.Background()); err != nil {
			t.Errorf("Flush() = %v", err)
		}
	})
	t.Run("while Run runs", func(t *testing.T) {
		s := newSpool(t)
		sink := &recorder{}
		u := New(s, sink, fast)
		run(t, u)
		write(t, s, gz(t, "a"), gz(t, "b"), gz(t, "c"))
		if err := u.Flush(context.Background()); err != nil {
			t.Fatalf("Flush() = %v", err)
		}
		if got := s.Len(); got != 0 {
			t.Errorf("spool holds %d records after Flush, want 0", got)
		}
		if got := len(sink.records); got != 3 {
			t.Errorf("%d records delivered, want 3", got)
		}
	})
	t.Run("bounded by its context", func(t *testing.T) {
		s := newSpool(t)
		write(t, s, gz(t, "a"), gz(t, "b"))
		hang := fakeDest{put: func(ctx context.Context, _ [][]byte) ([]Result, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := New(s, hang, fast).Flush(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Flush() = %v, want context.DeadlineExceeded", err)
		}
		if got := s.Len(); got != 2 {
			t.Errorf("spool holds %d records, want 2 kept for the next start", got)
		}
	})
	t.Run("Run refused while Flush runs", func(t *testing.T) {
		s := newSpool(t)
		write(t, s, gz(t, "a"))
		entered := make(chan struct{})
		release := make(chan struct{})
		u := New(s, fakeDest{put: func(_ context.Context, r [][]byte) ([]Result, error) {
			close(entered)
			<-release
			return delivered("1"), nil
		}}, fast)
		done := make(chan error, 1)
		go func() { done <- u.Flush(context.Background()) }()
		<-entered
		if err := u.Run(context.Background()); err == nil {
			t.Error("Run() during Flush = nil, want an error")
		}
		close(release)
		if err := <-done; err != nil {
			t.Errorf("Flush() = %v", err)
		}
	})
}

// TestConcurrentCalls checks under faults that calls stay within Concurrency, that no record is
// in two calls at once and that every record is acknowledged exactly once. Run it with -race.
func TestConcurrentCalls(t *testing.T) {
	const concurrency, writers, perWriter = 3, 4, 100
	s := newSpool(t)
	var (
		mu       sync.Mutex
		rng      = rand.New(rand.NewPCG(1, 2))
		inflight = make(map[string]bool)
		calls    int
		maxCalls int
		acked    = make(map[string]int)
	)
	sink := fakeDest{put: func(_ context.Context, records [][]byte) ([]Result, error) {
		mu.Lock()
		calls++
		maxCalls = max(maxCalls, calls)
		for _, r := range records {
			if inflight[string(r)] {
				t.Errorf("record %q in two calls at once", r)
			}
			inflight[string(r)] = true
		}
		throttled := rng.Float64() < 0.3
		results := make([]Result, len(records))
		for i, r := range records {
			if rng.Float64() < 0.3 {
				results[i] = Result{ErrorCode: "ServiceUnavailableException"}
				continue
			}
			results[i] = Result{RecordID: "id"}
			if !throttled {
				acked[string(r)]++
			}
		}
		mu.Unlock()
		// Let other calls overlap this one.
		runtime.Gosched()
		mu.Lock()
		defer mu.Unlock()
		calls--
		for _, r := range records {
			delete(inflight, string(r))
		}
		if throttled {
			return nil, &smithy.GenericAPIError{Code: "ServiceUnavailableException"}
		}
		return results, nil
	}}
	opts := fast
	opts.Concurrency = concurrency
	u := New(s, sink, opts)
	run(t, u)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := s.Write(context.Background(), gz(t, fmt.Sprint(w, "/", i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := u.Flush(context.Background()); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) != writers*perWriter {
		t.Errorf("%d records acknowledged, want %d", len(acked), writers*perWriter)
	}
	for r, n := range acked {
		if n != 1 {
			t.Errorf("record %q acknowledged %d times, want once", r, n)
		}
	}
	if maxCalls > concurrency {
		t.Errorf("%d calls in flight at once, want at most %d", maxCalls, concurrency)
	}
}

// TestCheckStalled checks that Check reports the destination stalled once records wait and
// nothing is delivered for StallTimeout, and delivering again after it answers.
func TestCheckStalled(t *testing.T) {
	s := newSpool(t)
	var down atomic.Bool
	down.Store(true)
	dest := fakeDest{put: func(_ context.Context, records [][]byte) ([]Result, error) {
		if down.Load() {
			return nil, errors.New("service unavailable")
		}
		ids := make([]string, len(records))
		for i := range ids {
			ids[i] = fmt.Sprint(i)
		}
		return delivered(ids...), nil
	}}
	opts := fast
	opts.StallTimeout = 50 * time.Millisecond
	opts.Interval = 10 * time.Millisecond
	u := New(s, dest, opts)
	if err := u.Check(); err != nil {
		t.Errorf("Check() with an empty spool = %v, want nil", err)
	}
	run(t, u)
	write(t, s, gz(t, "a"), gz(t, "b"))
	testenv.Eventually(t, "Check to report the destination stalled", func() bool { return u.Check() != nil })
	if err := u.Check(); !strings.Contains(err.Error(), "while 2 wait") {
		t.Errorf("Check() = %v, want it to say 2 records wait", err)
	}
	down.Store(false)
	testenv.Eventually(t, "Check to pass once records are delivered", func() bool { return u.Check() == nil })
	testenv.Eventually(t, "the spool to be empty", func() bool { return s.Len() == 0 })
}
