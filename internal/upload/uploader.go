package upload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/ratelog"
	"github.com/kinesyslog/kinesyslog/internal/spool"
)

// Defaults used when an Options field is zero.
const (
	// DefaultInterval is the longest a record waits in the spool before it is sent in a batch
	// that is not full: the original's 60 s upload cycle.
	DefaultInterval = 60 * time.Second
	// DefaultConcurrency bounds the calls in flight. Four full calls are 16 MB, above the 5 MiB/s
	// a stream takes in the largest regions, so more would only meet throttling.
	DefaultConcurrency = 4
	// DefaultRetryBase and DefaultRetryMax bound the backoff between attempts to deliver the same
	// records.
	DefaultRetryBase = 500 * time.Millisecond
	DefaultRetryMax  = 30 * time.Second
	// DefaultCallTimeout bounds one Put call. A full Firehose call is about 5.4 MB once
	// base64-encoded: 30 s carries one over a link of 1.5 Mbit/s and four over 6 Mbit/s, without
	// leaving a dead connection to hang a delivery for long. Over a slower link the uploader
	// sends less at once after the first timeouts (see Options.CallTimeout).
	DefaultCallTimeout = 30 * time.Second
	// DefaultStallTimeout is how long records may wait with no delivery before Check reports the
	// destination stalled: twice DefaultInterval, so that a record spooled just after a batch
	// went out, waiting for the next, is not mistaken for an outage.
	DefaultStallTimeout = 2 * DefaultInterval
)

// Options configures an Uploader. The zero value uses the defaults, logs nothing and registers no
// metrics.
type Options struct {
	// Interval is how often everything pending is sent, full batch or not; 0 means
	// DefaultInterval.
	Interval time.Duration
	// Concurrency is the most Put calls in flight; 0 means DefaultConcurrency.
	Concurrency int
	// CallTimeout bounds each Put call; 0 means DefaultCallTimeout. After a call
	// times out the uploader sends less at once: half the calls in flight, down to one, then
	// half the bytes per call, down to one record; calls answered in less than half of
	// CallTimeout grow it back. A link that cannot carry one record within CallTimeout never
	// delivers it: give such a link a longer timeout.
	CallTimeout time.Duration
	// RetryBase and RetryMax are the first and the largest backoff ceiling between two attempts
	// to deliver the same records; 0 means DefaultRetryBase and DefaultRetryMax.
	RetryBase time.Duration
	RetryMax  time.Duration
	// StallTimeout is how long the oldest record may wait, with no record delivered for as long,
	// before Check reports the destination stalled; 0 means DefaultStallTimeout.
	StallTimeout time.Duration
	// Logger receives the uploader's logs; nil discards them.
	Logger *slog.Logger
	// LogInterval is the least time between two log lines about the same kind of error; 0 means
	// ratelog.DefaultInterval.
	LogInterval time.Duration
	// Registerer registers the uploader's metrics; nil means no metrics.
	Registerer prometheus.Registerer
}

// Uploader moves records from a spool to a Destination. Create it with New, then call Run. Its
// methods are safe for concurrent use.
type Uploader struct {
	spool       *spool.Spool
	dest        Destination
	limits      Limits // dest's
	interval    time.Duration
	retryBase   time.Duration
	retryMax    time.Duration
	callTimeout time.Duration
	stall       time.Duration
	delivered   atomic.Int64 // when a call last delivered a record (New at first), Unix nanoseconds
	window      *window
	order       *keyOrder // for an Ordered destination; nil otherwise
	logger      *slog.Logger
	limited     *ratelog.Logger
	metrics     *metrics

	mu     sync.Mutex
	active *loop // the loop of Run or of a Flush, while one runs
}

// New returns an Uploader of the records in s to dest, in calls within dest's Limits. It starts
// nothing: call Run. The Uploader neither runs nor closes dest.
func New(s *spool.Spool, dest Destination, opts Options) *Uploader {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u := &Uploader{
		spool:       s,
		dest:        dest,
		limits:      dest.Limits(),
		interval:    cmpOr(opts.Interval, DefaultInterval),
		retryBase:   cmpOr(opts.RetryBase, DefaultRetryBase),
		retryMax:    cmpOr(opts.RetryMax, DefaultRetryMax),
		callTimeout: cmpOr(opts.CallTimeout, DefaultCallTimeout),
		stall:       cmpOr(opts.StallTimeout, DefaultStallTimeout),
		logger:      logger,
		limited:     ratelog.New(logger, opts.LogInterval),
		metrics:     newMetrics(opts.Registerer),
	}
	u.delivered.Store(time.Now().UnixNano())
	if o, ok := dest.(Ordered); ok {
		u.order = newKeyOrder(o.OrderKey)
	}
	u.window = newWindow(cmpOr(opts.Concurrency, DefaultConcurrency), u.callTimeout, u.limits, u.metrics)
	return u
}

