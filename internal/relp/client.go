package relp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/framing"
)

// DefaultClientWindow is a Client's default window: librelp's.
const DefaultClientWindow = 128

// writeBufferBytes is how much a Client gathers before it writes.
const writeBufferBytes = 64 << 10

// ErrServerClosed means the server ended the session (serverclose).
var ErrServerClosed = errors.New("relp: server closed the session")

// ResponseError is a server's refusal of a frame: an rsp whose status code is not 200.
type ResponseError struct {
	Code int
	Text string
}

func (e *ResponseError) Error() string { return fmt.Sprintf("relp: refused: %d %s", e.Code, e.Text) }

// ClientOptions configures a Client. The zero value of each field selects its default.
type ClientOptions struct {
	// Window is how many messages may be unacknowledged; Send waits while that many are.
	// Default DefaultClientWindow.
	Window int
	// MaxDataBytes is the longest DATA of a response the client reads; default
	// framing.DefaultMaxMessageBytes.
	MaxDataBytes int
	// OnResponse, if set, is called with each message sent once the server answered it, in
	// the order sent: err is nil when it was acknowledged, a *ResponseError when refused. It is
	// called from the Client's methods; msg is the Client's copy, which the callee may keep.
	OnResponse func(msg []byte, err error)
}

// Client sends syslog messages over one RELP session: it numbers the transactions, keeps at
// most a window of messages unacknowledged, and remembers them until they are answered, so
// that a caller can send them again on a new session when this one breaks (as librelp does).
// It starts no goroutine: answers are read while Send waits for the window, and by Flush and
// Close. It is not safe for concurrent use.
//
// A Client is cheap per message once its window is full: when Send waits for an answer, it
// takes every further answer already read with it, so the window opens by as many slots as the
// server answered at once, and the frames sent into those slots are written together, in one
// write(2), when the window is full again (or 64 KiB are buffered). The bytes on the wire and
// their order are those of one write per frame, as librelp writes them; only the boundaries of
// the writes differ, which a TCP receiver cannot see, except in how many frames one of its reads
// returns: a receiver that reads slower than its senders gets several frames a read from omrelp
// too. The watch on a context (its deadline and cancellation end the connection's blocked reads
// and writes) is armed once for each context the methods are given, not once a call, and lasts
// until Close or an error ends the session.
type Client struct {
	conn    net.Conn
	r       *Reader
	opts    ClientOptions
	txnr    int
	out     []byte    // frames not written yet
	pending []pending // sent (or buffered) and not answered, oldest first
	err     error     // sticky: the session is over
	watched watched   // the context whose end ends the connection's reads and writes
}

// watched is the context a Client watches, by its Done channel and deadline rather than the
// context itself (contexts are passed, not kept); a zero watched watches none.
type watched struct {
	done     <-chan struct{}
	deadline time.Time
	stop     func() bool   // stops the AfterFunc (a no-op when done is nil); nil: none watched
	fired    chan struct{} // closed once the AfterFunc has set the deadline
}

type pending struct {
	txnr int
	msg  []byte
}

