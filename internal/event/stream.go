package event

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/intake"
	"github.com/kinesyslog/kinesyslog/internal/listener"
	"github.com/kinesyslog/kinesyslog/internal/record"
)

// ErrNotDurable is what the Durable of this stage's receipts returns: the committed messages are
// kept in memory only until the record stage spools them.
var ErrNotDurable = errors.New("event: kept in memory only")

// Formats of the intake log's entries (intake.Entry.Format): how Replay reads a message again.
const (
	FormatSyslog uint8 = 1
	FormatGELF   uint8 = 2
)

// A Stamper reads the time of an event from its message and says how the message is recorded.
// Implementations must be safe for concurrent use.
type Stamper interface {
	// Stamp returns the event time of msg, received at received from source. When msg is to be
	// recorded in another form, Stamp appends that form to dst and returns it as out; otherwise
	// out is nil and msg is recorded as it is.
	Stamp(dst, msg []byte, received time.Time, source string) (ts time.Time, out []byte)
}

// A StreamStamper is a Stamper that stamps with less work when it keeps state from one message
// of a stream to the next (syslog.Stamper keeps the last stamp's date and time): each Stream
// stamps with the Stamper ForStream returns, used by that Stream's goroutine only, which must
// return what the StreamStamper's Stamp would. (ForStream's result is spelled out rather than
// named Stamper so that a stamper can implement it without importing this package.)
type StreamStamper interface {
	Stamper
	ForStream() interface {
		Stamp(dst, msg []byte, received time.Time, source string) (ts time.Time, out []byte)
	}
}

// streamStamper returns the Stamper a Stream stamps with: stamper's ForStream if it is a
// StreamStamper, else stamper.
func streamStamper(stamper Stamper) Stamper {
	if ss, ok := stamper.(StreamStamper); ok {
		return ss.ForStream()
	}
	return stamper
}

// Streams opens the Stream of each sender onto buffers, stamping with stamper. It implements
// listener.Streams and is safe for concurrent use.
type Streams struct {
	buffers *buffer.Buffers
	stamper Stamper
	log     *intake.Log // nil: memory only
	format  uint8
	// ports are the ports that read another format than format, and stampers the Stamper of
	// each format Read gave, by code.
	ports    map[uint16]uint8
	stampers map[uint8]Stamper
	hold     *hold
}

// hold is the state of Streams.Hold, shared by every Stream of the Streams.
type hold struct {
	on atomic.Bool // read on every commit; set and cleared under mu
	mu sync.Mutex
	// upTo is where the log was when Replay ended the hold: what was appended before it is
	// replayed; a commit held before the end whose Append returned a later position is not.
	upTo intake.Position
	held int64 // messages held since Hold
}

// keep reports whether a commit whose Append returned pos, and that saw the hold on before it
// appended, leaves its messages to the log alone: the hold is still on, or Replay replays them.
func (h *hold) keep(pos intake.Position, n int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.on.Load() {
		h.held += int64(n)
		return true
	}
	return pos <= h.upTo
}

var _ listener.Streams = (*Streams)(nil)

// NewStreams returns the Streams of messages stamped by stamper into buffers, kept in memory
// only. With log set, each Commit first appends the messages to log as entries of format (a
// Format constant), and its Receipt is durable once the log has synced them.
func NewStreams(buffers *buffer.Buffers, stamper Stamper, log *intake.Log, format uint8) *Streams {
	return &Streams{buffers: buffers, stamper: stamper, log: log, format: format, hold: &hold{}}
}

// Hold makes every Commit and TryCommit of s keep its messages in the intake log only: they are
// appended and synced as usual, with the same Receipt, but not handed to the buffers, until
// Replay hands them on from the log. So while no record can be made (the record owner is not
// known yet) what is received waits on disk, within the log's cap, rather than in memory. Hold
// needs the intake log.
func (s *Streams) Hold() {
	s.hold.mu.Lock()
	defer s.hold.mu.Unlock()
	s.hold.on.Store(true)
}