// cmpOr returns v, or def when v is not positive.
func cmpOr[T time.Duration | int](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Run sends records until ctx is done: full batches at once, everything pending at start, every
// Interval and when Flush asks. When ctx is done, calls in flight are cut short and Run returns
// nil once they have returned; their records stay in the spool. Run returns an error only when
// Run or Flush is already running.
func (u *Uploader) Run(ctx context.Context) error {
	l, err := u.start()
	if err != nil {
		return err
	}
	u.logger.Info("uploader started", slog.Int(logKeyRecords, u.spool.Len()),
		slog.Int64(logKeyBytes, u.spool.Bytes()))
	l.run(ctx)
	u.logger.Info("uploader stopped", slog.Int(logKeyRecords, u.spool.Len()))
	return nil
}

// Check reports whether the destination takes records: an error when the oldest record in the
// spool has waited longer than Options.StallTimeout and no record was delivered for as long
// either (since New when none was), so that a backlog that drains after an outage counts as
// delivering. An empty spool has nothing to deliver: nil.
func (u *Uploader) Check() error {
	oldest, ok := u.spool.First()
	if !ok {
		return nil
	}
	now := time.Now()
	waited, idle := now.Sub(oldest.Time), now.Sub(time.Unix(0, u.delivered.Load()))
	if waited < u.stall || idle < u.stall {
		return nil
	}
	return fmt.Errorf("no record delivered for %v while %d wait, the oldest for %v",
		idle.Round(time.Second), u.spool.Len(), waited.Round(time.Second))
}

// Flush sends every record that was pending when it was called and returns nil once they are all
// delivered (or quarantined), retrying failures with backoff; it returns an error, saying how
// many records are left, when ctx is done first. The records left stay in the spool for the next
// start. While Run runs, Flush has Run's loop send them without waiting for a full batch or the
// Interval, and calls in flight go on undisturbed; otherwise Flush sends them itself. The relay
// calls it at shutdown, once everything received is spooled and before it stops Run, with a
// context bounded by --shutdown-timeout.
func (u *Uploader) Flush(ctx context.Context) error {
	last, ok := u.spool.Last()
	if !ok {
		return nil
	}
	w := &waiter{upto: last.Seq, done: make(chan struct{})}
	// Each turn either runs a loop of its own or waits on the running one; a loop that stops
	// before it served w (Run returning) sends the Flush round again.
	for ctx.Err() == nil && !w.served() {
		l, own := u.join()
		if own {
			l.add(w)
			l.run(ctx)
			continue
		}
		select {
		case l.reqs <- w:
			select {
			case <-w.done:
			case <-l.done:
			case <-ctx.Done():
			}
		case <-l.done:
		case <-ctx.Done():
		}
	}
	if w.served() {
		return nil
	}
	return fmt.Errorf("upload: flush: %d records left in the spool: %w", u.spool.Len(), ctx.Err())
}

// start makes a new loop for Run the active one.
func (u *Uploader) start() (*loop, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.active != nil {
		return nil, errors.New("upload: the uploader is already running")
	}
	u.active = u.newLoop(false)
	return u.active, nil
}

// join returns the active loop, or makes a new loop for Flush the active one and returns it with
// own set.
func (u *Uploader) join() (l *loop, own bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.active != nil {
		return u.active, false
	}
	u.active = u.newLoop(true)
	return u.active, true
}

func (u *Uploader) newLoop(flushOnly bool) *loop {
	l := &loop{
		u:         u,
		flushOnly: flushOnly,
		reqs:      make(chan *waiter),
		done:      make(chan struct{}),
		finished:  make(chan struct{}),
	}
	if !flushOnly {
		l.limit = math.MaxUint64
	}
	return l
}

// A waiter is a Flush waiting for the records up to Seq upto to leave the spool.
type waiter struct {
	upto uint64
	done chan struct{} // closed by the loop that saw them gone
}

func (w *waiter) served() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// A loop hands batches out to deliveries, for one Run or one Flush. Its fields other than reqs
// and done belong to the goroutine running it.
type loop struct {
	u         *Uploader
	flushOnly bool          // stop once every waiter is served, and send nothing newer
	reqs      chan *waiter  // Flush calls
	done      chan struct{} // closed when the loop and its deliveries have returned
	finished  chan struct{} // a delivery returned

	cursor  uint64 // the largest Seq handed to a delivery: the spool gives records in Seq order
	limit   uint64 // records with a larger Seq are not sent
	due     uint64 // records up to this Seq are sent without waiting for a full batch
	active  int    // deliveries running
	waiters []*waiter
}

func (l *loop) run(ctx context.Context) {
	defer func() {
		l.u.mu.Lock()
		l.u.active = nil
		l.u.mu.Unlock()
		close(l.done)
	}()
	ticker := time.NewTicker(l.u.interval)
	defer ticker.Stop()
	// Records left by an earlier run, and records that waited while nothing ran, are due now.
	l.markDue()
	for ctx.Err() == nil {
		l.dispatch(ctx)
		l.serveWaiters()
		if l.flushOnly && len(l.waiters) == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-l.u.spool.Ready():
		case <-ticker.C:
			l.markDue()
		case <-l.finished:
			l.active--
		case <-l.u.freed():
		case w := <-l.reqs:
			l.add(w)
		}
	}
	for ; l.active > 0; l.active-- {
		<-l.finished
	}
}

