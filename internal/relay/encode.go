package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/backoff"
	"github.com/kinesyslog/kinesyslog/internal/buffer"
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

// encoder is the record stage: it compresses the batches the buffers hand on into records and
// writes them to the spool. Run one goroutine of it per CPU.
type encoder struct {
	buffers *buffer.Buffers
	spool   *spool.Spool
	log     *slog.Logger
	header  func(ctx context.Context, key buffer.Key) (record.Header, error)
	lost    atomic.Int64 // events that could not be spooled
}

// run encodes batches until the buffers close their channel. ctx bounds the waits for the record
// owner and for room in the spool; once it is done, what cannot be spooled at once is lost.
func (e *encoder) run(ctx context.Context) {
	enc := record.NewEncoder()
	for batch := range e.buffers.Batches() {
		e.encode(ctx, enc, batch)
		e.buffers.Release(batch)
	}
}

func (e *encoder) encode(ctx context.Context, enc *record.Encoder, batch *buffer.Batch) {
	h, err := e.header(ctx, batch.Key)
	if err != nil {
		e.loseEvents(ctx, batch.Len(), err)
		return
	}
	next, st, err := enc.Encode(h, batch.Events, batch.Full, func(rec []byte) error {
		return e.write(ctx, rec)
	})
	if err != nil {
		e.loseEvents(ctx, batch.Len()-st.Events, err)
		return
	}
	if batch.Full && st.Records > 0 {
		e.buffers.ObserveRatio(st.RawBytes, st.RecordBytes)
	}
	if next < batch.Len() && !e.buffers.Requeue(batch, next) {
		// The buffers closed meanwhile: this worker encodes the rest itself.
		rest := record.Events{Data: batch.Data, Ends: batch.Ends}
		_, st, err := enc.Encode(h, rest.Tail(next), false, func(rec []byte) error { return e.write(ctx, rec) })
		if err != nil {
			e.loseEvents(ctx, rest.Len()-next-st.Events, err)
		}
	}
}

// write spools one record, retrying with backoff while the spool cannot take it (its disk full,
// say), until ctx is done.
func (e *encoder) write(ctx context.Context, rec []byte) error {
	var wait backoff.Backoff
	for {
		err := e.spool.Write(ctx, rec)
		if err == nil || ctx.Err() != nil {
			return err
		}
		e.log.Warn("cannot spool a record: will retry", "error", err)
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
