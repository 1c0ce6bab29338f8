package buffer

import (
	"context"
	"fmt"
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

const (
	// maxStagedBytes bounds what an Appender stages between commits: Add commits by itself beyond
	// it, so that memory stays under the cap and a sender feels backpressure even from a caller
	// that commits rarely (a stream whose reads seldom end on a message boundary, say). A read's
	// worth of a listener's connection stages less.
	maxStagedBytes = 256 << 10
	// maxStaging is how many Appenders may stage messages through Add at once; the others wait in
	// Add for one to commit. A listener commits before every read, so only connections between a
	// read and its commit stage: this bounds staging memory, a few MiB, however many connections
	// are open.
	maxStaging = 32
	// maxKeptStagingBytes is the largest staging buffer kept for reuse after a commit.
	maxKeptStagingBytes = 2 * maxStagedBytes
)

// staging is what an Appender stages between two commits; it goes back to its Buffers at each
// commit, so that an idle Appender holds no memory.
type staging struct {
	Batch
	scratch []byte // of the Stamper's rewrites
	slot    bool   // holds one of Buffers.stagingSlots
}

// An Appender stages the messages of one Key until Commit. It is not safe for concurrent use: a
// listener holds one per connection (or per datagram source).
type Appender struct {
	buffers  *Buffers
	key      Key
	source   string
	stamper  Stamper
	ids      *record.IDs
	staged   *staging // nil between commits
	reserved int      // bytes reserved by Reserve
	err      error    // of a commit made by Add, for the next Commit
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

// borrowStaging returns a staging buffer; with slot it first waits for one of the staging slots,
// and fails only once the Buffers are closed.
func (b *Buffers) borrowStaging(slot bool) (*staging, error) {
	if slot {
		select {
		case b.stagingSlots <- struct{}{}:
		default:
			b.metrics.waiting.Inc()
			select {
			case b.stagingSlots <- struct{}{}:
				b.metrics.waiting.Dec()
			case <-b.mem.closing:
				b.metrics.waiting.Dec()
				return nil, ErrClosed
			}
		}
	}
	var st *staging
	select {
	case st = <-b.stagings:
	default:
		st = new(staging)
	}
	st.slot = slot
	return st, nil
}

// returnStaging takes back a staging buffer whose messages were committed or dropped.
func (b *Buffers) returnStaging(st *staging) {
	if st.slot {
		<-b.stagingSlots
	}
	if cap(st.Data) > maxKeptStagingBytes || cap(st.scratch) > maxKeptStagingBytes {
		return
	}
	st.reset()
	select {
	case b.stagings <- st:
	default:
	}
}

// Add stages one message, received at received. The message is copied; Add does not allocate once
// the Buffers' staging buffers have grown. It waits while maxStaging other Appenders stage. When
// more than maxStagedBytes are staged already, Add first commits them as Commit does, blocking as
// it may; an error is returned by the next Commit.
func (a *Appender) Add(msg []byte, received time.Time) {
	if a.staged != nil && len(a.staged.Data) >= maxStagedBytes {
		if a.err = a.Commit(); a.err != nil {
			return // the Buffers are closed: the message is lost with those the error reports
		}
	}
	if a.staged == nil {
		if a.staged, a.err = a.buffers.borrowStaging(true); a.err != nil {
			return
		}
	}
	a.stage(msg, received)
}

// TryAdd is Add for messages that cannot wait, such as UDP datagrams: it never blocks. When more
// than maxStagedBytes are staged already, it first commits them as TryCommit does, dropping and
// counting them at the memory cap.
func (a *Appender) TryAdd(msg []byte, received time.Time) {
	if a.staged != nil && len(a.staged.Data) >= maxStagedBytes {
		a.TryCommit()
	}
	if a.staged == nil {
		a.staged, _ = a.buffers.borrowStaging(false) // never fails without a slot
	}
	a.stage(msg, received)
}

func (a *Appender) stage(msg []byte, received time.Time) {
	st := a.staged
	ts, out := a.stamper.Stamp(st.scratch[:0], msg, received, a.source)
	if out != nil {
		st.scratch = out
		msg = out
	}
	id := a.ids.Next(received.UnixMilli())
	if len(st.Ends) == 0 {
		st.Oldest = received
	}
	// Rounded, not truncated, to the millisecond, as the spec's sample record shows.
	st.Data = record.AppendEvent(st.Data, id, ts.Round(time.Millisecond).UnixMilli(), msg)
	st.Ends = append(st.Ends, len(st.Data))
}

// Staged returns the number of bytes staged and not yet committed.
func (a *Appender) Staged() int {
	if a.staged == nil {
		return 0
	}
	return len(a.staged.Data)
}

// Commit hands the staged messages to the key's batch. It blocks while the encoder stage is busy
// or the memory cap is reached, which is how TCP senders feel backpressure; it fails only after
// the Buffers are closed, and the staged messages are then lost.
func (a *Appender) Commit() error {
	err := a.err
	a.err = nil
	if err == nil && a.staged != nil && len(a.staged.Ends) > 0 {
		err = a.buffers.commit(a.key, &a.staged.Batch, true)
	}
	a.release()
	return err
}

// release gives the staging buffer back.
func (a *Appender) release() {
	if a.staged != nil {
		a.buffers.returnStaging(a.staged)
		a.staged = nil
	}
}

// TryCommit is Commit for messages that cannot wait, such as UDP datagrams. It never blocks: a
// full batch that the encoder stage cannot take yet stays in memory, and where Commit would wait
// for the memory cap, or after Close, it drops the staged messages, counts and logs them (at a
// limited rate), and reports false.
func (a *Appender) TryCommit() bool {
	err := a.err
	a.err = nil
	if a.staged == nil || len(a.staged.Ends) == 0 {
		a.release()
		return err == nil
	}
	if err == nil {
		err = a.buffers.commit(a.key, &a.staged.Batch, false)
	}
	if err != nil {
		n := len(a.staged.Ends)
		a.buffers.metrics.dropped.Add(float64(n))
		a.buffers.drops.Warn("messages dropped: the relay cannot keep up, or is shutting down",
			slog.Int("messages", n), slog.String("source", a.source), slog.Int("port", int(a.key.Port)),
			slog.String("reason", err.Error()))
	}
	a.release()
	return err == nil
}

// Reserve counts n bytes against the memory cap for what the Appender's connection holds outside
// the batches: the part of a message it has read and is still reading, in its framing buffer.
// Connections together reserve at most half the cap, so that batches always have room. Reserve
// blocks while the bytes do not fit, which stops the connection from reading (backpressure),
// until ctx is done or the Buffers are closed; it then fails and reserves nothing.
func (a *Appender) Reserve(ctx context.Context, n int) error {
	if err := a.buffers.reserve(ctx.Done(), n, true, true); err != nil {
		return fmt.Errorf("buffer: reserve %d bytes for a message being read: %w", n, err)
	}
	a.reserved += n
	return nil
}

// Unreserve gives back n bytes reserved by Reserve.
func (a *Appender) Unreserve(n int) {
	n = min(n, a.reserved)
	a.reserved -= n
	a.buffers.free(n, true)
}
