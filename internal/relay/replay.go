package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/encode"
	"github.com/kinesyslog/kinesyslog/internal/event"
)

// ownerWaitReport is how often the relay says that it still waits for the record owner.
const ownerWaitReport = 30 * time.Second

// startReplay replays the intake log into the buffers (event.Streams.Replay) once records can be
// made, and returns a channel closed when it is done. When the record owner is known, it replays
// before it returns, so that what an earlier run left goes before any new message. Else it
// replays once owner learns it, and until then the streams hold (event.Streams.Hold, which the
// caller set): what arrives waits in the log, on disk, and the relay says so every
// ownerWaitReport. The replay ends early when ctx ends before the owner is known, or the buffers
// close during it: what is left stays in the log for the next start.
func startReplay(ctx context.Context, owner encode.Owner, streams *event.Streams, dir string, logger *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	now, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := owner.Owner(now); err == nil {
		replay(ctx, streams, dir, logger)
		close(done)
		return done
	}
	logger.Warn("waiting for the record owner: messages are kept in the intake log until it is known", "dir", dir)
	go func() {
		defer close(done)
		known := make(chan error, 1)
		go func() {
			_, err := owner.Owner(ctx)
			known <- err
		}()
		tick := time.NewTicker(ownerWaitReport)
		defer tick.Stop()
		for {
			select {
			case err := <-known:
				if err == nil {
					replay(ctx, streams, dir, logger)
				}
				return // else shutting down: the log keeps everything
			case <-tick.C:
				held := streams.Held()
				logger.Warn(fmt.Sprintf("waiting for the record owner; %d messages kept in the intake log", held), "messages", held)
			}
		}
	}()
	return done
}

// replay replays the intake log into the buffers and logs how it went.
func replay(ctx context.Context, streams *event.Streams, dir string, logger *slog.Logger) {
	n, err := streams.Replay(ctx)
	switch {
	case errors.Is(err, buffer.ErrClosed) || ctx.Err() != nil:
		logger.Info("intake log replay stopped by the shutdown: the rest is replayed at the next start", "messages", n)
	case err != nil:
		logger.Error("intake log replay failed: the rest is replayed at the next start", "messages", n, "error", err)
	default:
		logger.Info("intake log replayed", "dir", dir, "messages", n)
	}
}