// Held returns the number of messages kept in the log by commits since Hold, until Replay.
func (s *Streams) Held() int64 {
	s.hold.mu.Lock()
	defer s.hold.mu.Unlock()
	return s.hold.held
}

// Register registers with reg the gauge kinesyslog_intake_held_messages: the messages kept in the
// intake log by commits since Hold (Held), waiting for Replay.
func (s *Streams) Register(reg prometheus.Registerer) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "kinesyslog", Subsystem: "intake", Name: "held_messages",
		Help: "Messages kept in the intake log only, waiting for the record owner to be known."},
		func() float64 { return float64(s.Held()) })
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("event: register metrics: %w", err)
	}
	return nil
}

// readRoomBytes is the room in the intake log WaitRoom waits for: what the listeners' readers,
// each admitted by it, may then read at once and append without waiting at the cap. A
// connection's read is at most 64 KiB beyond a partial message, whose entries take up to about
// twice that for short messages (intake's per-entry overhead), so this is room for the reads of
// eight connections at once; more at once may find the log at its cap and wait in Append, as
// every read did before.
const readRoomBytes = 1 << 20

// WaitRoom returns once the intake log has room for readRoomBytes more (intake.Log.WaitRoom), so
// that what a listener reads next is appended at once rather than held in memory while the log
// cannot take it; or ctx's error, or the log's. Without the log it returns nil at once: the
// buffers' memory cap makes Commit block instead. It implements listener.Streams.
func (s *Streams) WaitRoom(ctx context.Context) error {
	if s.log == nil {
		return nil
	}
	if err := s.log.WaitRoom(ctx, readRoomBytes); err != nil {
		return fmt.Errorf("event: wait for room in the intake log: %w", err)
	}
	return nil
}

// Read makes the messages sent to ports read as format (a Format constant), stamped by stamper,
// rather than as the format NewStreams gave, so that one relay reads syslog and GELF on ports of
// their own. Replay stamps every entry of format with stamper, whatever its port: what an
// earlier run read as GELF is read as GELF again. Read with no ports serves Replay only. Call it
// before the Streams is used.
func (s *Streams) Read(format uint8, stamper Stamper, ports ...uint16) {
	if s.stampers == nil {
		s.ports, s.stampers = map[uint16]uint8{}, map[uint8]Stamper{}
	}
	s.stampers[format] = stamper
	for _, p := range ports {
		s.ports[p] = format
	}
}

// Stream returns a *Stream for the messages that source sends to port, numbered in the intake
// log as a stream of its own.
func (s *Streams) Stream(source netip.Addr, port uint16) listener.Stream {
	stamper, format := s.stamper, s.format
	if f, ok := s.ports[port]; ok {
		stamper, format = s.stampers[f], f
	}
	st := s.open(source, port, stamper, format)
	if s.log != nil {
		st.number = s.log.NewStream()
	}
	return st
}

// open returns the Stream of source to port, stamping with stamper, its log entries of format.
func (s *Streams) open(source netip.Addr, port uint16, stamper Stamper, format uint8) *Stream {
	return &Stream{
		buffers: s.buffers,
		key:     buffer.Key{Source: source, Port: port},
		source:  source.Unmap().String(),
		stamper: streamStamper(stamper),
		ids:     record.NewIDs(),
		log:     s.log,
		hold:    s.hold,
		format:  format,
	}
}

