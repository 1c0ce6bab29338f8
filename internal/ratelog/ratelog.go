// Package ratelog logs repeated conditions at a bounded rate: the first occurrence of each message
// is logged at once, later ones at most once per interval with the number suppressed meanwhile. It
// is how every stage reports bad input and failing peers without a log line per message.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is the least time between two lines with the same message.
const DefaultInterval = 10 * time.Second

// Logger is a rate-limited front of a *slog.Logger. A nil *Logger logs nothing. Its methods are
// safe for concurrent use.
type Logger struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	state map[string]*entry
}

type entry struct {
	last       time.Time
	suppressed int
}

// New returns a Logger that writes to log at most once per interval for each message; an
// interval <= 0 means DefaultInterval.
func New(log *slog.Logger, interval time.Duration) *Logger {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Logger{log: log, interval: interval, now: time.Now, state: make(map[string]*entry)}
}

// Warn logs msg at Warn level, subject to the rate limit.
func (l *Logger) Warn(msg string, args ...any) { l.Log(slog.LevelWarn, msg, args...) }

// Error logs msg at Error level, subject to the rate limit.
func (l *Logger) Error(msg string, args ...any) { l.Log(slog.LevelError, msg, args...) }

// Log logs msg at level unless a line with the same message was logged less than the interval
// ago. The line says how many were suppressed since the last one.
func (l *Logger) Log(level slog.Level, msg string, args ...any) {
	if l == nil || !l.log.Enabled(context.Background(), level) {
		return
	}
	now := l.now()
	l.mu.Lock()
	e := l.state[msg]
	if e == nil {
		e = &entry{}
		l.state[msg] = e
	} else if now.Sub(e.last) < l.interval {
		e.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := e.suppressed
	e.last, e.suppressed = now, 0
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args, slog.Int("suppressed", suppressed))
	}
	l.log.Log(context.Background(), level, msg, args...)
}
