package spread

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// fakeStream is a Stream whose Put is a function: a fake of the small interface for the
// spreading logic; the real SDK against the Firehose test server is tested in package upload.
type fakeStream struct {
	name string
	put  func(records [][]byte) ([]upload.Result, error)

	mu    sync.Mutex
	calls int
}

func (f *fakeStream) Name() string { return f.name }

func (f *fakeStream) Put(_ context.Context, records [][]byte) ([]upload.Result, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	return f.put(records)
}

func (f *fakeStream) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// accept stores every record, its RecordID naming the stream and the record.
func accept(name string) func([][]byte) ([]upload.Result, error) {
	return func(records [][]byte) ([]upload.Result, error) {
		out := make([]upload.Result, len(records))
		for i, r := range records {
			out[i].RecordID = name + ":" + string(r)
		}
		return out, nil
	}
}

// codedError is an error with an AWS error code, as the SDK's are.
type codedError struct{ code string }

func (e codedError) Error() string     { return "api error " + e.code }
func (e codedError) ErrorCode() string { return e.code }

var limits = upload.Limits{MaxRecords: 10, MaxBatchBytes: 1 << 20, MaxRecordBytes: 1000}

func numbered(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "record-%03d", i)
	}
	return out
}

func newSpreader(t *testing.T, o Options, streams ...*fakeStream) *Spreader {
	t.Helper()
	o.Limits = limits
	ss := make([]Stream, len(streams))
	for i, f := range streams {
		ss[i] = f
	}
	s, err := New(ss, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPutSpreadsInOrder checks that a call's records are spread over every stream, in chunks
// within the limits, and answered in the records' order.
func TestPutSpreadsInOrder(t *testing.T) {
	a, b, c := &fakeStream{name: "a"}, &fakeStream{name: "b"}, &fakeStream{name: "c"}
	for _, f := range []*fakeStream{a, b, c} {
		f.put = accept(f.name)
	}
	s := newSpreader(t, Options{}, a, b, c)
	records := numbered(60)
	got, err := s.Put(t.Context(), records)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if _, rec, ok := strings.Cut(r.RecordID, ":"); !ok || rec != string(records[i]) {
			t.Errorf("result %d = %+v, want the RecordID of %q", i, r, records[i])
		}
	}
	for _, f := range []*fakeStream{a, b, c} {
		if n := f.callCount(); n < 2 {
			t.Errorf("stream %s had %d calls of the 6 chunks, want 2 or more", f.name, n)
		}
	}
}

// TestPutFailures checks what Put answers when some or all chunks fail as a whole.
func TestPutFailures(t *testing.T) {
	boom := codedError{"InternalFailure"}
	tests := []struct {
		name      string
		b, c      error // the failures of streams b and c; a fails with boom
		wantErr   error // nil: results, the failed chunks' records refused with wantCode
		wantCode  string
		throttled bool
	}{
		{name: "one stream fails", wantCode: "InternalFailure"},
		{name: "one stream throttles", b: fmt.Errorf("slow down: %w", upload.ErrThrottled), c: nil,
			wantCode: "InternalFailure"},
		{name: "every stream fails", b: boom, c: boom, wantErr: boom},
		{name: "a chunk too large", b: fmt.Errorf("413: %w", upload.ErrBatchTooLarge), c: boom, wantErr: upload.ErrBatchTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fail := func(err error, name string) func([][]byte) ([]upload.Result, error) {
				if err == nil {
					return accept(name)
				}
				return func([][]byte) ([]upload.Result, error) { return nil, err }
			}
			a := &fakeStream{name: "a", put: fail(boom, "a")}
			b := &fakeStream{name: "b", put: fail(tt.b, "b")}
			c := &fakeStream{name: "c", put: fail(tt.c, "c")}
			s := newSpreader(t, Options{}, a, b, c)
			records := numbered(30)
			got, err := s.Put(t.Context(), records)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("Put() = %d results, %v; want no result and %v", len(got), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Put() = %v, want results", err)
			}
			refused := 0
			for i, r := range got {
				switch {
				case r.Delivered():
				case r.ErrorCode == tt.wantCode || r.Throttled && r.ErrorCode != "":
					refused++
				default:
					t.Errorf("result %d = %+v, want delivered or refused with %s", i, r, tt.wantCode)
				}
			}
			if refused == 0 || refused == len(records) {
				t.Errorf("%d of %d records refused, want some", refused, len(records))
			}
		})
	}
}