// Replay ends Hold and hands the entries of the intake log that are not released to the
// buffers: those an earlier run left, and those held since Hold. They go through the same
// stamping as new messages, with their stored id and their stream and Seq, so that the record
// stage releases them once they are spooled, and are not appended again. Commits made meanwhile
// go to the buffers as usual. Then every batch holding a replayed event is handed on whatever
// its size and age, so that the log lets them go soon and a quick restart does not replay them
// again. Replay blocks as Commit does (the buffers at their cap); it returns the number of
// entries replayed, and fails when ctx ends while it waits for the log's sync, or once the
// buffers are closed. An entry is stamped as its format, when Read gave a Stamper for it, else
// as s's format. Call it once.
func (s *Streams) Replay(ctx context.Context) (int, error) {
	s.hold.mu.Lock()
	upTo := s.log.Position()
	s.hold.on.Store(false)
	s.hold.upTo, s.hold.held = upTo, 0
	s.hold.mu.Unlock()
	var (
		cur    *Stream
		n      int
		latest time.Time
	)
	err := s.log.Replay(ctx, upTo, func(e intake.Entry) error {
		if cur != nil && (cur.number != e.Stream || cur.key.Source != e.Source || cur.key.Port != e.Port) {
			if _, err := cur.Commit(ctx); err != nil {
				return err
			}
			cur = nil
		} else if cur != nil && cur.seq != e.Seq {
			// A commit is a run of consecutive Seq: a gap (released or damaged entries) starts
			// another.
			if _, err := cur.Commit(ctx); err != nil {
				return err
			}
		}
		if cur == nil {
			stamper, format := s.stamper, s.format
			if st, ok := s.stampers[e.Format]; ok {
				stamper, format = st, e.Format
			}
			cur = s.open(e.Source, e.Port, stamper, format)
			cur.number, cur.replay = e.Stream, true
		}
		cur.seq = e.Seq
		cur.add(ctx, e.Message, e.Received, record.UUID(e.ID), true)
		if e.Received.After(latest) {
			latest = e.Received
		}
		n++
		return cur.err
	})
	if err == nil && cur != nil {
		_, err = cur.Commit(ctx)
	}
	if err != nil {
		return n, fmt.Errorf("event: replay the intake log: %w", err)
	}
	if n > 0 {
		s.buffers.FlushReceived(latest)
	}
	return n, nil
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
	log      *intake.Log     // nil: memory only
	hold     *hold
	format   uint8
	number   uint64 // the stream's number in the log
	seq      uint64 // the Seq of the next message
	replay   bool   // the entries are in the log already
}

var _ listener.Stream = (*Stream)(nil)

// tryAppendWait bounds how long TryCommit waits for room in the intake log.
const tryAppendWait = 100 * time.Millisecond

// memoryOnly is the Receipt of events held in memory: never durable.
type memoryOnly struct{}

func (memoryOnly) Durable(context.Context) error { return ErrNotDurable }

// logged is the Receipt of events appended to the intake log up to pos.
type logged struct {
	log *intake.Log
	pos intake.Position
}

func (r logged) Durable(ctx context.Context) error { return r.log.WaitSynced(ctx, r.pos) }

// synced is the Receipt of replayed events: the log has had them since an earlier run.
type synced struct{}

func (synced) Durable(context.Context) error { return nil }

// Add stages one message, received at received. The message is copied; Add does not allocate
// once the buffers' stagings have grown. It waits while many other Streams stage (buffer.Stage).
// When more than buffer.MaxStagedBytes are staged already, Add first commits them as Commit does,
// blocking as it may until ctx is done; an error is returned by the next Commit.
func (s *Stream) Add(ctx context.Context, msg []byte, received time.Time) {
	s.add(ctx, msg, received, record.UUID{}, false)
}

// add is Add with the event's id given when fixed is set (a replayed entry).
func (s *Stream) add(ctx context.Context, msg []byte, received time.Time, id record.UUID, fixed bool) {
	if s.staged != nil && len(s.staged.Data) >= buffer.MaxStagedBytes {
		if _, s.err = s.Commit(ctx); s.err != nil {
			return
		}
	}
	if s.staged == nil {
		if s.staged, s.err = s.buffers.Stage(true); s.err != nil {
			return
		}
	}
	s.stage(msg, received, id, fixed)
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
	s.stage(msg, received, record.UUID{}, false)
}

