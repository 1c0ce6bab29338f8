package encode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kinesyslog/kinesyslog/internal/backoff"
	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/intake"
	"github.com/kinesyslog/kinesyslog/internal/ratelog"
	"github.com/kinesyslog/kinesyslog/internal/record"
)

// Bounds of the records on their way to the spool: a group small enough that the one being
// written when the shutdown timeout passes ends quickly.
const (
	maxGroupRecords = 256
	maxGroupBytes   = 4 << 20
	// maxQueuedBytes bounds the records the workers have queued for the spooler: beyond it they
	// wait, as they would for the spool itself.
	maxQueuedBytes = 2 * maxGroupBytes
	// freeRecords is how many spooled records the stage keeps for its encoders to compress new
	// ones into, instead of allocating (and zeroing, and collecting) a megabyte per record: as
	// many as the queue holds.
	freeRecords = maxQueuedBytes / record.BufferBytes
)

// A Spool stores records durably, as *spool.Spool does: WriteGroup stores every one of records
// or none, waiting for room until ctx is done. It must not keep records once it returns: the
// stage reuses their bytes.
type Spool interface {
	WriteGroup(ctx context.Context, records [][]byte) error
}

// An Owner gives the records' owner, an AWS account ID: the destination, which may learn it after
// start. Owner waits until it is known or ctx is done, and returns a known owner even when ctx is
// done.
type Owner interface {
	Owner(ctx context.Context) (string, error)
}

// A Releaser is told which entries of the intake log are inside spooled records, as *intake.Log
// is (Release).
type Releaser interface {
	Release(runs []intake.Run) error
}

// Options configures a Stage. The zero value of each field selects its default.
type Options struct {
	// LogGroupPrefix names the records' log group: LogGroupPrefix/<port>, as
	// "/kinesyslog/syslog/514".
	LogGroupPrefix string
	// PortGroupPrefixes replaces LogGroupPrefix for the ports it lists, for a relay whose ports
	// read different formats ("/kinesyslog/gelf" for its GELF ports); nil: none.
	PortGroupPrefixes map[uint16]string
	// MaxRecordBytes is the largest record the destination takes (upload.Limits); 0 means
	// record.TargetBytes. Records are at most record.TargetBytes: New refuses less.
	MaxRecordBytes int
	// Workers is how many batches are encoded at once; default GOMAXPROCS.
	Workers int
	// Log, when set, is told the intake log's runs of the events in each group of records once
	// the spool has them (WriteGroup returned nil); nil: no intake log.
	Log Releaser
	// Logger receives the logs of failed writes and of lost messages; nil discards them.
	Logger *slog.Logger
	// Registerer registers the metrics; nil means counted, not registered.
	Registerer prometheus.Registerer
}

// Stage is the record stage. Its zero value is not usable: call New.
type Stage struct {
	buffers *buffer.Buffers
	spool   Spool
	owner   Owner
	opts    Options
	log     *slog.Logger
	warn    *ratelog.Logger
	lost    atomic.Int64 // events that could not be spooled
	lostM   prometheus.Counter
	spooled prometheus.Counter

	queue  chan queued // to the spooler; closed once every worker is done
	queued budget      // bytes in queue and in the group being written
	free   chan []byte // spooled records, for the encoders to reuse (freeRecords)
}

// queued is a record on its way to the spool.
type queued struct {
	record []byte // nil for a batch that ended with records queued earlier
	// events is how many events are lost if this record is: a batch's count rides on its last
	// record, so a batch whose records fall into two groups is counted with the second.
	events int
	// runs are the intake log's runs of those events, on the same record.
	runs []intake.Run
}