// TestFailingStreamBackedOff checks that a stream that failed takes no chunk during its backoff
// while the others are healthy, and takes one again once it has passed.
func TestFailingStreamBackedOff(t *testing.T) {
	var healthy sync.Mutex
	failing := true
	b := &fakeStream{name: "b"}
	b.put = func(records [][]byte) ([]upload.Result, error) {
		healthy.Lock()
		defer healthy.Unlock()
		if failing {
			return nil, codedError{"InternalFailure"}
		}
		return accept("b")(records)
	}
	a := &fakeStream{name: "a", put: accept("a")}
	reg := prometheus.NewRegistry()
	s := newSpreader(t, Options{RetryBase: time.Hour, RetryMax: time.Hour, Registerer: reg}, a, b)
	if _, err := s.Put(t.Context(), numbered(20)); err != nil {
		t.Fatal(err)
	}
	failed := b.callCount()
	if failed == 0 {
		t.Fatal("stream b had no call")
	}
	if got := testenv.Metric(t, reg, "kinesyslog_stream_backed_off"); got != 1 {
		t.Errorf("kinesyslog_stream_backed_off = %v, want 1", got)
	}
	for range 5 {
		got, err := s.Put(t.Context(), numbered(20))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range got {
			if !r.Delivered() {
				t.Fatalf("result %d = %+v while a healthy stream takes everything", i, r)
			}
		}
	}
	if n := b.callCount(); n != failed {
		t.Errorf("stream b had %d more calls during its backoff, want none", n-failed)
	}

	// Every stream failing: the uploader's backoff paces them, not the Spreader's.
	a.put = b.put
	for range 2 {
		// The first fails on a, which is then backed off too.
		if _, err := s.Put(t.Context(), numbered(5)); err == nil {
			t.Error("Put() to failing streams = nil error")
		}
	}
	if n := b.callCount(); n == failed {
		t.Error("with every stream failing, stream b was not tried")
	}
}

// TestRateLearned checks the rate a stream learns: it grows after chunks that waited for the
// bucket, is cut at a throttle, once for the chunks given under the same rate, and grows back.
func TestRateLearned(t *testing.T) {
	m := newMetrics(nil)
	now := time.Now()
	p := newPace(&fakeStream{name: "a"}, Options{Limits: limits, InitialRate: 100_000}, m, now)
	chunkOf := func(waited bool) *chunk {
		c := &chunk{pace: p, records: numbered(1), bytes: 10, start: now, epoch: p.epoch, waited: waited}
		return c
	}
	ok := []upload.Result{{RecordID: "x"}}
	throttled := []upload.Result{{ErrorCode: "ServiceUnavailableException", Throttled: true}}

	p.settle(chunkOf(false), ok, nil, false, now)
	if p.rate != 100_000 {
		t.Errorf("rate after a chunk that did not wait = %v, want 100000 still", p.rate)
	}
	p.settle(chunkOf(true), ok, nil, false, now)
	if p.rate <= 100_000 {
		t.Errorf("rate after a clean chunk that waited = %v, want more than 100000", p.rate)
	}
	first, second := chunkOf(true), chunkOf(true) // given under the same rate
	p.settle(first, throttled, nil, false, now)
	cut := p.rate
	// In slow start, the rate before the last growth was clean.
	if want := 100_000 * cutFactor; cut != want {
		t.Errorf("rate after a throttle in slow start = %v, want %v: the rate before the last growth, cut", cut, want)
	}
	p.settle(second, throttled, nil, false, now)
	if p.rate != cut {
		t.Errorf("rate after a second throttle of the same rate = %v, want %v: one cut per congestion", p.rate, cut)
	}
	p.settle(chunkOf(true), nil, fmt.Errorf("x: %w", upload.ErrThrottled), false, now)
	if p.rate >= cut {
		t.Errorf("rate after a call throttled as a whole = %v, want less than %v", p.rate, cut)
	}
	low := p.rate
	for range 50 {
		p.settle(chunkOf(true), ok, nil, false, now)
	}
	if p.rate <= low {
		t.Errorf("rate after 50 clean chunks = %v, want more than %v", p.rate, low)
	}
}

// TestMeasured checks the rate a stream is measured at, between the starts of the chunks it
// sent within measureWindow.
func TestMeasured(t *testing.T) {
	const record = 960_000
	at := func(seconds float64) time.Time {
		return time.Unix(1_000_000, 0).Add(time.Duration(seconds * float64(time.Second)))
	}
	for _, tc := range []struct {
		name    string
		starts  []float64 // seconds, of chunks of one record each
		now     float64
		want    float64
		wantSet bool
	}{
		// A 1 MiB/s stream of records near 1 MB: one chunk every 0.9 s, measured at its rate
		// even with two chunks in the window and now long after the last start.
		{name: "one record a second", starts: []float64{0, 0.9, 1.8}, now: 2.5, want: record / 0.9, wantSet: true},
		{name: "two chunks", starts: []float64{1, 1.8}, now: 2.9, want: record / 0.8, wantSet: true},
		{name: "older than the window left out", starts: []float64{0, 2, 3}, now: 3.5, want: record, wantSet: true},
		{name: "one chunk", starts: []float64{1}, now: 1.5},
		{name: "within measureLeast", starts: []float64{1, 1.2}, now: 1.5},
		{name: "none", now: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPace(&fakeStream{name: "a"}, Options{Limits: limits, InitialRate: 100_000}, newMetrics(nil), at(0))
			for _, s := range tc.starts {
				p.record(at(s), at(s), record)
			}
			got, ok := p.measured(at(tc.now))
			if ok != tc.wantSet || ok && math.Abs(got-tc.want) > 1 {
				t.Errorf("measured() = %v, %v; want %v, %v", got, ok, tc.want, tc.wantSet)
			}
		})
	}
}

// TestNewRefuses checks what New refuses.
func TestNewRefuses(t *testing.T) {
	if _, err := New(nil, Options{Limits: limits}); err == nil {
		t.Error("New() of no stream = nil error")
	}
	if _, err := New([]Stream{&fakeStream{name: "a"}}, Options{}); err == nil {
		t.Error("New() without limits = nil error")
	}
}
