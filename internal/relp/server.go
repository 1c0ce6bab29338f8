package relp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/framing"
	"github.com/kinesyslog/kinesyslog/internal/ratelog"
)

// Defaults of Options.
const (
	// DefaultWindow is the unacknowledged frames a session takes: eight times librelp's client
	// window of 128, so that no rsyslog is refused.
	DefaultWindow = 1024
	// DefaultWriteTimeout bounds each write of acknowledgements to a client.
	DefaultWriteTimeout = 30 * time.Second
)

// flushBytes is how much the writer of a session gathers before it writes, when more answers
// are ready.
const flushBytes = 32 << 10

// ErrRefused, wrapped in an error of a Sink, refuses messages for good: they are answered
// rsp 500 with the error's text, and librelp then drops them (it logs "peer sent error
// response" and does not send them again). Any other error leaves them unacknowledged and ends
// the session, so that the client sends them again later.
var ErrRefused = errors.New("relp: message refused")

// A Sink takes the messages of a session. A Server calls it from one goroutine per session. A
// Sink that is also a framing.Memory accounts for the session's buffer of frames longer than the
// Reader's first buffer (Reader.SetMemory): its Grow may block, which stops the session reading
// (backpressure), and comes after a Commit, since no such frame is read without one before it.
type Sink interface {
	// Add stages msg, which is only valid during the call, received at received; truncated
	// says that msg is the first Options.MaxMessageBytes of a longer message.
	Add(msg []byte, received time.Time, truncated bool)
	// Commit hands on what was added and returns a Durable that says when it is stored. It
	// may block (backpressure: the session reads nothing meanwhile). An error refuses what was
	// added: for good when it wraps ErrRefused, else until the client sends it again.
	Commit() (Durable, error)
}

// A RoomWaiter is a Sink that may have no room for what a session reads next (the relay's
// intake log near its cap). A Server calls WaitRoom before each read of a session that may block,
// its first included, once the answers of what it committed are queued; when WaitRoom fails (ctx
// done at shutdown, or the sink takes nothing more) the session ends with serverclose, and the
// client sends what is unacknowledged again.
type RoomWaiter interface {
	WaitRoom(ctx context.Context) error
}

// A Durable says when committed messages are stored.
type Durable interface {
	// Wait returns nil once the messages are stored, or why they will not be (as for
	// Sink.Commit), or ctx's error. With a ctx already done it does not block: ctx's error
	// then says that the messages are not stored yet.
	Wait(ctx context.Context) error
}

// Options configures a Server. The zero value of each field selects its default.
type Options struct {
	// MaxMessageBytes is the longest message kept whole: a syslog frame's longer DATA is cut to
	// it (Sink.Add is told), any other frame's longer DATALEN ends the session. Default
	// framing.DefaultMaxMessageBytes.
	MaxMessageBytes int
	// Window is how many frames a client may have unacknowledged; one more ends the session.
	// Default DefaultWindow.
	Window int
	// IdleTimeout ends a session in which the client sent nothing and the server acknowledged
	// nothing for that long (up to 9/8 of it); 0: sessions may stay idle forever.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to a client; a client that does not read its
	// acknowledgements for that long (up to 9/8 of it) is closed. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Logger receives the session log lines; default slog.Default().
	Logger *slog.Logger
	// Registerer takes the metrics of the Server; nil: they are not registered.
	Registerer prometheus.Registerer
}

// Server speaks RELP to clients, one session per connection. Its methods are safe for
// concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	warn *ratelog.Logger
	m    *metrics
}

// NewServer returns a Server with opts, whose metrics are registered with opts.Registerer.
func NewServer(opts Options) (*Server, error) {
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = framing.DefaultMaxMessageBytes
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Server{opts: opts, log: opts.Logger, warn: ratelog.New(opts.Logger, 0), m: m}, nil
}

// Serve runs a RELP session on conn, handing its messages to sink, until the client closes it,
// it fails, or ctx is done; it closes conn before it returns. On ctx's end it stops reading and
// sends serverclose: what is not acknowledged by then is sent again by the client, to this
// relay or another. The error says why a session ended abnormally; it has been logged and
// counted already.
func (s *Server) Serve(ctx context.Context, conn net.Conn, sink Sink) error {
	s.m.sessions.Inc()
	defer s.m.sessions.Dec()
	ss := &session{srv: s, conn: conn, sink: sink, source: conn.RemoteAddr().String(),
		readBy: deadline{timeout: s.opts.IdleTimeout}, writeBy: deadline{timeout: s.opts.WriteTimeout},
		ready: make(chan struct{}, 1), written: make(chan struct{})}
	defer context.AfterFunc(ctx, ss.stop)()
	go ss.write(ctx)
	rerr := ss.read(ctx)
	ss.close()
	<-ss.written
	conn.Close()
	return errors.Join(rerr, ss.werr)
}

