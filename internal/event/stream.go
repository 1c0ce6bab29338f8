package event

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/listener"
	"github.com/kinesyslog/kinesyslog/internal/record"
)

// ErrNotDurable is what the Durable of this stage's receipts returns: the committed messages are
// kept in memory only until the record stage spools them.
var ErrNotDurable = errors.New("event: kept in memory only")

// A Stamper reads the time of an event from its message and says how the message is recorded.
// Implementations must be safe for concurrent use.
type Stamper interface {
	// Stamp returns the event time of msg, received at received from source. When msg is to be
	// recorded in another form, Stamp appends that form to dst and returns it as out; otherwise
	// out is nil and msg is recorded as it is.
	Stamp(dst, msg []byte, received time.Time, source string) (ts time.Time, out []byte)
}

// Streams opens the Stream of each sender onto buffers, stamping with stamper. It implements
// listener.Streams and is safe for concurrent use.
type Streams struct {
	buffers *buffer.Buffers
	stamper Stamper
}

var _ listener.Streams = (*Streams)(nil)

// NewStreams returns the Streams of messages stamped by stamper into buffers.
func NewStreams(buffers *buffer.Buffers, stamper Stamper) *Streams {
	return &Streams{buffers: buffers, stamper: stamper}
}

// Stream returns a *Stream for the messages that source sends to port.
func (s *Streams) Stream(source netip.Addr, port uint16) listener.Stream {
	return &Stream{
		buffers: s.buffers,
		key:     buffer.Key{Source: source, Port: port},
		source:  source.Unmap().String(),
		stamper: s.stamper,
		ids:     record.NewIDs(),
	}
}

// A Stream makes the events of one sender to one listener port and commits them to the buffers.
// It implements listener.Stream and is not safe for concurrent use: a listener holds one per
// connection (or per datagram source).
type Stream struct {
	buffers  *buffer.Buffers
	key      buffer.Key
	source   string
	stamper  Stamper
	ids      *record.IDs
	staged   *buffer.Staging // nil between commits
	reserved int             // bytes reserved by Reserve
	err      error           // of a commit made by Add, for the next Commit
}

var _ listener.Stream = (*Stream)(nil)

// memoryOnly is the Receipt of events held in memory: never durable.
type memoryOnly struct{}

func (memoryOnly) Durable(context.Context) error { return ErrNotDurable }

// Add stages one message, received at received. The message is copied; Add does not allocate
// once the buffers' stagings have grown. It waits while many other Streams stage (buffer.Stage).
// When more than buffer.MaxStagedBytes are staged already, Add first commits them as Commit does,
// blocking as it may; an error is returned by the next Commit.
func (s *Stream) Add(msg []byte, received time.Time) {
	if s.staged != nil && len(s.staged.Data) >= buffer.MaxStagedBytes {
		if _, s.err = s.Commit(); s.err != nil {
			return // the buffers are closed: the message is lost with those the error reports
		}
	}
	if s.staged == nil {
		if s.staged, s.err = s.buffers.Stage(true); s.err != nil {
			return
		}
	}
	s.stage(msg, received)
}

// TryAdd is Add for messages that cannot wait, such as UDP datagrams: it never blocks. When more
// than buffer.MaxStagedBytes are staged already, it first commits them as TryCommit does,
// dropping and counting them at the memory cap.
func (s *Stream) TryAdd(msg []byte, received time.Time) {
	if s.staged != nil && len(s.staged.Data) >= buffer.MaxStagedBytes {
		s.TryCommit()
	}
	if s.staged == nil {
		s.staged, _ = s.buffers.Stage(false) // never fails without wait
	}
	s.stage(msg, received)
}

func (s *Stream) stage(msg []byte, received time.Time) {
	st := s.staged
	ts, out := s.stamper.Stamp(st.Scratch[:0], msg, received, s.source)
	if out != nil {
		st.Scratch = out
		msg = out
	}
	id := s.ids.Next(received.UnixMilli())
	if len(st.Ends) == 0 {
		st.Oldest = received
	}
	// Rounded, not truncated, to the millisecond, as the spec's sample record shows.
	st.Data = record.AppendEvent(st.Data, id, ts.Round(time.Millisecond).UnixMilli(), msg)
	st.Ends = append(st.Ends, len(st.Data))
}

// Staged returns the number of bytes staged and not yet committed.
func (s *Stream) Staged() int {
	if s.staged == nil {
		return 0
	}
	return len(s.staged.Data)
}

// Commit hands the staged messages to the buffers (buffer.Buffers.Commit). It blocks while the
// stages behind are busy or the memory cap is reached, which is how TCP senders feel
// backpressure; it fails only after the buffers are closed, and the staged messages are then
// lost. The Receipt, nil with an error, reports ErrNotDurable: the messages are in memory only.
func (s *Stream) Commit() (listener.Receipt, error) {
	err := s.err
	s.err = nil
	if st := s.staged; st != nil {
		s.staged = nil
		if err == nil {
			err = s.buffers.Commit(s.key, st)
		} else {
			s.buffers.Discard(st)
		}
	}
	if err != nil {
		return nil, err
	}
	return memoryOnly{}, nil
}

// TryCommit is Commit for messages that cannot wait, such as UDP datagrams
// (buffer.Buffers.TryCommit). It never blocks: what the buffers cannot take is dropped, counted
// and logged, and TryCommit reports false.
func (s *Stream) TryCommit() bool {
	st := s.staged
	if st == nil {
		return true
	}
	s.staged = nil
	return s.buffers.TryCommit(s.key, st)
}

// Reserve counts n bytes of a message still being read against the buffers' memory cap
// (buffer.Buffers.Reserve), blocking until they fit, ctx is done or the buffers are closed.
func (s *Stream) Reserve(ctx context.Context, n int) error {
	if err := s.buffers.Reserve(ctx, n); err != nil {
		return err
	}
	s.reserved += n
	return nil
}

// Unreserve gives back n bytes reserved by Reserve, at most as many as the Stream reserved.
func (s *Stream) Unreserve(n int) {
	n = min(n, s.reserved)
	s.reserved -= n
	s.buffers.Unreserve(n)
}
