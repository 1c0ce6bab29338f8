package spread

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/ratelog"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// Defaults used when an Options field is zero.
const (
	// DefaultInitialRate is the rate, in bytes per second, a stream starts at: the smallest
	// Direct PUT quota of a Firehose stream (1 MiB/s in most regions), which a stream of a
	// larger quota outgrows within a few calls.
	DefaultInitialRate = 1 << 20
	// DefaultRetryBase and DefaultRetryMax bound the backoff of a failing stream.
	DefaultRetryBase = time.Second
	DefaultRetryMax  = 30 * time.Second
)

// A Stream is one of the streams a Spreader spreads records over. Its Put has the contract of
// upload.Destination's, and wraps upload.ErrThrottled when the service refused the call for a
// throughput quota, and sets upload.Result.Throttled for each record refused for one.
type Stream interface {
	// Name names the stream in logs and in the metrics' stream label.
	Name() string
	Put(ctx context.Context, records [][]byte) ([]upload.Result, error)
}

// Options configures a Spreader. Only Limits is required.
type Options struct {
	// Limits are what one call of a stream may carry; a chunk never holds more.
	Limits upload.Limits
	// InitialRate is the rate, in bytes per second, each stream starts at; 0 means
	// DefaultInitialRate.
	InitialRate int
	// RetryBase and RetryMax bound the backoff of a failing stream; 0 means DefaultRetryBase and
	// DefaultRetryMax.
	RetryBase time.Duration
	RetryMax  time.Duration
	// Logger receives a warning, at a limited rate, when a stream fails; nil discards them.
	Logger *slog.Logger
	// LogInterval is the least time between two log lines about the same stream; 0 means
	// ratelog.DefaultInterval.
	LogInterval time.Duration
	// Registerer registers the per-stream metrics; nil means no metrics.
	Registerer prometheus.Registerer
}

// A Spreader spreads the records of each Put over its streams. Create it with New. It is safe
// for concurrent use.
type Spreader struct {
	limits  upload.Limits
	limited *ratelog.Logger

	mu      sync.Mutex
	streams []*pace
	next    int // the stream preferred among those that can send as soon
}

// New returns a Spreader of streams, at least one, which it calls concurrently.
func New(streams []Stream, o Options) (*Spreader, error) {
	if len(streams) == 0 {
		return nil, errors.New("spread: no stream")
	}
	l := o.Limits
	if l.MaxRecords <= 0 || l.MaxBatchBytes <= 0 || l.MaxRecordBytes <= 0 {
		return nil, fmt.Errorf("spread: limits %+v: every one must be positive", l)
	}
	if o.InitialRate <= 0 {
		o.InitialRate = DefaultInitialRate
	}
	if o.RetryBase <= 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := newMetrics(o.Registerer)
	s := &Spreader{limits: l, limited: ratelog.New(logger, o.LogInterval)}
	now := time.Now()
	for _, st := range streams {
		s.streams = append(s.streams, newPace(st, o, m, now))
	}
	return s, nil
}

// A chunk is the records of a Put given to one stream.
type chunk struct {
	pace      *pace
	records   [][]byte
	results   []upload.Result // the Put's, for these records
	bytes     int
	start     time.Time // when the stream's bucket holds the chunk
	epoch     uint64    // the stream's epoch when the chunk was given to it
	waited    bool      // the chunk had to wait for the bucket
	exclusive bool      // the chunk probes a failing stream
	err       error
}

// Put sends records, cut into chunks each given to the stream that can send it soonest, and
// returns one Result per record, in order. It returns an error only when every chunk failed as
// a whole: the first error, or one that wraps upload.ErrBatchTooLarge when a chunk was refused
// for its size. Records of a chunk that failed while others were answered get the error's code
// (upload.ErrorCode) and message, and Throttled when it was upload.ErrThrottled.
func (s *Spreader) Put(ctx context.Context, records [][]byte) ([]upload.Result, error) {
	results := make([]upload.Result, len(records))
	var chunks []*chunk
	var wg sync.WaitGroup
	for i := 0; i < len(records); {
		c, wait := s.reserve(records[i:], time.Now())
		if c == nil {
			if sleep(ctx, wait) != nil {
				// The rest was never given to a stream.
				chunks = append(chunks, &chunk{records: records[i:], results: results[i:], err: ctx.Err()})
				break
			}
			continue
		}
		c.results = results[i : i+len(c.records)]
		chunks = append(chunks, c)
		i += len(c.records)
		wg.Go(func() { c.err = s.send(ctx, c) })
	}
	wg.Wait()

	var failed error
	answered := false
	for _, c := range chunks {
		switch {
		case c.err == nil:
			answered = true
		case failed == nil || errors.Is(c.err, upload.ErrBatchTooLarge) && !errors.Is(failed, upload.ErrBatchTooLarge):
			failed = c.err
		}
	}
	if !answered {
		return nil, failed
	}
	for _, c := range chunks {
		if c.err == nil {
			continue
		}
		// A chunk never given to a stream failed too: its records go again.
		for i := range c.results {
			c.results[i] = upload.Result{ErrorCode: upload.ErrorCode(c.err), ErrorMessage: c.err.Error(),
				Throttled: errors.Is(c.err, upload.ErrThrottled)}
		}
	}
	return results, nil
}