// New returns a Stage that encodes the batches of buffers into records of owner and writes them
// to sp. It starts nothing: call Run.
func New(buffers *buffer.Buffers, sp Spool, owner Owner, opts Options) (*Stage, error) {
	if opts.MaxRecordBytes == 0 {
		opts.MaxRecordBytes = record.TargetBytes
	}
	if opts.MaxRecordBytes < record.TargetBytes {
		return nil, fmt.Errorf("encode: the destination takes records of at most %d bytes, less than the %d bytes of a record", opts.MaxRecordBytes, record.TargetBytes)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stage{
		buffers: buffers, spool: sp, owner: owner, opts: opts,
		log:   opts.Logger,
		warn:  ratelog.New(opts.Logger, 0),
		queue: make(chan queued, maxGroupRecords),
		free:  make(chan []byte, freeRecords),
		lostM: promauto.With(opts.Registerer).NewCounter(prometheus.CounterOpts{
			Namespace: "kinesyslog", Subsystem: "encode", Name: "lost_messages_total",
			Help: "Messages that could not be spooled at shutdown, or that the spool refused, and are lost.",
		}),
		spooled: promauto.With(opts.Registerer).NewCounter(prometheus.CounterOpts{
			Namespace: "kinesyslog", Subsystem: "encode", Name: "spooled_messages_total",
			Help: "Messages written to the spool in records: with those lost and dropped, what was received and replayed once the relay is drained.",
		}),
	}
	s.queued.cond = sync.NewCond(&s.queued.mu)
	return s, nil
}

// Run encodes batches and spools their records until the buffers close their channel
// (buffer.Buffers.Close) and every record is spooled or counted as lost. ctx bounds the waits,
// for the record owner and for room in the spool; once ctx is done with the cause ErrDeadline
// (ShutdownWindow), batches are counted as lost without being encoded and no write starts. Run
// returns an error when messages were lost. Call it once.
func (s *Stage) Run(ctx context.Context) error {
	spooled := make(chan struct{})
	go func() {
		s.spoolQueued(ctx)
		close(spooled)
	}()
	var workers sync.WaitGroup
	for range s.opts.Workers {
		workers.Go(func() { s.work(ctx) })
	}
	workers.Wait()
	close(s.queue)
	<-spooled
	if n := s.lost.Load(); n > 0 && s.opts.Log != nil {
		// Not released: the intake log keeps them, and the next start replays them.
		s.log.Warn("messages not spooled: left in the intake log for the next start", "messages", n)
	} else if n > 0 {
		s.log.Error("messages lost: not spooled", "messages", n)
		return fmt.Errorf("encode: %d messages could not be spooled and are lost", n)
	}
	return nil
}

// Lost returns how many messages could not be spooled.
func (s *Stage) Lost() int64 { return s.lost.Load() }

// work encodes batches until the buffers close their channel.
func (s *Stage) work(ctx context.Context) {
	enc := record.NewEncoderFrom(s.reuse)
	var out []queued
	for batch := range s.buffers.Batches() {
		if pastDeadline(ctx) {
			s.count(batch.Len()) // counted, not logged: Run logs the total once
			s.buffers.Done(batch, batch.Len(), record.Stats{})
			continue
		}
		out = s.encode(ctx, enc, batch, out[:0])
	}
}

// encode encodes batch, queues its records and reports on it to the buffers.
func (s *Stage) encode(ctx context.Context, enc *record.Encoder, batch *buffer.Batch, out []queued) []queued {
	owner, err := s.owner.Owner(ctx)
	if err != nil {
		s.lose(ctx, batch.Len(), fmt.Errorf("encode: record owner: %w", err))
		s.buffers.Done(batch, batch.Len(), record.Stats{})
		return out
	}
	prefix, ok := s.opts.PortGroupPrefixes[batch.Key.Port]
	if !ok {
		prefix = s.opts.LogGroupPrefix
	}
	h := record.Header{Owner: owner, LogGroup: prefix + "/" + strconv.Itoa(int(batch.Key.Port)),
		LogStream: batch.Key.Source.String()}
	outBytes := 0
	emit := func(rec []byte) error {
		if pastDeadline(ctx) {
			s.recycle(rec)
			return context.Cause(ctx)
		}
		if len(rec) < record.BufferBytes/2 {
			// A record of a quiet source: queued as a copy of its size, so that the memory the
			// queued records hold stays within twice the bytes maxQueuedBytes counts.
			small := bytes.Clone(rec)
			s.recycle(rec)
			rec = small
		}
		out = append(out, queued{record: rec})
		if outBytes += len(rec); outBytes >= maxGroupBytes {
			s.send(out)
			out, outBytes = out[:0], 0
		}
		return nil
	}
	next, st, err := enc.Encode(h, batch.Events, batch.Full, emit)
	events := st.Events
	var runs []intake.Run
	if err != nil {
		s.lose(ctx, batch.Len()-st.Events, err)
		next, st = batch.Len(), record.Stats{}
	} else {
		// Encode returned after emitting every record of the events before next.
		runs = batch.Runs(nil, 0, next)
	}
	if rest := s.buffers.Done(batch, next, st); rest.Len() > 0 {
		// The buffers closed meanwhile: this worker encodes the rest itself. Done released the
		// batch without reusing it, so its chunks are still there.
		_, st, err := enc.Encode(h, rest, false, emit)
		events += st.Events
		if err != nil {
			s.lose(ctx, rest.Len()-st.Events, err)
		} else {
			runs = batch.Runs(runs, next, batch.Len())
		}
	}
	if len(out) == 0 {
		out = append(out, queued{})
	}
	out[len(out)-1].events += events
	out[len(out)-1].runs = runs
	s.send(out)
	return out[:0]
}

// send queues records for the spooler, waiting while the queue is at maxQueuedBytes.
func (s *Stage) send(records []queued) {
	for _, q := range records {
		s.queued.acquire(len(q.record))
		s.queue <- q
	}
}

// spoolQueued writes the queued records to the spool until the queue is closed: each group is
// what was queued while the one before was written, up to maxGroupRecords and maxGroupBytes.
func (s *Stage) spoolQueued(ctx context.Context) {
	var group []queued
	var records [][]byte
	for first := range s.queue {
		group = append(group[:0], first)
		size := len(first.record)
	more:
		for len(group) < maxGroupRecords && size < maxGroupBytes {
			select {
			case q, ok := <-s.queue:
				if !ok {
					break more
				}
				group = append(group, q)
				size += len(q.record)
			default:
				break more
			}
		}
		records = records[:0]
		events := 0
		for _, q := range group {
			if q.record != nil {
				records = append(records, q.record)
			}
			events += q.events
		}
		err := s.write(ctx, records)
		for _, q := range group {
			s.recycle(q.record) // the spool keeps none of them
		}
		if err != nil {
			if pastDeadline(ctx) {
				s.count(events) // counted, not logged: Run logs the total once
			} else {
				s.lose(ctx, events, err)
			}
		} else {
			s.spooled.Add(float64(events))
			if s.opts.Log != nil {
				s.release(group)
			}
		}
		s.queued.release(size)
		clear(group)
		clear(records)
	}
}

// reuse returns a spooled record to compress a new one into, or nil when there is none.
func (s *Stage) reuse() []byte {
	select {
	case rec := <-s.free:
		return rec
	default:
		return nil
	}
}

// recycle keeps rec, whose bytes nothing reads any more, for reuse, unless it is a copy too small
// to be reused or freeRecords are kept.
func (s *Stage) recycle(rec []byte) {
	if cap(rec) < record.BufferBytes {
		return
	}
	select {
	case s.free <- rec:
	default:
	}
}

// release tells the intake log that the events of group are spooled.
func (s *Stage) release(group []queued) {
	var runs []intake.Run
	for _, q := range group {
		runs = append(runs, q.runs...)
	}
	if len(runs) == 0 {
		return
	}
	if err := s.opts.Log.Release(runs); err != nil {
		// Only a closed or failed log refuses: the next start replays those events again.
		s.warn.Warn("cannot release spooled messages from the intake log: they will be delivered again after a restart",
			"error", err)
	}
}

// write spools records as one group, retrying with backoff while the spool cannot take them
// (its disk full, say), until ctx is done; none starts past the deadline.
func (s *Stage) write(ctx context.Context, records [][]byte) error {
	var wait backoff.Backoff
	for {
		if pastDeadline(ctx) {
			return context.Cause(ctx)
		}
		err := s.spool.WriteGroup(ctx, records)
		if err == nil || ctx.Err() != nil {
			return err
		}
		s.warn.Warn("cannot spool records: will retry", "records", len(records), "error", err)
		if err := wait.Wait(ctx); err != nil {
			return err
		}
	}
}

func (s *Stage) count(n int) {
	s.lost.Add(int64(n))
	s.lostM.Add(float64(n))
}

// lose counts n events as lost and logs why, at a limited rate.
func (s *Stage) lose(ctx context.Context, n int, err error) {
	s.count(n)
	if ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	s.warn.Error("messages lost: could not spool them", "messages", n, "error", err)
}

// budget counts bytes against maxQueuedBytes. Its zero value is not usable: set cond on mu.
type budget struct {
	mu   sync.Mutex
	cond *sync.Cond
	used int
}

// acquire counts n bytes, waiting while they would take the count past maxQueuedBytes; a record
// larger than that passes alone.
func (b *budget) acquire(n int) {
	b.mu.Lock()
	for b.used > 0 && b.used+n > maxQueuedBytes {
		b.cond.Wait()
	}
	b.used += n
	b.mu.Unlock()
}

func (b *budget) release(n int) {
	b.mu.Lock()
	b.used -= n
	b.cond.Broadcast()
	b.mu.Unlock()
}

// pastDeadline reports whether ctx ended with ErrDeadline: nothing more may be spooled.
func pastDeadline(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrDeadline)
}