// session is one connection's RELP session: the goroutine of Serve reads frames and commits
// them to the sink; a writer goroutine waits for each commit's Durable in turn and writes the
// answers in the order of the frames.
type session struct {
	srv    *Server
	conn   net.Conn
	sink   Sink
	source string

	// readBy and writeBy are the deadlines of the connection, moved on lazily.
	readBy, writeBy deadline

	// unacked counts the frames read and not yet answered: the window in use.
	unacked atomic.Int64
	// serverclose says that the writer ends with a serverclose frame; set before close.
	serverclose bool
	// werr is why the writer failed; read after written is closed.
	werr    error
	written chan struct{}

	mu      sync.Mutex
	items   []item        // answers to write, in frame order
	spare   [][]int       // txnrs of items answered, emptied, for the reader's next batches
	closed  bool          // the reader adds no more items
	stopped bool          // reading has been stopped: ctx done or the writer failed
	ready   chan struct{} // signalled when items or closed change
}

// item is what the writer answers next: a batch of syslog frames acknowledged together once
// durable, or a single rsp.
type item struct {
	txnrs   []int   // syslog frames; nil for a single rsp
	durable Durable // nil when nothing was committed (empty messages only)
	err     error   // Commit's error
	txnr    int     // single rsp
	data    string  // its DATA
}

func (ss *session) push(it item) {
	ss.mu.Lock()
	ss.items = append(ss.items, it)
	ss.mu.Unlock()
	ss.signal()
}

// maxSpare bounds the slices of txnrs a session keeps for reuse: a few are in use at once, the
// batches read while earlier ones wait to be stored.
const maxSpare = 4

// pushBatch queues it and returns an empty slice for the next batch of txnrs, one the writer is
// done with when there is one, so that batches do not allocate as they grow.
func (ss *session) pushBatch(it item) []int {
	ss.mu.Lock()
	ss.items = append(ss.items, it)
	var txnrs []int
	if n := len(ss.spare); n > 0 {
		txnrs = ss.spare[n-1]
		ss.spare[n-1] = nil
		ss.spare = ss.spare[:n-1]
	}
	ss.mu.Unlock()
	ss.signal()
	return txnrs
}

// close tells the writer that no more items come.
func (ss *session) close() {
	ss.mu.Lock()
	ss.closed = true
	ss.mu.Unlock()
	ss.signal()
}

func (ss *session) signal() {
	select {
	case ss.ready <- struct{}{}:
	default:
	}
}

// next returns the next item to answer, waiting for one, and whether more are queued behind it;
// ok is false once the reader is done and every item was taken. done is the txnrs of the item
// answered before, kept for reuse.
func (ss *session) next(done []int) (it item, more, ok bool) {
	for {
		ss.mu.Lock()
		if cap(done) > 0 && len(ss.spare) < maxSpare {
			ss.spare = append(ss.spare, done[:0])
		}
		done = nil
		if len(ss.items) > 0 {
			it = ss.items[0]
			ss.items[0] = item{}
			ss.items = ss.items[1:]
			more = len(ss.items) > 0
			ss.mu.Unlock()
			return it, more, true
		}
		closed := ss.closed
		ss.mu.Unlock()
		if closed {
			return item{}, false, false
		}
		<-ss.ready
	}
}

// stop makes the reader's blocked or next read return at once and keeps it from being
// extended.
func (ss *session) stop() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.stopped = true
	ss.conn.SetReadDeadline(time.Now())
}

// extendRead moves the idle deadline on (see deadline), unless reading was stopped. The reader
// and the writer both call it.
func (ss *session) extendRead() {
	t, ok := ss.readBy.next(time.Now())
	if !ok {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.stopped {
		ss.conn.SetReadDeadline(t)
		ss.readBy.set(t)
	}
}

// deadline moves a connection's deadline on lazily: to 9/8 of its timeout from now, and only
// once less than the timeout is left. A busy session then sets it about once per eighth of the
// timeout rather than at every read or write (each a lock and a timer change in the runtime),
// and it still fires no sooner than the timeout after the last activity, and no later than 9/8
// of it. The first deadline is always set: it also clears the PROXY header's or the TLS
// handshake's.
type deadline struct {
	timeout time.Duration // 0: no deadline
	at      atomic.Int64  // the deadline set last, in Unix nanoseconds; 0 before the first
}

// next returns the deadline to set at now, and false when the one set last will do.
func (d *deadline) next(now time.Time) (time.Time, bool) {
	at := d.at.Load()
	switch {
	case at == 0:
	case d.timeout <= 0, at-now.UnixNano() >= int64(d.timeout):
		return time.Time{}, false
	}
	if d.timeout <= 0 {
		return time.Time{}, true
	}
	return now.Add(d.timeout + d.timeout/8), true
}

// set records t, the zero time for none, as the deadline set last.
func (d *deadline) set(t time.Time) {
	n := int64(math.MaxInt64)
	if !t.IsZero() {
		n = t.UnixNano()
	}
	d.at.Store(n)
}

func (ss *session) isStopped() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.stopped
}