// add makes the records w waits for due, and sendable by a Flush loop.
func (l *loop) add(w *waiter) {
	l.due = max(l.due, w.upto)
	if l.flushOnly {
		l.limit = max(l.limit, w.upto)
	}
	l.waiters = append(l.waiters, w)
}

// markDue makes every pending record due.
func (l *loop) markDue() {
	if last, ok := l.u.spool.Last(); ok {
		l.due = max(l.due, last.Seq)
	}
}

// dispatch starts deliveries while the window has free call slots and there are batches to send:
// full batches, and batches that hold a due record. Batches are as large as the window allows.
func (l *loop) dispatch(ctx context.Context) {
	if l.u.spool.Waiting() {
		// No more records come until some leave: waiting for a full batch could wait for the
		// Interval, with a full disk holding fewer records than make one.
		l.markDue()
	}
	if l.u.order != nil {
		l.dispatchOrdered(ctx)
		return
	}
	for {
		calls, batchBytes := l.u.window.limits()
		if l.active >= calls {
			return
		}
		entries := l.u.spool.Pending(l.cursor, l.u.limits.MaxRecords)
		for i, e := range entries {
			if e.Seq > l.limit {
				entries = entries[:i]
				break
			}
		}
		if len(entries) == 0 {
			return
		}
		n, full := prefix(entries, func(e spool.Entry) int64 { return e.Size }, batchBytes, l.u.limits.MaxRecords)
		if !full && entries[0].Seq > l.due {
			return
		}
		l.cursor = entries[n-1].Seq
		batch := make([]item, n)
		for i, e := range entries[:n] {
			batch[i].entry = e
		}
		l.start(ctx, batch)
	}
}

// dispatchOrdered is dispatch's loop for an Ordered destination: batches of the oldest records
// whose keys have no record out, one record of a key per batch (keyOrder.next), while fewer
// deliveries than the window's calls are sending (not waiting to send refused records again).
func (l *loop) dispatchOrdered(ctx context.Context) {
	for {
		calls, batchBytes := l.u.window.limits()
		if l.active-int(l.u.order.waiting.Load()) >= calls {
			return
		}
		batch, full := l.u.order.next(l, batchBytes)
		if len(batch) == 0 {
			return
		}
		if !full && batch[0].entry.Seq > l.due {
			return
		}
		l.u.order.take(batch)
		l.start(ctx, batch)
	}
}

// start runs a delivery of batch.
func (l *loop) start(ctx context.Context, batch []item) {
	l.active++
	go func() {
		l.u.deliver(ctx, batch)
		l.finished <- struct{}{}
	}()
}

// freed is a channel that receives once a key of an Ordered destination is given back, so
// that the loop looks again for records to send; nil, which never receives, otherwise.
func (u *Uploader) freed() <-chan struct{} {
	if u.order == nil {
		return nil
	}
	return u.order.freed
}

// prefix returns the length of the longest prefix of xs, at most maxRecords long, whose sizes
// add up to at most maxBytes, and whether it is full: it has maxRecords elements or the next
// would not fit. The prefix has at least one element when xs has: a record larger than maxBytes
// makes a call of its own (deliver quarantines one too large for any call).
func prefix[T any](xs []T, size func(T) int64, maxBytes int64, maxRecords int) (n int, full bool) {
	var total int64
	for i, x := range xs {
		if i == maxRecords {
			return i, true
		}
		if total+size(x) > maxBytes {
			return max(i, 1), true
		}
		total += size(x)
	}
	return len(xs), len(xs) == maxRecords
}

// serveWaiters releases the Flush calls whose records have all left the spool.
func (l *loop) serveWaiters() {
	if len(l.waiters) == 0 {
		return
	}
	first, ok := l.u.spool.First()
	kept := l.waiters[:0]
	for _, w := range l.waiters {
		if !ok || first.Seq > w.upto {
			close(w.done)
			continue
		}
		kept = append(kept, w)
	}
	l.waiters = kept
}
