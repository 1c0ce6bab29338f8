package upload

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/backoff"
	"github.com/kinesyslog/kinesyslog/internal/spool"
)

// Attribute keys of the uploader's logs.
const (
	logKeyRecords    = "records"
	logKeyBytes      = "bytes"
	logKeyCode       = "code"
	logKeyError      = "error"
	logKeyMessage    = "message"
	logKeyCalls      = "calls"
	logKeyBatchBytes = "batch_bytes"
)

// Outcomes of a call, the values of the calls_total metric's outcome label.
const (
	outcomeOK       = "ok"        // every record delivered
	outcomePartial  = "partial"   // some records refused
	outcomeError    = "error"     // the call failed as a whole
	outcomeTooLarge = "too_large" // the batch was refused for its size
)

// item is a record of a batch, with its content once read from the spool, and its key for an
// Ordered destination.
type item struct {
	entry spool.Entry
	data  []byte
	key   string
}

// deliver sends todo until every record of it is delivered, quarantined or gone, or ctx is done.
// Records refused or caught in a failed call are sent again after a backoff, on their own. For
// an Ordered destination, each record's key is given back as soon as the record is no longer
// out, so that the next record of the key may leave while others are still sent again.
func (u *Uploader) deliver(ctx context.Context, todo []item) {
	u.metrics.inflight.Inc()
	defer u.metrics.inflight.Dec()
	bo := backoff.Backoff{Base: u.retryBase, Max: u.retryMax}
	if u.order != nil {
		defer func() { u.order.release(todo) }()
	}
	for {
		ready, unread := u.load(todo)
		var retry []item
		if len(ready) > 0 {
			retry = u.send(ctx, ready)
		}
		left := append(retry, unread...)
		if u.order != nil {
			u.order.release(gone(todo, left))
		}
		todo = left
		if len(todo) == 0 || ctx.Err() != nil {
			return
		}
		u.metrics.retries.Add(float64(len(todo)))
		if u.order != nil {
			if u.order.wait(ctx, &bo, todo) != nil {
				return
			}
			continue
		}
		if bo.Wait(ctx) != nil {
			return
		}
	}
}

// load reads the records of todo not read yet. It returns the records ready to send and those to
// read again later; records that are corrupt, gone or too large to ever send are dropped.
func (u *Uploader) load(todo []item) (ready, unread []item) {
	for _, it := range todo {
		if it.data != nil {
			ready = append(ready, it)
			continue
		}
		if u.quarantineTooLarge(it.entry) {
			continue
		}
		data, err := u.spool.Read(it.entry)
		switch {
		case err == nil:
			it.data = data
			ready = append(ready, it)
		case errors.Is(err, spool.ErrCorrupt), errors.Is(err, fs.ErrNotExist):
			// The spool logged it and took it out of the queue.
		default:
			u.limited.Warn("cannot read a spooled record; will try again", slog.Any(logKeyError, err))
			unread = append(unread, it)
		}
	}
	return ready, unread
}

// gone returns the items of todo that are not in left.
func gone(todo, left []item) []item {
	kept := make(map[uint64]bool, len(left))
	for _, it := range left {
		kept[it.entry.Seq] = true
	}
	var out []item
	for _, it := range todo {
		if !kept[it.entry.Seq] {
			out = append(out, it)
		}
	}
	return out
}

// quarantineTooLarge moves e to the spool's quarantine when it is larger than any call may
// carry, and reports whether it did.
func (u *Uploader) quarantineTooLarge(e spool.Entry) bool {
	if e.Size <= int64(u.limits.MaxRecordBytes) {
		return false
	}
	// The spool logs the quarantine, and forgets the record even when moving it fails.
	u.spool.Quarantine(e, fmt.Sprintf("%d bytes, above the %d bytes a record may have", e.Size, u.limits.MaxRecordBytes))
	return true
}

// send delivers items in calls of at most the window's batch size, one after the other, deletes
// the records delivered and returns those to send again.
func (u *Uploader) send(ctx context.Context, items []item) (retry []item) {
	for len(items) > 0 {
		_, batchBytes := u.window.limits()
		n, _ := prefix(items, func(it item) int64 { return int64(len(it.data)) }, batchBytes, u.limits.MaxRecords)
		retry = append(retry, u.call(ctx, items[:n])...)
		items = items[n:]
		if ctx.Err() != nil {
			return append(retry, items...)
		}
	}
	return retry
}

