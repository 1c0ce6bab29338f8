package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/mmsg"
	"github.com/kinesyslog/kinesyslog/internal/relp"
)

// Framing is how messages are delimited on a TCP or TLS stream.
type Framing string

// The framings of RFC 6587.
const (
	OctetCounting Framing = "octet" // "MSG-LEN SP MSG" (RFC 6587 section 3.4.1, RFC 5425)
	LF            Framing = "lf"    // "MSG LF" (RFC 6587 section 3.4.2)
)

// Networks a Load is sent over.
const (
	TCP = "tcp"
	UDP = "udp"
	TLS = "tls"
	// RELP sends each message as a RELP syslog frame over TCP, with librelp's window of
	// unacknowledged messages per session; a message counts as sent once it is acknowledged.
	RELP = "relp"
)

const (
	// chunkBytes is how much a stream writes per call: large enough that the syscall is a small
	// part of the cost per message, small enough that a paced stream stays close to its rate.
	chunkBytes = 128 << 10
	// pacingQuantum is the granularity of a paced stream: it sends what is due, then sleeps.
	pacingQuantum = time.Millisecond
	// dialTimeout bounds each connection attempt.
	dialTimeout = 10 * time.Second
)

// A Load is the traffic of one run: which messages, over what, how fast and how many.
type Load struct {
	Network string  // TCP, UDP, TLS or RELP
	Address string  // host:port of the receiver
	Framing Framing // of TCP and TLS streams
	// Streams is the number of connections (TCP, TLS) or sockets (UDP) sending in parallel.
	Streams int
	// Count is the number of messages over all streams; 0 sends for Duration instead.
	Count int
	// Duration bounds a load without Count.
	Duration time.Duration
	// Rate is the messages per second over all streams; 0 sends as fast as the receiver takes
	// them (TCP, TLS) or as fast as the sockets go (UDP).
	Rate      int
	Generator Generator
}

