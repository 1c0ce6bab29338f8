package listener

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/framing"
	"github.com/kinesyslog/kinesyslog/internal/relp"
)

// newRELPServer returns the server of the RELP sessions of every RELP port, or nil when opts
// has none. Its metrics are registered with opts.Registerer.
func newRELPServer(opts Options) (*relp.Server, error) {
	if !slices.ContainsFunc(slices.Concat(opts.RELPPorts, opts.RELPTLSPorts), func(p int) bool { return p != 0 }) {
		return nil, nil
	}
	srv, err := relp.NewServer(relp.Options{
		MaxMessageBytes: opts.MaxMessageBytes,
		IdleTimeout:     opts.IdleTimeout,
		Logger:          opts.Logger,
		Registerer:      opts.Registerer,
	})
	if err != nil {
		return nil, fmt.Errorf("listener: RELP: %w", err)
	}
	return srv, nil
}

// serveRELP runs the RELP session of conn, after its PROXY header and TLS handshake, handing its
// messages to the sender's Stream. A message is acknowledged only once the Receipt of its
// Commit is durable; a Receipt that fails ends the session with serverclose and no
// acknowledgement, so that the client keeps the messages and sends them again. At shutdown the
// session reads and acknowledges until the end of the drain, then sends serverclose.
func (l *Listener) serveRELP(drained context.Context, conn net.Conn, source netip.Addr, port uint16, streams Streams) {
	sink := &relpSink{l: l, drained: drained, stream: streams.Stream(source, port), streams: streams, source: source, port: port}
	// The session sets its own read deadlines: idle timeout, and now at the end of the drain.
	if err := l.relp.Serve(drained, conn, sink); err != nil {
		// Logged and counted by the session already.
		l.log.Debug("relp session ended", "source", source, "port", port, "error", err)
	}
}

// relpSink is a Stream as a RELP session's Sink: messages as from framing, counted in the same
// metrics, Receipts as the Durable the session waits for before acknowledging, and the buffer of
// a long frame reserved under the buffers' cap, as a TCP connection's partial message is.
type relpSink struct {
	l       *Listener
	drained context.Context
	stream  Stream
	streams Streams // whose WaitRoom the session waits for before each read
	source  netip.Addr
	port    uint16
	// messages and bytes are what was added since the last commit, counted at the commit.
	messages, bytes int
}

var (
	_ relp.Sink       = (*relpSink)(nil)
	_ relp.RoomWaiter = (*relpSink)(nil)
	_ framing.Memory  = (*relpSink)(nil)
)

// Grow reserves n bytes of a long frame's buffer, waiting as a TCP connection does (connReader).
func (s *relpSink) Grow(n int) error { return s.l.reserve(s.drained, s.stream, n) }

// Shrink gives back n bytes reserved by Grow.
func (s *relpSink) Shrink(n int) { s.stream.Unreserve(n) }

func (s *relpSink) Add(msg []byte, received time.Time, truncated bool) {
	// As from the other listeners: an event reads the same whichever way it came.
	msg = trimTrailer(msg)
	if len(msg) == 0 {
		return
	}
	if truncated {
		s.l.m.truncated()
		s.l.warn.Warn("message truncated to the maximum size", "source", s.source, "port", s.port,
			"max_bytes", s.l.opts.MaxMessageBytes)
	}
	s.messages++
	s.bytes += len(msg)
	s.stream.Add(s.drained, msg, received)
}

func (s *relpSink) Commit() (relp.Durable, error) {
	s.l.m.received(s.messages, s.bytes)
	s.messages, s.bytes = 0, 0
	r, err := s.stream.Commit(s.drained)
	if err != nil {
		return nil, fmt.Errorf("listener: commit RELP messages: %w", err)
	}
	return receiptDurable{r}, nil
}

// WaitRoom waits for room for the session's next read (Streams.WaitRoom), as a TCP connection
// does before each read.
func (s *relpSink) WaitRoom(ctx context.Context) error { return s.streams.WaitRoom(ctx) }

// receiptDurable is a Receipt as a relp.Durable.
type receiptDurable struct{ r Receipt }

func (d receiptDurable) Wait(ctx context.Context) error { return d.r.Durable(ctx) }
