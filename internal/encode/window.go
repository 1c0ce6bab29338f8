package encode

import (
	"context"
	"errors"
	"time"
)

// ErrDeadline is the cause of a ShutdownWindow that closed: what is not spooled by then is lost.
var ErrDeadline = errors.New("encode: --shutdown-timeout reached")

// ShutdownWindow returns a context that is done timeout after signal is done, with the cause
// ErrDeadline, or when parent is. Run under it, the stage spools until then, so that a spool
// that stays full or a record owner that is never learned cannot hold the shutdown longer; the
// last upload attempt shares it. With a timeout of 0 the window closes at the signal with the
// cause context.Canceled: nothing waits any more, but spooling is not cut short. Call stop to
// release its resources.
func ShutdownWindow(signal, parent context.Context, timeout time.Duration) (window context.Context, stop func()) {
	window, cancel := context.WithCancelCause(parent)
	cause := ErrDeadline
	if timeout == 0 {
		cause = context.Canceled
	}
	stopAfter := context.AfterFunc(signal, func() {
		t := time.AfterFunc(timeout, func() { cancel(cause) })
		context.AfterFunc(window, func() { t.Stop() })
	})
	return window, func() {
		stopAfter()
		cancel(context.Canceled)
	}
}