// reserve cuts the next chunk off records, at least one record, for the stream that can send it
// soonest, and takes its bytes from that stream's bucket. When even that stream could not send
// it within horizon, it returns no chunk and how long to wait before asking again: chunks given
// far ahead would go at the rate of when they were given, however the rate changes meanwhile.
func (s *Spreader) reserve(records [][]byte, now time.Time) (*chunk, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *chunk
	for pass := 0; best == nil; pass++ {
		// A failing stream takes no chunk while it is backed off, then one at a time, unless
		// every stream is failing: then the uploader's own backoff paces them all.
		for k := range s.streams {
			p := s.streams[(s.next+k)%len(s.streams)]
			if pass == 0 && p.failures > 0 && (p.probing || p.retryAt.After(now)) {
				continue
			}
			c := p.offer(records, s.limits, now)
			if best == nil || c.start.Before(best.start) {
				best = c
			}
		}
	}
	if ahead := best.start.Sub(now); ahead > horizon {
		return nil, ahead - horizon
	}
	best.pace.take(best)
	s.next = (s.next + 1) % len(s.streams)
	return best, 0
}

// sleep waits for d, or returns ctx's error when ctx is done first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send waits until c's stream has its bytes, sends it, and has the stream learn from the
// answer. It returns the call's error, and fills c.results when the call was answered.
func (s *Spreader) send(ctx context.Context, c *chunk) error {
	for wait := time.Until(c.start); wait > 0; wait = s.reschedule(c) {
		if err := sleep(ctx, wait); err != nil {
			s.settle(c, nil, nil, true)
			return err
		}
	}
	res, err := c.pace.stream.Put(ctx, c.records)
	if err == nil && len(res) != len(c.records) {
		err = fmt.Errorf("spread: %s: %d results for %d records", c.pace.name, len(res), len(c.records))
	}
	// A deadline that passed during the call is the stream's timeout; a cancellation is the
	// caller's, and says nothing of the stream.
	s.settle(c, res, err, errors.Is(ctx.Err(), context.Canceled))
	if err != nil {
		return err
	}
	copy(c.results, res)
	return nil
}

// reschedule gives c a new start when its stream's rate was cut while it waited, and returns
// how long it must wait yet: a chunk given under the old rate would meet the same throttle.
func (s *Spreader) reschedule(c *chunk) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if c.epoch == c.pace.epoch {
		return 0
	}
	c.pace.refill(now)
	c.pace.tokens += float64(c.bytes)
	c.start, c.epoch = c.pace.schedule(c.bytes, now), c.pace.epoch
	c.pace.tokens -= float64(c.bytes)
	return c.start.Sub(now)
}

// settle has c's stream learn from the answer to c: results, or err. cancelled says the caller
// gave up on the call, or before it.
func (s *Spreader) settle(c *chunk, results []upload.Result, err error, cancelled bool) {
	s.mu.Lock()
	failing := c.pace.settle(c, results, err, cancelled, time.Now())
	s.mu.Unlock()
	if failing > 0 {
		s.limited.Warn("delivery stream "+c.pace.name+" failed; the other streams carry its share meanwhile",
			slog.String(logKeyStream, c.pace.name), slog.Duration(logKeyBackoff, failing),
			slog.String(logKeyCode, upload.ErrorCode(err)), slog.Any(logKeyError, err))
	}
}

// Attribute keys of the Spreader's logs.
const (
	logKeyStream  = "stream"
	logKeyBackoff = "backoff"
	logKeyCode    = "code"
	logKeyError   = "error"
)