// Validate reports what is wrong with l.
func (l *Load) Validate() error {
	var errs []error
	switch l.Network {
	case TCP, TLS:
		if l.Framing != OctetCounting && l.Framing != LF {
			errs = append(errs, fmt.Errorf("bench: unknown framing %q (want %s or %s)", l.Framing, OctetCounting, LF))
		}
	case UDP, RELP:
	default:
		errs = append(errs, fmt.Errorf("bench: unknown network %q (want tcp, udp, tls or relp)", l.Network))
	}
	if l.Streams < 1 {
		errs = append(errs, fmt.Errorf("bench: %d streams: want at least 1", l.Streams))
	}
	if l.Count < 0 || l.Rate < 0 || (l.Count == 0 && l.Duration <= 0) {
		errs = append(errs, errors.New("bench: give a positive message count or duration, and a rate >= 0"))
	}
	if err := l.Generator.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Sent is what a load sent.
type Sent struct {
	// Counts is the number of messages each stream sent: its messages are seq 0 to Counts[i]-1.
	Counts []int
	// Bytes is the number of message bytes sent, without framing.
	Bytes int64
	// Elapsed is how long sending took, from the first connection to the last write.
	Elapsed time.Duration
}

// Total returns the number of messages sent.
func (s Sent) Total() int {
	n := 0
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Send sends the load and returns what was sent, as far as it got when it fails. The streams all
// connect before the first message is sent; a TCP or TLS connection is closed once its share is
// written, a RELP session once its share is acknowledged.
func Send(ctx context.Context, l Load) (Sent, error) {
	if err := l.Validate(); err != nil {
		return Sent{}, err
	}
	conns := make([]net.Conn, l.Streams)
	for i := range conns {
		c, err := dial(ctx, l.Network, l.Address)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return Sent{Counts: make([]int, l.Streams)}, err
		}
		conns[i] = c
	}
	var (
		wg    sync.WaitGroup
		sent  = Sent{Counts: make([]int, l.Streams)}
		bytes = make([]int64, l.Streams)
		errs  = make([]error, l.Streams)
	)
	start := time.Now()
	deadline := time.Time{}
	if l.Count == 0 {
		deadline = start.Add(l.Duration)
	}
	for i, c := range conns {
		s := stream{
			load:     &l,
			id:       i,
			conn:     c,
			quota:    share(l.Count, l.Streams, i),
			deadline: deadline,
			pace:     pacer{start: start, perSecond: float64(share(l.Rate, l.Streams, i))},
		}
		wg.Go(func() {
			defer c.Close()
			sent.Counts[i], bytes[i], errs[i] = s.run(ctx)
		})
	}
	wg.Wait()
	sent.Elapsed = time.Since(start)
	for _, b := range bytes {
		sent.Bytes += b
	}
	return sent, errors.Join(errs...)
}

// share returns stream i's part of n split over streams.
func share(n, streams, i int) int {
	s := n / streams
	if i < n%streams {
		s++
	}
	return s
}

func dial(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	var (
		c   net.Conn
		err error
	)
	switch network {
	case RELP:
		c, err = d.DialContext(ctx, "tcp", address)
	case TLS:
		td := tls.Dialer{NetDialer: &d, Config: &tls.Config{
			// The receiver under test makes its own self-signed certificate: there is nothing to
			// verify it against, and the benchmark measures the transfer, not the trust.
			InsecureSkipVerify: true,
		}}
		c, err = td.DialContext(ctx, "tcp", address)
	default:
		c, err = d.DialContext(ctx, network, address)
	}
	if err != nil {
		return nil, fmt.Errorf("bench: connect over %s to %s: %w", network, address, err)
	}
	return c, nil
}

// stream sends one connection's or socket's share of a load.
type stream struct {
	load     *Load
	id       int
	conn     net.Conn
	quota    int       // messages to send; 0 with a deadline
	deadline time.Time // zero with a quota
	pace     pacer
}

// run sends the stream's messages and returns how many it sent and their bytes.
func (s *stream) run(ctx context.Context) (int, int64, error) {
	switch s.load.Network {
	case UDP:
		return s.runDatagrams(ctx)
	case RELP:
		return s.runRELP(ctx)
	}
	return s.runStream(ctx)
}

// due returns how many messages the stream may send now, having sent n; -1 when it is done.
func (s *stream) due(n int, now time.Time) int {
	if s.quota > 0 && n >= s.quota || s.quota == 0 && !now.Before(s.deadline) {
		return -1
	}
	d := 1 << 30
	if s.quota > 0 {
		d = s.quota - n
	}
	if s.pace.perSecond > 0 {
		d = min(d, s.pace.due(now)-n)
	}
	return d
}

// next waits until the stream, having sent n messages, is due to send more, and returns how
// many; 0 once it has sent all it should or ctx is done.
func (s *stream) next(ctx context.Context, n int) int {
	for ctx.Err() == nil {
		if d := s.due(n, time.Now()); d != 0 {
			return max(d, 0)
		}
		time.Sleep(pacingQuantum)
	}
	return 0
}

func (s *stream) runStream(ctx context.Context) (int, int64, error) {
	buf := make([]byte, 0, chunkBytes+64<<10)
	var msg []byte
	gen := s.load.Generator.Stream(s.id)
	n, total := 0, int64(0)
	for {
		d := s.next(ctx, n)
		if d == 0 {
			return n, total, ctx.Err()
		}
		buf = buf[:0]
		first, chunk := n, int64(0)
		for ; n-first < d && len(buf) < chunkBytes; n++ {
			msg = gen.Append(msg[:0], n)
			chunk += int64(len(msg))
			if s.load.Framing == OctetCounting {
				buf = appendUint(buf, uint64(len(msg)))
				buf = append(buf, ' ')
				buf = append(buf, msg...)
			} else {
				buf = append(append(buf, msg...), '\n')
			}
		}
		if _, err := s.conn.Write(buf); err != nil {
			// What part of the chunk the receiver got is unknown: count none of it.
			return first, total, fmt.Errorf("bench: stream %d: write: %w", s.id, err)
		}
		total += chunk
	}
}

// runRELP sends the stream's messages over one RELP session, as rsyslog's omrelp does: each
// message a syslog frame, at most relp.DefaultClientWindow of them unacknowledged. A message
// counts once the receiver acknowledged it. The frames that a window opened by several answers
// takes are written together (relp.Client), where omrelp writes each on its own: the bytes are
// the same, the generator's CPU a third of what it was, for both receivers.
func (s *stream) runRELP(ctx context.Context) (int, int64, error) {
	var (
		acked int
		total int64
	)
	c, err := relp.NewClient(ctx, s.conn, relp.ClientOptions{OnResponse: func(msg []byte, err error) {
		if err == nil {
			acked++
			total += int64(len(msg))
		}
	}})
	if err != nil {
		return 0, 0, fmt.Errorf("bench: session %d: %w", s.id, err)
	}
	var msg []byte
	gen := s.load.Generator.Stream(s.id)
	n := 0
	for {
		d := s.next(ctx, n)
		if d == 0 {
			break
		}
		for range d {
			msg = gen.Append(msg[:0], n)
			if err := c.Send(ctx, msg); err != nil {
				return acked, total, fmt.Errorf("bench: session %d: %w", s.id, err)
			}
			n++
		}
	}
	if err := c.Close(ctx); err != nil {
		return acked, total, fmt.Errorf("bench: session %d: %w", s.id, err)
	}
	if acked != n {
		return acked, total, fmt.Errorf("bench: session %d: %d of %d messages acknowledged", s.id, acked, n)
	}
	return acked, total, ctx.Err()
}

// datagramBatch is the most datagrams a UDP stream sends per system call.
const datagramBatch = 64

func (s *stream) runDatagrams(ctx context.Context) (int, int64, error) {
	w, err := mmsg.NewWriter(s.conn.(*net.UDPConn))
	if err != nil {
		return 0, 0, err
	}
	var (
		gen   = s.load.Generator.Stream(s.id)
		buf   []byte
		msgs  = make([][]byte, 0, datagramBatch)
		ends  = make([]int, 0, datagramBatch)
		n     int
		total int64
	)
	for {
		d := s.next(ctx, n)
		if d == 0 {
			return n, total, ctx.Err()
		}
		buf, msgs, ends = buf[:0], msgs[:0], ends[:0]
		for i := range min(d, datagramBatch) {
			buf = gen.Append(buf, n+i)
			ends = append(ends, len(buf))
		}
		start := 0
		for _, end := range ends {
			msgs = append(msgs, buf[start:end])
			start = end
		}
		sent, err := w.Write(msgs)
		n += sent
		if sent > 0 {
			total += int64(ends[sent-1])
		}
		if err != nil {
			return n, total, fmt.Errorf("bench: socket %d: send: %w", s.id, err)
		}
	}
}

// pacer spreads a stream's messages evenly over time.
type pacer struct {
	start     time.Time
	perSecond float64
}

// due returns how many messages should have been sent by now.
func (p pacer) due(now time.Time) int {
	return int(now.Sub(p.start).Seconds()*p.perSecond) + 1
}