// read reads and commits frames until the session ends or ctx is done while it waits for room,
// and queues their answers.
func (ss *session) read(ctx context.Context) error {
	r := NewReader(ss.conn, ss.srv.opts.MaxMessageBytes)
	r.TruncateSyslog()
	if m, ok := ss.sink.(framing.Memory); ok {
		r.SetMemory(m)
	}
	room, _ := ss.sink.(RoomWaiter)
	defer r.Free()
	window := int64(ss.srv.opts.Window)
	opened := false
	var (
		batch    []int // the txnrs of syslog frames read since the last commit
		added    int   // of which had a message
		received time.Time
	)
	// commit hands the batch to the sink and queues its answers; false means the sink failed
	// and the session ends.
	commit := func() bool {
		if len(batch) == 0 {
			return true
		}
		it := item{txnrs: batch}
		if added > 0 {
			it.durable, it.err = ss.sink.Commit()
		}
		batch, added = ss.pushBatch(it), 0
		return it.err == nil || errors.Is(it.err, ErrRefused)
	}
	for {
		if !r.Ready() {
			// Commit before a read may block: one network read's worth at a time.
			if !commit() {
				return nil
			}
			if room != nil {
				if err := room.WaitRoom(ctx); err != nil {
					ss.srv.log.Debug("relp session closed: no room for more messages", "source", ss.source, "error", err)
					ss.serverclose = true
					return nil
				}
			}
			ss.extendRead()
			received = time.Time{}
		}
		f, err := r.ReadFrame()
		if received.IsZero() {
			received = time.Now()
		}
		if err != nil {
			if !commit() {
				return nil
			}
			return ss.readError(err)
		}
		if f.Txnr == 0 {
			return ss.fail(reasonMalformed, fmt.Errorf("%w: %s frame with TXNR 0", ErrMalformed, f.Command))
		}
		if ss.unacked.Load() >= window {
			commit()
			return ss.fail(reasonWindow, fmt.Errorf("relp: more than %d frames unacknowledged", window))
		}
		ss.unacked.Add(1)
		if !opened {
			if f.Command != CmdOpen {
				return ss.fail(reasonNoOpen, fmt.Errorf("relp: first frame is %q, want open", f.Command))
			}
			if !offersSyslog(f.Data) {
				ss.push(item{txnr: f.Txnr, data: "500 required command not supported by client"})
				return ss.fail(reasonBadOffer, fmt.Errorf("relp: open offers %q, without commands=syslog", f.Data))
			}
			ss.push(item{txnr: f.Txnr, data: statusOK + "\n" + offers()})
			opened = true
			continue
		}
		switch f.Command {
		case CmdSyslog:
			if len(f.Data) > 0 {
				ss.sink.Add(f.Data, received, r.Truncated())
				added++
			}
			batch = append(batch, f.Txnr)
		case CmdClose:
			if !commit() {
				return nil
			}
			ss.push(item{txnr: f.Txnr, data: statusOK})
			ss.serverclose = true
			return nil
		default:
			if !commit() {
				return nil
			}
			ss.push(item{txnr: f.Txnr, data: "500 command not supported"})
			ss.srv.m.protocol.WithLabelValues(reasonUnknownCommand).Inc()
			ss.srv.warn.Warn(logMessages[reasonUnknownCommand], "source", ss.source, "command", f.Command)
		}
	}
}

// readError ends the session after a failed read.
func (ss *session) readError(err error) error {
	switch {
	case ss.isStopped():
		// Shutdown, or the writer failed and said why.
		ss.serverclose = true
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		ss.srv.log.Debug("relp session closed: idle", "source", ss.source)
		ss.serverclose = true
		return nil
	case errors.Is(err, ErrTooLarge):
		return ss.fail(reasonTooLarge, err)
	case errors.Is(err, ErrMalformed), errors.Is(err, io.ErrUnexpectedEOF):
		return ss.fail(reasonMalformed, err)
	}
	ss.srv.log.Debug("relp session closed", "source", ss.source, "error", err)
	return fmt.Errorf("relp: read from %s: %w", ss.source, err)
}