// call makes one Put call of items (more when the destination refuses the batch for
// its size and it is split), within a slot of the window and bounded by the call timeout,
// deletes the records delivered and returns those to send again.
func (u *Uploader) call(ctx context.Context, items []item) (retry []item) {
	records := make([][]byte, len(items))
	var size int
	for i, it := range items {
		records[i] = it.data
		size += len(it.data)
	}
	s, err := u.window.acquire(ctx)
	if err != nil {
		return items
	}
	callCtx, cancel := context.WithTimeout(ctx, u.callTimeout)
	results, err := u.dest.Put(callCtx, records)
	cancel()
	u.metrics.callDuration.Observe(time.Since(s.start).Seconds())
	if err == nil && len(results) != len(items) {
		// Results that cannot be matched to records prove nothing was delivered.
		err = fmt.Errorf("upload: %d results for %d records", len(results), len(items))
	}
	ev := callAnswered
	switch {
	case errors.Is(err, ErrBatchTooLarge):
		ev = callTooLarge
	case err != nil && ctx.Err() == nil && isTimeout(err):
		ev = callTimedOut
	case err != nil:
		ev = callFailed
	}
	if u.window.release(s, ev, len(items), int64(size)) {
		calls, batchBytes := u.window.limits()
		u.limited.Warn("PutRecordBatch timed out or was too large; sending less at once",
			slog.Int(logKeyCalls, calls), slog.Int64(logKeyBatchBytes, batchBytes))
	}

	switch {
	case ev == callTooLarge:
		u.metrics.calls.WithLabelValues(outcomeTooLarge).Inc()
		if len(items) == 1 {
			// Resending it would hold up the records behind it for ever. The spool logs it.
			u.spool.Quarantine(items[0].entry, "refused by the destination as too large: "+err.Error())
			return nil
		}
		u.limited.Warn("destination refused a batch for its size; splitting it",
			slog.Int(logKeyRecords, len(items)), slog.Int(logKeyBytes, size), slog.Any(logKeyError, err))
		half := len(items) / 2
		retry = u.call(ctx, items[:half])
		if ctx.Err() != nil {
			return append(retry, items[half:]...)
		}
		return append(retry, u.call(ctx, items[half:])...)
	case err != nil:
		if ctx.Err() != nil {
			// Stopping, not failing: the records wait in the spool for the next start.
			return items
		}
		code := ErrorCode(err)
		u.metrics.calls.WithLabelValues(outcomeError).Inc()
		u.metrics.callErrors.WithLabelValues(code).Inc()
		u.limited.Warn("PutRecordBatch failed; the batch will be sent again: "+code,
			slog.Int(logKeyRecords, len(items)), slog.Any(logKeyError, err))
		return items
	}

	delivered := make([]spool.Entry, 0, len(items))
	var deliveredBytes int
	for i, r := range results {
		if r.Delivered() {
			delivered = append(delivered, items[i].entry)
			deliveredBytes += len(items[i].data)
			continue
		}
		code := r.ErrorCode
		if code == "" {
			code = "Unknown"
		}
		u.metrics.failedRecords.WithLabelValues(code).Inc()
		u.limited.Warn("destination refused records; they will be sent again: "+code,
			slog.String(logKeyMessage, r.ErrorMessage))
		retry = append(retry, items[i])
	}
	if len(retry) == 0 {
		u.metrics.calls.WithLabelValues(outcomeOK).Inc()
	} else {
		u.metrics.calls.WithLabelValues(outcomePartial).Inc()
	}
	if len(delivered) > 0 {
		u.delivered.Store(time.Now().UnixNano())
	}
	u.metrics.deliveredRecords.Add(float64(len(delivered)))
	u.metrics.deliveredBytes.Add(float64(deliveredBytes))
	if err := u.spool.Remove(delivered...); err != nil {
		u.limited.Error("cannot delete delivered records from the spool; they may be sent again after a restart",
			slog.Any(logKeyError, err))
	}
	return retry
}

// codedError is an error that carries the destination's error code, as smithy.APIError does for
// AWS answers.
type codedError interface {
	error
	ErrorCode() string
}

// ErrorCode names the kind of a failed call for logs and metrics: the AWS error code when the
// destination answered one, else what went wrong on the way ("Timeout", "NetworkError",
// "Unknown").
func ErrorCode(err error) string {
	if coded, ok := errors.AsType[codedError](err); ok && coded.ErrorCode() != "" {
		return coded.ErrorCode()
	}
	if isTimeout(err) {
		return "Timeout"
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return "NetworkError"
	}
	return "Unknown"
}

// isTimeout reports whether err says a call got no answer in time: its deadline passed, or the
// network timed out.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	netErr, ok := errors.AsType[net.Error](err)
	return ok && netErr.Timeout()
}
