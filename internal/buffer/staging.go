package buffer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/intake"
	"github.com/kinesyslog/kinesyslog/internal/record"
)

const (
	// MaxStagedBytes is how much a stream should stage between commits: past it, the event stage
	// commits by itself, so that memory stays under the cap and a sender feels backpressure even
	// from a caller that commits rarely (a stream whose reads seldom end on a message boundary,
	// say). A read's worth of a listener's connection stages less.
	MaxStagedBytes = 256 << 10
	// maxStaging is how many Stagings may be borrowed with a slot at once; the others wait in
	// Stage for one to be committed. A listener commits before every read, so only connections
	// between a read and its commit stage: this bounds staging memory, a few MiB, however many
	// connections are open.
	maxStaging = 32
	// maxKeptStagingBytes is the largest staging buffer kept for reuse after a commit.
	maxKeptStagingBytes = 2 * MaxStagedBytes
)

// Staging is what one stream stages between two commits: JSON events (record.AppendEvent) in
// Events, and Oldest, when the first of them was received. It is borrowed from the Buffers with
// Stage and goes back to them with Commit, TryCommit or Discard, so that an idle stream holds no
// memory. A Staging is used by one goroutine at a time.
type Staging struct {
	record.Events
	// Oldest is when the first event was received; the caller sets it with the first event.
	Oldest time.Time
	// Scratch is room for the caller to build a message in (a Stamper's rewrite), kept with the
	// Staging so that it is reused and an idle stream holds none.
	Scratch []byte
	// Log is the intake log's entries of the events, encoded, for the caller to append to the
	// log before it commits; kept with the Staging so that its memory is reused.
	Log intake.Batch
	// Run, when Logged, is the intake log's run of the events: the batch keeps it with them, so
	// that the record stage releases it once they are spooled.
	Run    intake.Run
	Logged bool
	slot   bool // holds one of Buffers.stagingSlots
}

// Stage borrows a Staging. With wait, the caller may block (a TCP or TLS connection): Stage
// first waits while maxStaging others are borrowed with wait, and fails with ErrClosed only once
// the Buffers are closed. Without, it never blocks nor fails (datagrams).
func (b *Buffers) Stage(wait bool) (*Staging, error) {
	if wait {
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
	var st *Staging
	select {
	case st = <-b.stagings:
	default:
		st = new(Staging)
	}
	st.slot = wait
	return st, nil
}

// Discard gives back st without committing its events.
func (b *Buffers) Discard(st *Staging) {
	if st.slot {
		<-b.stagingSlots
	}
	if cap(st.Data) > maxKeptStagingBytes || cap(st.Scratch) > maxKeptStagingBytes || st.Log.Cap() > maxKeptStagingBytes {
		return
	}
	st.Data, st.Ends, st.Scratch, st.Oldest = st.Data[:0], st.Ends[:0], st.Scratch[:0], time.Time{}
	st.Log.Reset()
	st.Run, st.Logged = intake.Run{}, false
	select {
	case b.stagings <- st:
	default:
	}
}

// Commit hands the events of st to key's batch and gives st back. It blocks while the encoder
// stage is busy or the memory cap is reached, which is how TCP senders feel backpressure; it
// fails only after Close, and the events are then lost.
func (b *Buffers) Commit(key Key, st *Staging) error {
	defer b.Discard(st)
	if len(st.Ends) == 0 {
		return nil
	}
	return b.commit(key, st, true)
}

// TryCommit is Commit for events that cannot wait, such as those of UDP datagrams. It never
// blocks: a full batch that the encoder stage cannot take yet stays in memory, and where Commit
// would wait for the memory cap, or after Close, it drops the events, counts them
// (kinesyslog_buffer_dropped_messages_total), logs them at a limited rate, and reports false.
func (b *Buffers) TryCommit(key Key, st *Staging) bool {
	defer b.Discard(st)
	if len(st.Ends) == 0 {
		return true
	}
	err := b.commit(key, st, false)
	if err != nil {
		b.drop(key, st, err)
	}
	return err == nil
}

// Drop gives back st without committing its events, and counts, and logs at a limited rate, them
// as dropped (kinesyslog_buffer_dropped_messages_total) for reason: what a caller that cannot wait
// does with events it could not keep.
func (b *Buffers) Drop(key Key, st *Staging, reason error) {
	defer b.Discard(st)
	b.drop(key, st, reason)
}

func (b *Buffers) drop(key Key, st *Staging, reason error) {
	n := len(st.Ends)
	b.metrics.dropped.Add(float64(n))
	b.drops.Warn("messages dropped: the relay cannot keep up, or is shutting down",
		slog.Int("messages", n), slog.String("source", key.Source.Unmap().String()), slog.Int("port", int(key.Port)),
		slog.String("reason", reason.Error()))
}

// Reserve counts n bytes against the memory cap for what a connection holds outside the batches:
// the part of a message it has read and is still reading, in its framing buffer. Connections
// together reserve at most half the cap, so that batches always have room. Reserve blocks while
// the bytes do not fit, which stops the connection from reading (backpressure), until ctx is
// done or the Buffers are closed; it then fails and reserves nothing.
func (b *Buffers) Reserve(ctx context.Context, n int) error {
	if err := b.reserve(ctx.Done(), n, true, true); err != nil {
		return fmt.Errorf("buffer: reserve %d bytes for a message being read: %w", n, err)
	}
	return nil
}

// Unreserve gives back n bytes reserved by Reserve.
func (b *Buffers) Unreserve(n int) { b.free(n, true) }
