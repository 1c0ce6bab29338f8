package upload

import (
	"context"
	"sync"
	"time"
)

// growBatchDivisor sets how much the batch size grows back after a call that went well: an
// eighth of a full call, so that a batch halved from the full size is whole again after four such
// calls.
const growBatchDivisor = 8

// A window bounds what the Uploader sends at once, AIMD-style as TCP bounds what it has in flight:
// how many calls, and how many bytes of records each call carries.
//
//   - It starts with one call of the destination's Limits.MaxBatchBytes, and lets one more call
//     in flight after each full call answered quickly, up to Options.Concurrency: a fast link
//     reaches it within a few calls, while a slow one stops short of the calls that would time
//     out together (a timed-out call may still be stored by the destination, so that resending
//     it is a duplicate, and what it sent keeps the link busy after the uploader gave up on it).
//   - A call that times out halves the calls allowed in flight, down to one, then the bytes per
//     call, down to one record: on a slow link, calls that share it time out together, and each
//     timed-out call may still be stored by the destination, so that resending it is a duplicate.
//     Calls that started before the last decrease do not decrease it again: they were sent under
//     the wider window, and their timeouts are the same congestion.
//   - A call refused for its size lowers the bytes per call to half of what it carried.
//   - A call answered in less than half the timeout that was full (more than half the batch size,
//     or Limits.MaxRecords records) grows the window back additively: first the bytes per call by
//     an eighth of a full call, then, when it took the last free slot, the calls in flight by
//     one. A call that took longer says that the link is about as full as the timeout allows, so
//     the window stays put rather than probing into the next timeout; a call that was not full
//     says nothing of what a wider window would meet.
//
// A window is safe for concurrent use.
type window struct {
	maxCalls   int
	timeout    time.Duration
	maxBatch   int64 // bytes of a full call
	maxRecords int   // records of a full call
	metrics    *metrics

	mu       sync.Mutex
	calls    int   // calls allowed in flight, 1 to maxCalls
	batch    int64 // bytes allowed per call, 1 to maxBatch; a call always holds one record
	inflight int
	epoch    uint64        // counts the decreases after timeouts
	changed  chan struct{} // closed and replaced when a slot frees or the window grows
}

// A slot is one call's place in the window, from acquire to release.
type slot struct {
	epoch uint64    // the window's epoch when the call started
	full  bool      // the call took the last free slot
	start time.Time // when the call started
}

// What happened to a call, as release learns it.
type callEvent int

const (
	callAnswered callEvent = iota // the destination answered, whatever it said of each record
	callTimedOut                  // no answer within the timeout
	callTooLarge                  // refused for its size
	callFailed                    // any other failure, or cut short by the caller: says nothing of the link
)

func newWindow(maxCalls int, timeout time.Duration, limits Limits, m *metrics) *window {
	w := &window{
		maxCalls:   maxCalls,
		timeout:    timeout,
		maxBatch:   int64(limits.MaxBatchBytes),
		maxRecords: limits.MaxRecords,
		metrics:    m,
		calls:      1,
		batch:      int64(limits.MaxBatchBytes),
		changed:    make(chan struct{}),
	}
	w.report()
	return w
}

// limits returns the calls allowed in flight and the bytes allowed per call.
func (w *window) limits() (calls int, batchBytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls, w.batch
}

// acquire waits for a free call slot, or returns ctx's error when ctx is done first.
func (w *window) acquire(ctx context.Context) (slot, error) {
	for {
		w.mu.Lock()
		if w.inflight < w.calls {
			w.inflight++
			s := slot{epoch: w.epoch, full: w.inflight == w.calls, start: time.Now()}
			w.mu.Unlock()
			return s, nil
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return slot{}, ctx.Err()
		}
	}
}

// release frees s after a call of n records and size bytes and adapts the window to what happened
// to it. It reports whether the window shrank.
func (w *window) release(s slot, ev callEvent, n int, size int64) (shrank bool) {
	elapsed := time.Since(s.start)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight--
	calls, batch := w.calls, w.batch
	switch ev {
	case callTimedOut:
		if s.epoch != w.epoch {
			break
		}
		w.epoch++
		if w.calls > 1 {
			w.calls /= 2
		} else {
			w.batch = max(1, min(w.batch, size/2))
		}
	case callTooLarge:
		w.batch = max(1, min(w.batch, size/2))
	case callAnswered:
		if elapsed >= w.timeout/2 || size <= w.batch/2 && n < w.maxRecords {
			break
		}
		switch {
		case w.batch < w.maxBatch:
			w.batch = min(w.maxBatch, w.batch+w.maxBatch/growBatchDivisor)
		case w.calls < w.maxCalls && s.full:
			w.calls++
		}
	}
	close(w.changed)
	w.changed = make(chan struct{})
	if w.calls != calls || w.batch != batch {
		w.report()
	}
	return w.calls < calls || w.batch < batch
}

// report sets the window's gauges; w.mu must be held, or w not yet shared.
func (w *window) report() {
	w.metrics.windowCalls.Set(float64(w.calls))
	w.metrics.windowBatchBytes.Set(float64(w.batch))
}