// Dial connects to address on network ("tcp") and opens a session.
func Dial(ctx context.Context, network, address string, opts ClientOptions) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("relp: dial %s: %w", address, err)
	}
	c, err := NewClient(ctx, conn, opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// NewClient opens a session on conn (e.g. a *tls.Conn): it sends open with this package's
// offers and checks that the server takes syslog. The Client owns conn from then on.
func NewClient(ctx context.Context, conn net.Conn, opts ClientOptions) (*Client, error) {
	if opts.Window <= 0 {
		opts.Window = DefaultClientWindow
	}
	if opts.MaxDataBytes <= 0 {
		opts.MaxDataBytes = framing.DefaultMaxMessageBytes
	}
	c := &Client{conn: conn, r: NewReader(conn, opts.MaxDataBytes), opts: opts}
	c.watch(ctx)
	if err := c.open(); err != nil {
		c.unwatch()
		return nil, err
	}
	return c, nil
}

// open sends open and checks its answer.
func (c *Client) open() error {
	txnr := c.next()
	c.out = AppendFrame(c.out, Frame{Txnr: txnr, Command: CmdOpen, Data: []byte(offers())})
	if err := c.write(); err != nil {
		return err
	}
	f, err := c.read()
	if err != nil {
		return fmt.Errorf("relp: open: %w", err)
	}
	code, text, rest, err := parseResponse(f.Data)
	switch {
	case err != nil:
		return fmt.Errorf("relp: open: %w", err)
	case f.Command != CmdRsp || f.Txnr != txnr:
		return fmt.Errorf("%w: answer to open is %d %s, want %d rsp", ErrMalformed, f.Txnr, f.Command, txnr)
	case code != codeOK:
		return fmt.Errorf("relp: open: %w", &ResponseError{Code: code, Text: text})
	case !offersSyslog(rest):
		return fmt.Errorf("relp: open: server offers %q, without commands=syslog", rest)
	}
	return nil
}

// next returns the next transaction number: 1 to MaxTxnr, then 1 again.
func (c *Client) next() int {
	c.txnr = c.txnr%MaxTxnr + 1
	return c.txnr
}

// Send sends msg as one syslog frame, first waiting (reading answers) while the window is full.
// It may keep the frame in a buffer: Flush or Close writes it, or a later Send. msg is copied.
func (c *Client) Send(ctx context.Context, msg []byte) error {
	if c.err != nil {
		return c.err
	}
	if len(c.pending) >= c.opts.Window || len(c.out) >= writeBufferBytes {
		c.watch(ctx)
		if err := c.write(); err != nil {
			return err
		}
		for len(c.pending) >= c.opts.Window {
			if err := c.answer(); err != nil {
				return err
			}
		}
		// The answers that came with the one waited for: the window opens by all of them, and
		// the frames sent into it go out in one write.
		for len(c.pending) > 0 && c.r.Ready() {
			if err := c.answer(); err != nil {
				return err
			}
		}
	}
	txnr := c.next()
	c.pending = append(c.pending, pending{txnr: txnr, msg: append([]byte(nil), msg...)})
	c.out = AppendFrame(c.out, Frame{Txnr: txnr, Command: CmdSyslog, Data: msg})
	return nil
}

// Flush writes what Send buffered and waits until every message sent is answered.
func (c *Client) Flush(ctx context.Context) error {
	if c.err != nil {
		return c.err
	}
	c.watch(ctx)
	if err := c.write(); err != nil {
		return err
	}
	for len(c.pending) > 0 {
		if err := c.answer(); err != nil {
			return err
		}
	}
	return nil
}

// Close flushes, sends close, waits for its answer and closes the connection. The connection is
// closed whatever the error.
func (c *Client) Close(ctx context.Context) error {
	defer c.unwatch()
	defer c.conn.Close()
	if err := c.Flush(ctx); err != nil {
		return err
	}
	txnr := c.next()
	c.out = AppendFrame(c.out, Frame{Txnr: txnr, Command: CmdClose})
	if err := c.write(); err != nil {
		return err
	}
	f, err := c.read()
	if err != nil {
		return fmt.Errorf("relp: close: %w", err)
	}
	if f.Command != CmdRsp || f.Txnr != txnr {
		return fmt.Errorf("%w: answer to close is %d %s, want %d rsp", ErrMalformed, f.Txnr, f.Command, txnr)
	}
	c.err = net.ErrClosed
	return nil
}

// Unacknowledged returns the messages sent and not answered, oldest first: after a broken
// session, what to send again.
func (c *Client) Unacknowledged() [][]byte {
	msgs := make([][]byte, len(c.pending))
	for i, p := range c.pending {
		msgs[i] = p.msg
	}
	return msgs
}

// answer reads one answer to a pending message.
func (c *Client) answer() error {
	f, err := c.read()
	if err != nil {
		return err
	}
	p := c.pending[0]
	if f.Command != CmdRsp || f.Txnr != p.txnr {
		return c.fail(fmt.Errorf("%w: answer is %d %s, want %d rsp", ErrMalformed, f.Txnr, f.Command, p.txnr))
	}
	code, text, _, err := parseResponse(f.Data)
	if err != nil {
		return c.fail(err)
	}
	c.pending[0] = pending{}
	c.pending = c.pending[1:]
	if c.opts.OnResponse != nil {
		var rerr error
		if code != codeOK {
			rerr = &ResponseError{Code: code, Text: text}
		}
		c.opts.OnResponse(p.msg, rerr)
	}
	return nil
}

// read reads a frame; serverclose and read errors end the session.
func (c *Client) read() (Frame, error) {
	f, err := c.r.ReadFrame()
	switch {
	case err != nil:
		return Frame{}, c.fail(fmt.Errorf("relp: read from %s: %w", c.conn.RemoteAddr(), err))
	case f.Command == CmdServerclose:
		return Frame{}, c.fail(ErrServerClosed)
	}
	return f, nil
}

// write writes the buffered frames.
func (c *Client) write() error {
	if len(c.out) == 0 {
		return nil
	}
	if _, err := c.conn.Write(c.out); err != nil {
		return c.fail(fmt.Errorf("relp: write to %s: %w", c.conn.RemoteAddr(), err))
	}
	c.out = c.out[:0]
	return nil
}

// fail ends the session with err, which it returns: every later call returns it too, and the
// context watched is no longer (a Client given up on after an error holds none of it).
func (c *Client) fail(err error) error {
	c.err = err
	c.unwatch()
	return err
}

// watch makes the connection's reads and writes end at ctx's deadline or cancellation, until
// another context is watched or unwatch is called. Watching the context already watched costs
// two comparisons: no deadline to set and no AfterFunc to register for every message.
func (c *Client) watch(ctx context.Context) {
	done := ctx.Done()
	deadline, _ := ctx.Deadline()
	if c.watched.stop != nil && done == c.watched.done && deadline.Equal(c.watched.deadline) {
		return
	}
	c.unwatch()
	c.conn.SetDeadline(deadline)
	c.watched = watched{done: done, deadline: deadline}
	if done == nil {
		// A context that never ends: the deadline is all there is to watch (the zero time is
		// none), and it is set.
		c.watched.stop = func() bool { return true }
		return
	}
	fired := make(chan struct{})
	c.watched.fired = fired
	c.watched.stop = context.AfterFunc(ctx, func() {
		c.conn.SetDeadline(time.Now())
		close(fired)
	})
}

// unwatch ends the watch of watch. A context that ended meanwhile has set the connection's
// deadline to the past; unwatch waits until it has, so that the next watch's deadline is not
// overwritten by it.
func (c *Client) unwatch() {
	if c.watched.stop != nil && !c.watched.stop() && c.watched.fired != nil {
		<-c.watched.fired
	}
	c.watched = watched{}
}