// stage stages msg, with the id given when fixed is set, else the stream's next one.
func (s *Stream) stage(msg []byte, received time.Time, id record.UUID, fixed bool) {
	st := s.staged
	if !fixed {
		id = s.ids.Next(received.UnixMilli())
	}
	if s.log != nil {
		if !s.replay {
			// The entry keeps the message as received: a replay stamps it again. It is encoded
			// here, on the connection's goroutine, so that Commit's Append only copies it.
			st.Log.Add(&intake.Entry{Stream: s.number, Seq: s.seq, Source: s.key.Source, Port: s.key.Port,
				Format: s.format, Received: received, ID: id, Message: msg})
		}
		if !st.Logged {
			st.Logged, st.Run = true, intake.Run{Stream: s.number, First: s.seq}
		}
		st.Run.Last = s.seq
		s.seq++
	}
	ts, out := s.stamper.Stamp(st.Scratch[:0], msg, received, s.source)
	if out != nil {
		st.Scratch = out
		msg = out
	}
	if len(st.Ends) == 0 {
		st.Oldest = received
	}
	st.Data = record.AppendEvent(st.Data, id, roundedMillis(ts), msg)
	st.Ends = append(st.Ends, len(st.Data))
}

// roundedMillis is t.Round(time.Millisecond).UnixMilli(): the event's timestamp, rounded, not
// truncated, to the millisecond, as the spec's sample record shows; a half rounds up. It spares
// Round's general division, which cost a tenth of the rest of an event's making.
func roundedMillis(t time.Time) int64 {
	return t.Unix()*1000 + int64((t.Nanosecond()+500_000)/1_000_000)
}

// Number returns the Stream's number in the intake log (intake.Log.NewStream); 0 without it.
func (s *Stream) Number() uint64 { return s.number }

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
// lost. The Receipt is nil with an error.
//
// With the intake log, Commit first appends the messages to it with one Append (blocking while
// the log is at its cap, which is backpressure too, until ctx is done), and the Receipt's
// Durable waits until the log has synced them; a failed Append fails the Commit and the messages
// are not committed. A Commit that fails after the Append leaves them in the log, for the next
// start to replay. Without the log, the Receipt reports ErrNotDurable: the messages are in
// memory only. A listener that waits for Streams.WaitRoom before each read seldom finds the log
// at its cap here.
func (s *Stream) Commit(ctx context.Context) (listener.Receipt, error) {
	err := s.err
	s.err = nil
	var receipt listener.Receipt = memoryOnly{}
	if s.log != nil {
		receipt = synced{}
	}
	if st := s.staged; st != nil {
		s.staged = nil
		kept := false
		if err == nil && st.Log.Len() > 0 {
			held := s.hold.on.Load()
			var pos intake.Position
			if pos, err = s.log.Append(ctx, &st.Log); err == nil {
				receipt = logged{log: s.log, pos: pos}
				kept = held && s.hold.keep(pos, st.Log.Len())
			}
		}
		if err == nil && !kept {
			err = s.buffers.Commit(s.key, st)
		} else {
			s.buffers.Discard(st)
		}
	}
	if err != nil {
		return nil, err
	}
	return receipt, nil
}

// TryCommit is Commit for messages that cannot wait, such as UDP datagrams
// (buffer.Buffers.TryCommit). It never blocks on the buffers: what they cannot take is dropped,
// counted and logged, and TryCommit reports false. With the intake log it first appends the
// messages to it, waiting at most tryAppendWait for room in the log (the log at its cap, or a
// disk slower than the senders); past that they are dropped as well. What the buffers drop after
// the Append is released at once, so that it pins no segment.
func (s *Stream) TryCommit() bool {
	st := s.staged
	if st == nil {
		return true
	}
	s.staged = nil
	if st.Log.Len() == 0 {
		return s.buffers.TryCommit(s.key, st)
	}
	held := s.hold.on.Load()
	ctx, cancel := context.WithTimeout(context.Background(), tryAppendWait)
	pos, err := s.log.Append(ctx, &st.Log)
	cancel()
	if err != nil {
		s.buffers.Drop(s.key, st, err)
		return false
	}
	if held && s.hold.keep(pos, st.Log.Len()) {
		s.buffers.Discard(st)
		return true
	}
	run := st.Run
	if s.buffers.TryCommit(s.key, st) {
		return true
	}
	s.log.Release([]intake.Run{run}) // fails only once the log is closed: nothing to release then
	return false
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
