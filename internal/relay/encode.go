package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/backoff"
	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/ratelog"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/spool"
)

// errShutdownTimeout ends the shutdown window: what is not spooled by then is lost.
var errShutdownTimeout = errors.New("relay: --shutdown-timeout reached")

// shutdownWindow returns a context that is done timeout after signal is done (at once for a
// timeout of 0), or when parent is. The record stage spools under it, so that a spool that stays
// full or a record owner STS never gives cannot hold the shutdown longer than that; the last
// upload attempt shares it. Call stop to release its resources.
func shutdownWindow(signal, parent context.Context, timeout time.Duration) (window context.Context, stop func()) {
	window, cancel := context.WithCancelCause(parent)
	stopAfter := context.AfterFunc(signal, func() {
		t := time.AfterFunc(timeout, func() { cancel(errShutdownTimeout) })
		context.AfterFunc(window, func() { t.Stop() })
	})
	return window, func() {
		stopAfter()
		cancel(context.Canceled)
	}
}

// Bounds of the records on their way to the spool. The spooler writes what the record workers
// queued meanwhile as one group (spool.WriteGroup): one sync for the group instead of one per
// record, so that many quiet or spoofed sources, each a record of its own, cannot outrun the
// spool; and a group small enough that the one being written when the shutdown timeout passes
// ends quickly.
const (
	maxGroupRecords = 256
	maxGroupBytes   = 4 << 20
	// maxQueuedBytes bounds the records the workers have queued for the spooler: beyond it they
	// wait, as they would for the spool itself.
	maxQueuedBytes = 2 * maxGroupBytes
)

// encoder is the record stage: it compresses the batches the buffers hand on into records and
// queues them for the spooler, which writes them to the spool in groups. Run one goroutine of run
// per CPU, and one of spool.
type encoder struct {
	buffers *buffer.Buffers
	spool   *spool.Spool
	log     *ratelog.Logger
	header  func(ctx context.Context, key buffer.Key) (record.Header, error)
	// deadline is done when nothing more may be spooled: batches are then counted as lost
	// without being encoded, and no write starts.
	deadline context.Context
	lost     atomic.Int64 // events that could not be spooled

	queue  chan queued // to the spooler; closed once every worker is done
	queued budget      // bytes in queue and in the group being written
}

// queued is a record on its way to the spool.
type queued struct {
	record []byte // nil for a batch that ended with records queued earlier
	// events is how many events are lost if this record is: a batch's count rides on its last
	// record, so a batch whose records fall into two groups is counted with the second.
	events int
}

// newEncoder returns an encoder of batches to sp; header gives each batch's record header.
func newEncoder(buffers *buffer.Buffers, sp *spool.Spool, log *ratelog.Logger, deadline context.Context,
	header func(ctx context.Context, key buffer.Key) (record.Header, error)) *encoder {
	e := &encoder{buffers: buffers, spool: sp, log: log, deadline: deadline, header: header,
		queue: make(chan queued, maxGroupRecords)}
	e.queued.cond = sync.NewCond(&e.queued.mu)
	return e
}

// run encodes batches until the buffers close their channel. ctx bounds the waits for the record
// owner; once the deadline is done, batches are counted as lost.
func (e *encoder) run(ctx context.Context) {
	enc := record.NewEncoder()
	var out []queued
	for batch := range e.buffers.Batches() {
		if e.deadline.Err() != nil {
			// Counted, not logged: Run logs the total once.
			e.lost.Add(int64(batch.Len()))
		} else {
			out = e.encode(ctx, enc, batch, out[:0])
		}
		e.buffers.Release(batch)
	}
}

func (e *encoder) encode(ctx context.Context, enc *record.Encoder, batch *buffer.Batch, out []queued) []queued {
	h, err := e.header(ctx, batch.Key)
	if err != nil {
		e.loseEvents(ctx, batch.Len(), err)
		return out
	}
	outBytes := 0
	emit := func(rec []byte) error {
		if e.deadline.Err() != nil {
			return context.Cause(e.deadline)
		}
		out = append(out, queued{record: bytes.Clone(rec)})
		if outBytes += len(rec); outBytes >= maxGroupBytes {
			e.send(out)
			out, outBytes = out[:0], 0
		}
		return nil
	}
	events := 0
	next, st, err := enc.Encode(h, batch.Events, batch.Full, emit)
	events += st.Events
	if err != nil {
		e.loseEvents(ctx, batch.Len()-st.Events, err)
	} else {
		if batch.Full && st.Records > 0 {
			e.buffers.ObserveRatio(st.RawBytes, st.RecordBytes)
		}
		if next < batch.Len() && !e.buffers.Requeue(batch, next) {
			// The buffers closed meanwhile: this worker encodes the rest itself.
			rest := record.Events{Data: batch.Data, Ends: batch.Ends}
			_, st, err := enc.Encode(h, rest.Tail(next), false, emit)
			events += st.Events
			if err != nil {
				e.loseEvents(ctx, rest.Len()-next-st.Events, err)
			}
		}
	}
	if len(out) == 0 {
		out = append(out, queued{})
	}
	out[len(out)-1].events += events
	e.send(out)
	return out[:0]
}

// send queues records for the spooler, waiting while the queue is at maxQueuedBytes.
func (e *encoder) send(records []queued) {
	for _, q := range records {
		e.queued.acquire(len(q.record))
		e.queue <- q
	}
}

// spoolQueued writes the queued records to the spool until the queue is closed: each group is
// what was queued while the one before was written, up to maxGroupRecords and maxGroupBytes.
// ctx bounds the waits for room in the spool.
func (e *encoder) spoolQueued(ctx context.Context) {
	var group []queued
	var records [][]byte
	for first := range e.queue {
		group = append(group[:0], first)
		size := len(first.record)
	more:
		for len(group) < maxGroupRecords && size < maxGroupBytes {
			select {
			case q, ok := <-e.queue:
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
		if err := e.write(ctx, records); err != nil {
			if e.deadline.Err() != nil {
				e.lost.Add(int64(events)) // counted, not logged: Run logs the total once
			} else {
				e.loseEvents(ctx, events, err)
			}
		}
		e.queued.release(size)
		clear(group)
		clear(records)
	}
}

// write spools records as one group, retrying with backoff while the spool cannot take them
// (its disk full, say), until ctx is done; none starts once the deadline is done.
func (e *encoder) write(ctx context.Context, records [][]byte) error {
	var wait backoff.Backoff
	for {
		if e.deadline.Err() != nil {
			return context.Cause(e.deadline)
		}
		err := e.spool.WriteGroup(ctx, records)
		if err == nil || ctx.Err() != nil {
			return err
		}
		e.log.Warn("cannot spool records: will retry", "records", len(records), "error", err)
		if err := wait.Wait(ctx); err != nil {
			return err
		}
	}
}

func (e *encoder) loseEvents(ctx context.Context, n int, err error) {
	e.lost.Add(int64(n))
	if ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	e.log.Error("messages lost: could not spool them", "messages", n, "error", err)
}

// budget counts bytes against a cap. Its zero value is not usable: set cond on mu.
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