// logMessages are the log lines of the reasons, one each, so that each is rate-limited on its
// own.
var logMessages = map[string]string{
	reasonMalformed:      "relp session closed: malformed frame",
	reasonTooLarge:       "relp session closed: frame longer than the maximum message size",
	reasonNoOpen:         "relp session closed: first frame is not open",
	reasonBadOffer:       "relp session closed: client does not offer commands=syslog",
	reasonUnknownCommand: "relp frame refused: unknown command",
	reasonWindow:         "relp session closed: client exceeded the window",
	reasonWriteTimeout:   "relp session closed: client does not read its acknowledgements",
}

// fail counts and logs a protocol error that ends the session with serverclose.
func (ss *session) fail(reason string, err error) error {
	ss.srv.m.protocol.WithLabelValues(reason).Inc()
	ss.srv.warn.Warn(logMessages[reason], "source", ss.source, "error", err)
	ss.serverclose = true
	return err
}

// write answers the items in order until the reader is done, then ends with serverclose when
// the reader asks for it. After a failure it only takes the remaining items.
func (ss *session) write(ctx context.Context) {
	defer close(ss.written)
	var out []byte
	failed := false
	// poll is done already: Durable.Wait with it asks whether messages are stored.
	poll, cancel := context.WithCancel(ctx)
	cancel()
	var done []int
	for {
		it, more, ok := ss.next(done)
		if !ok {
			break
		}
		done = it.txnrs
		if failed {
			continue
		}
		if len(out) > 0 && !it.answerable(poll) {
			// The answers gathered go out now, not after it is stored: the client may be
			// waiting for them to send more.
			if !ss.flush(out) {
				failed = true
				continue
			}
			out = out[:0]
		}
		out, failed = ss.answer(ctx, out, it)
		if failed || !more || len(out) >= flushBytes {
			if !ss.flush(out) {
				failed = true
			}
			out = out[:0]
		}
	}
	if !failed && ss.serverclose {
		ss.flush(AppendFrame(out[:0], Frame{Command: CmdServerclose}))
	}
}

// answerable reports whether it can be answered without waiting for its Durable; poll is a
// context done already.
func (it item) answerable(poll context.Context) bool {
	if it.txnrs == nil || it.err != nil || it.durable == nil {
		return true
	}
	return !errors.Is(it.durable.Wait(poll), context.Canceled)
}

// answer appends the answers of it to out. failed means the session ends: out then holds what
// to write before it does.
func (ss *session) answer(ctx context.Context, out []byte, it item) (_ []byte, failed bool) {
	if it.txnrs == nil {
		ss.unacked.Add(-1)
		return AppendFrame(out, Frame{Txnr: it.txnr, Command: CmdRsp, Data: []byte(it.data)}), false
	}
	err := it.err
	if err == nil && it.durable != nil {
		err = it.durable.Wait(ctx)
	}
	status := statusOK
	switch {
	case err == nil:
		ss.srv.m.acknowledged.Add(float64(len(it.txnrs)))
	case errors.Is(err, ErrRefused):
		status = fmt.Sprintf("%d %v", codeError, err)
		ss.srv.m.refused.Add(float64(len(it.txnrs)))
		ss.srv.warn.Warn("relp messages refused", "source", ss.source, "error", err)
	default:
		if ctx.Err() == nil {
			ss.srv.warn.Warn("relp session closed: messages not stored; the client sends them again",
				"source", ss.source, "error", err)
			ss.werr = fmt.Errorf("relp: messages from %s not stored: %w", ss.source, err)
		}
		ss.stop()
		return AppendFrame(out, Frame{Command: CmdServerclose}), true
	}
	// Counted as answered before the write, so that a client answered at once never finds the
	// window still full.
	ss.unacked.Add(-int64(len(it.txnrs)))
	return appendRsps(out, it.txnrs, []byte(status)), false
}

// flush writes out within the write timeout; false means the session ends.
func (ss *session) flush(out []byte) bool {
	if len(out) == 0 {
		return true
	}
	if t, ok := ss.writeBy.next(time.Now()); ok {
		ss.conn.SetWriteDeadline(t)
		ss.writeBy.set(t)
	}
	if _, err := ss.conn.Write(out); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			ss.srv.m.protocol.WithLabelValues(reasonWriteTimeout).Inc()
			ss.srv.warn.Warn(logMessages[reasonWriteTimeout], "source", ss.source,
				"write_timeout", ss.srv.opts.WriteTimeout)
		}
		if ss.werr == nil {
			ss.werr = fmt.Errorf("relp: write to %s: %w", ss.source, err)
		}
		ss.stop()
		return false
	}
	// The client may have waited for these answers to send more: not idle.
	ss.extendRead()
	return true
}
