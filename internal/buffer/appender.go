package buffer

import (
	"log/slog"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

// A Stamper reads the time of an event from its message and says how the message is recorded.
// Implementations must be safe for concurrent use.
type Stamper interface {
	// Stamp returns the event time of msg, received at received from source. When msg is to be
	// recorded in another form, Stamp appends that form to dst and returns it as out; otherwise
	// out is nil and msg is recorded as it is.
	Stamp(dst, msg []byte, received time.Time, source string) (ts time.Time, out []byte)
}

// maxStagedBytes bounds what an Appender stages between commits: Add commits by itself beyond
// it, so that memory stays under the cap and a sender feels backpressure even from a caller that
// commits rarely (a stream whose reads seldom end on a message boundary, say).
const maxStagedBytes = 1 << 20

// An Appender stages the messages of one Key until Commit. It is not safe for concurrent use: a
// listener holds one per connection (or per datagram source).
type Appender struct {
	buffers *Buffers
	key     Key
	source  string
	stamper Stamper
	ids     *record.IDs
	staged  Batch
	scratch []byte
	err     error // of a commit made by Add, for the next Commit
}

// Appender returns an Appender for the messages of key.
func (b *Buffers) Appender(key Key, stamper Stamper) *Appender {
	return &Appender{
		buffers: b,
		key:     key,
		source:  key.Source.Unmap().String(),
		stamper: stamper,
		ids:     record.NewIDs(),
	}
}

// Add stages one message, received at received. The message is copied; Add does not allocate once
// the Appender's buffers have grown. When more than maxStagedBytes are staged already, Add first
// commits them as Commit does, blocking as it may; an error is returned by the next Commit.
func (a *Appender) Add(msg []byte, received time.Time) {
	if len(a.staged.Data) >= maxStagedBytes {
		if a.err = a.Commit(); a.err != nil {
			return // the Buffers are closed: the message is lost with those the error reports
		}
	}
	ts, out := a.stamper.Stamp(a.scratch[:0], msg, received, a.source)
	if out != nil {
		a.scratch = out
		msg = out
	}
	id := a.ids.Next(received.UnixMilli())
	if len(a.staged.Ends) == 0 {
		a.staged.Oldest = received
	}
	// Rounded, not truncated, to the millisecond, as the spec's sample record shows.
	a.staged.Data = record.AppendEvent(a.staged.Data, id, ts.Round(time.Millisecond).UnixMilli(), msg)
	a.staged.Ends = append(a.staged.Ends, len(a.staged.Data))
}

// Staged returns the number of bytes staged and not yet committed.
func (a *Appender) Staged() int { return len(a.staged.Data) }

// Commit hands the staged messages to the key's batch. It blocks while the encoder stage is busy
// or the memory cap is reached, which is how TCP senders feel backpressure; it fails only after
// the Buffers are closed, and the staged messages are then lost.
func (a *Appender) Commit() error {
	if err := a.err; err != nil {
		a.err = nil
		a.staged.reset()
		return err
	}
	if len(a.staged.Ends) == 0 {
		return nil
	}
	err := a.buffers.commit(a.key, &a.staged, true)
	a.staged.reset()
	return err
}

// TryCommit is Commit for messages that cannot wait, such as UDP datagrams. It never blocks: a
// full batch that the encoder stage cannot take yet stays in memory, and where Commit would wait
// for the memory cap, or after Close, it drops the staged messages, counts and logs them (at a
// limited rate), and reports false.
func (a *Appender) TryCommit() bool {
	if len(a.staged.Ends) == 0 && a.err == nil {
		return true
	}
	err := a.err
	a.err = nil
	if err == nil {
		err = a.buffers.commit(a.key, &a.staged, false)
	}
	if err != nil {
		n := len(a.staged.Ends)
		a.buffers.metrics.dropped.Add(float64(n))
		a.buffers.drops.Warn("messages dropped: the relay cannot keep up, or is shutting down",
			slog.Int("messages", n), slog.String("source", a.source), slog.Int("port", int(a.key.Port)),
			slog.String("reason", err.Error()))
	}
	a.staged.reset()
	return err == nil
}
