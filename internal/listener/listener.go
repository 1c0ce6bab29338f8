package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/certs"
	"github.com/kinesyslog/kinesyslog/internal/framing"
	"github.com/kinesyslog/kinesyslog/internal/ratelog"
	"github.com/kinesyslog/kinesyslog/internal/relp"
)

// Defaults of Options.
const (
	// DefaultDrainTimeout is how long open connections may still read at shutdown.
	DefaultDrainTimeout = time.Second
	// DefaultHandshakeTimeout bounds a TLS handshake, so that a client that stalls in it cannot
	// hold a connection slot; real handshakes take milliseconds, even across continents.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultProxyHeaderTimeout bounds the wait for a PROXY protocol header, which load
	// balancers send at once with the connection.
	DefaultProxyHeaderTimeout = 10 * time.Second
	// DefaultCertPollInterval is how often the certificate files are checked for changes.
	DefaultCertPollInterval = 5 * time.Second
)

// A Stream receives the messages of one sender to one listener port. It is used by one goroutine.
type Stream interface {
	// Add stages msg, which is only valid during the call. It may block (backpressure) until ctx
	// is done; an error is then returned by the next Commit.
	Add(ctx context.Context, msg []byte, received time.Time)
	// Commit hands on what was added. It may block (backpressure) until ctx is done; an error
	// ends the connection, and what was added is not handed on. The Receipt (nil with an error)
	// tells when what was handed on is durable.
	Commit(ctx context.Context) (Receipt, error)
	// TryAdd and TryCommit are Add and Commit that never block: for datagrams, whose senders
	// cannot be slowed down. What cannot be taken is dropped and counted; TryCommit then reports
	// false.
	TryAdd(msg []byte, received time.Time)
	TryCommit() bool
	// Reserve counts n bytes of a message still being read against the memory the Stream's
	// stages may hold, blocking (backpressure) until they fit or ctx is done; Unreserve gives
	// them back.
	Reserve(ctx context.Context, n int) error
	Unreserve(n int)
}

// A Receipt tells when the messages of one Commit are durable, for protocols that acknowledge
// them (RELP). It is safe for concurrent use.
type Receipt interface {
	// Durable blocks until the messages are on disk, or ctx is done; or returns an error at
	// once when they will never be (a stage that keeps them in memory only).
	Durable(ctx context.Context) error
}

// An Assembler turns UDP datagrams into messages: GELF chunk reassembly and decompression. Add
// returns the message, appended to dst, once a datagram completes one, and nil while it awaits
// more. An error returned with a message means the message was cut to the maximum size; an error
// without one means the datagram was refused. It must be safe for concurrent use.
type Assembler interface {
	Add(source netip.AddrPort, datagram []byte, now time.Time, dst []byte) ([]byte, error)
}

// Streams opens a Stream per sender; it must be safe for concurrent use.
type Streams interface {
	Stream(source netip.Addr, port uint16) Stream
	// WaitRoom blocks until the stages behind can take another read's worth of messages at once
	// (the intake log has room for them), or ctx is done; an error (ctx's, or why they never
	// will) means: read no more. Every reader calls it before it reads from a socket, so that
	// nothing it reads waits in memory alone for room: while the relay cannot take more, senders
	// are not read (TCP senders are slowed by flow control, datagrams wait in the kernel's socket
	// buffer or are dropped there).
	WaitRoom(ctx context.Context) error
}

// Options configures a Listener. The zero value of each field selects its default.
type Options struct {
	Address         string        // bind address; "" means all interfaces
	UDPPorts        []int         // 0 entries are ignored
	TCPPorts        []int         // 0 entries are ignored
	TLSPorts        []int         // 0 entries are ignored
	RELPPorts       []int         // RELP (internal/relp): acknowledged once the Receipt is durable; 0 entries are ignored
	RELPTLSPorts    []int         // RELP over TLS, as TLSPorts; 0 entries are ignored
	MaxMessageBytes int           // default framing.DefaultMaxMessageBytes
	IdleTimeout     time.Duration // 0: connections may stay idle forever
	MaxConnections  int           // open TCP, TLS and RELP connections of all ports together; 0: no limit
	DrainTimeout    time.Duration // default DefaultDrainTimeout
	UDPReaders      int           // readers of each UDP port, each with a socket of its own on Linux; default GOMAXPROCS
	Logger          *slog.Logger  // default slog.Default()
	// Registerer registers the listeners' metrics; nil: counted, not registered.
	Registerer prometheus.Registerer

	// GELFUDPPorts, GELFTCPPorts and GELFTLSPorts are ports of UDP, TCP and TLS listeners that
	// read GELF: their TCP and TLS messages end at NUL only, and their datagrams are assembled
	// by Datagrams. The other ports read syslog: RFC 6587 framing (octet counting, or LF, CR or
	// NUL), a datagram a message. 0 entries are ignored.
	GELFUDPPorts, GELFTCPPorts, GELFTLSPorts []int
	// Datagrams assembles messages from the datagrams of GELFUDPPorts (GELF chunks,
	// compression); nil: each datagram is a message.
	Datagrams Assembler

	// ProxyProtocolPorts are TCP or TLS ports whose connections must start with a PROXY protocol
	// v1 or v2 header; the header's source address becomes the sender's. No other port reads
	// one.
	ProxyProtocolPorts []int
	// CertFile and KeyFile are the PEM certificate chain and key of the TLS ports, reloaded when
	// they change or a value arrives on Reload. Both empty: a self-signed certificate, made by
	// Listen and logged by Run with its fingerprint.
	CertFile, KeyFile string
	// ClientCAFile is a PEM bundle of the CAs that sign client certificates. Empty: client
	// certificates are neither requested nor checked.
	ClientCAFile string
	// ClientAuth is tls.RequireAndVerifyClientCert or tls.VerifyClientCertIfGiven, with
	// ClientCAFile only; tls.NoClientCert means tls.RequireAndVerifyClientCert when ClientCAFile
	// is set.
	ClientAuth tls.ClientAuthType
	// ClientAllow are path.Match patterns; a client certificate is accepted only if its subject
	// CN or one of its DNS or URI SANs matches one. Empty: every certificate the CAs verify.
	ClientAllow []string
	// HandshakeTimeout bounds the TLS handshake; default DefaultHandshakeTimeout, or IdleTimeout
	// when that is shorter.
	HandshakeTimeout time.Duration
	// ProxyHeaderTimeout bounds the wait for the PROXY header; default DefaultProxyHeaderTimeout,
	// or IdleTimeout when that is shorter.
	ProxyHeaderTimeout time.Duration
	// CertPollInterval is how often CertFile and KeyFile are checked for changes; default
	// DefaultCertPollInterval.
	CertPollInterval time.Duration
	// Reload receives a value (SIGHUP) each time the certificate files should be read again; nil:
	// only their changes reload them.
	Reload <-chan os.Signal
}

// Listener serves a set of bound sockets.
type Listener struct {
	opts    Options
	log     *slog.Logger
	warn    *ratelog.Logger
	m       *metrics
	streams []*streamSocket // TCP, TLS, RELP, then RELP over TLS
	udp     []*udpPort
	relp    *relp.Server // nil without RELP ports
	certs   *certs.Store // nil without TLS ports
	tlsConf *tls.Config  // nil without TLS ports
	slots   chan struct{}
	connMu  sync.Mutex
	conns   map[net.Conn]struct{} // nil once shutdown has begun
	state   atomic.Int32          // stateBound, stateServing, stateDraining
}

// States of a Listener, for Check.
const (
	stateBound    int32 = iota // sockets bound, Run not serving them yet
	stateServing               // Run serves every socket
	stateDraining              // Run's context is done: sockets closed, connections draining
)

// streamSocket is a listening TCP socket and what its connections start with.
type streamSocket struct {
	ln    *net.TCPListener
	port  uint16
	tls   bool // a TLS handshake
	proxy bool // a PROXY protocol header, before the handshake if tls
	relp  bool // RELP sessions (relp.Server) instead of framed messages
	gelf  bool // GELF: messages end at NUL only
}

func (s *streamSocket) protocol() string {
	switch {
	case s.relp && s.tls:
		return "relp-tls"
	case s.relp:
		return "relp"
	case s.tls:
		return "tls"
	}
	return "tcp"
}

// Listen binds every socket that opts asks for, so that a port in use is reported before the relay
// starts; it starts no goroutine.
func Listen(opts Options) (*Listener, error) {
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = framing.DefaultMaxMessageBytes
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = math.MaxInt32 // a channel of empty structs costs nothing per slot
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.UDPReaders <= 0 {
		opts.UDPReaders = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.HandshakeTimeout = openingTimeout(opts.HandshakeTimeout, DefaultHandshakeTimeout, opts.IdleTimeout)
	opts.ProxyHeaderTimeout = openingTimeout(opts.ProxyHeaderTimeout, DefaultProxyHeaderTimeout, opts.IdleTimeout)
	if opts.CertPollInterval <= 0 {
		opts.CertPollInterval = DefaultCertPollInterval
	}
	l := &Listener{
		opts:  opts,
		log:   opts.Logger,
		warn:  ratelog.New(opts.Logger, 0),
		m:     newMetrics(opts.Registerer),
		slots: make(chan struct{}, opts.MaxConnections),
		conns: make(map[net.Conn]struct{}),
	}
	var errs []error
	streamPorts := slices.Concat(opts.TCPPorts, opts.TLSPorts, opts.RELPPorts, opts.RELPTLSPorts, opts.GELFTCPPorts, opts.GELFTLSPorts)
	for _, port := range opts.ProxyProtocolPorts {
		if port != 0 && !slices.Contains(streamPorts, port) {
			errs = append(errs, fmt.Errorf("listener: PROXY protocol port %d is not a TCP, TLS or RELP port", port))
		}
	}
	var err error
	if l.relp, err = newRELPServer(opts); err != nil {
		errs = append(errs, err)
	}
	if slices.ContainsFunc(slices.Concat(opts.TLSPorts, opts.RELPTLSPorts, opts.GELFTLSPorts), func(p int) bool { return p != 0 }) {
		if l.certs, l.tlsConf, err = newTLSConfig(opts); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, ports := range []struct {
		list            []int
		tls, relp, gelf bool
	}{
		{opts.TCPPorts, false, false, false}, {opts.TLSPorts, true, false, false},
		{opts.RELPPorts, false, true, false}, {opts.RELPTLSPorts, true, true, false},
		{opts.GELFTCPPorts, false, false, true}, {opts.GELFTLSPorts, true, false, true},
	} {
		for _, port := range ports.list {
			if port == 0 {
				continue
			}
			sock := &streamSocket{tls: ports.tls, relp: ports.relp, gelf: ports.gelf, proxy: slices.Contains(opts.ProxyProtocolPorts, port)}
			ln, err := net.Listen("tcp", net.JoinHostPort(opts.Address, strconv.Itoa(port)))
			if err != nil {
				errs = append(errs, fmt.Errorf("listen on %s port %d: %w", strings.ToUpper(sock.protocol()), port, err))
				continue
			}
			sock.ln = ln.(*net.TCPListener)
			sock.port = uint16(sock.ln.Addr().(*net.TCPAddr).Port)
			l.streams = append(l.streams, sock)
		}
	}
	for i, port := range slices.Concat(opts.UDPPorts, opts.GELFUDPPorts) {
		if port == 0 {
			continue
		}
		u, err := listenUDP(opts.Address, port, opts.UDPReaders)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		u.gelf = i >= len(opts.UDPPorts)
		l.udp = append(l.udp, u)
		l.m.watchUDP(u.conns)
	}
	if err := errors.Join(errs...); err != nil {
		l.closeSockets()
		return nil, err
	}
	if len(l.streams)+len(l.udp) == 0 {
		return nil, errors.New("listener: no port to listen on")
	}
	return l, nil
}

// Addrs returns the bound addresses: TCP, TLS, RELP, RELP over TLS, then UDP, each in the order of Options;
// useful when a port was 0.
func (l *Listener) Addrs() []net.Addr {
	var addrs []net.Addr
	for _, s := range l.streams {
		addrs = append(addrs, s.ln.Addr())
	}
	for _, u := range l.udp {
		addrs = append(addrs, u.conns[0].LocalAddr())
	}
	return addrs
}

// A Socket is one bound listening port, as Sockets reports it.
type Socket struct {
	Protocol string   // udp, tcp, tls, relp or relp-tls
	Address  net.Addr // the bound address
	GELF     bool     // it reads GELF, not syslog
}

// String returns the protocol, the address and the format, as "tcp 0.0.0.0:5514 syslog".
func (s Socket) String() string {
	format := "syslog"
	if s.GELF {
		format = "gelf"
	}
	return s.Protocol + " " + s.Address.String() + " " + format
}

// Sockets returns the bound ports with their protocols, in the order of Addrs.
func (l *Listener) Sockets() []Socket {
	var socks []Socket
	for _, s := range l.streams {
		socks = append(socks, Socket{Protocol: s.protocol(), Address: s.ln.Addr(), GELF: s.gelf})
	}
	for _, u := range l.udp {
		socks = append(socks, Socket{Protocol: "udp", Address: u.conns[0].LocalAddr(), GELF: u.gelf})
	}
	return socks
}

func (l *Listener) closeSockets() {
	for _, s := range l.streams {
		s.ln.Close()
	}
	for _, u := range l.udp {
		u.close()
	}
}

// Check reports whether the listeners take messages: nil while Run serves every bound socket, an
// error before (bound, not serving yet) and once shutdown has begun. It is safe for concurrent
// use.
func (l *Listener) Check() error {
	switch l.state.Load() {
	case stateBound:
		return errors.New("bound, not serving yet")
	case stateDraining:
		return errors.New("shutting down: not accepting")
	}
	return nil
}

// Run serves every socket, handing messages to streams, until ctx is done. Then it stops
// accepting, lets open connections and UDP sockets read for the drain timeout, and returns once
// every reader has committed what it read and exited. While it runs, it reloads the TLS
// certificate when its files change or a value arrives on Options.Reload.
func (l *Listener) Run(ctx context.Context, streams Streams) error {
	var wg sync.WaitGroup
	if l.certs != nil {
		l.logCertificate()
		wg.Go(func() { l.watchCertificate(ctx) })
	}
	// drained ends, at the end of the drain, the waits of connections for memory.
	drained, endDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer endDrain()
	for _, s := range l.streams {
		l.log.Info("listening", "protocol", s.protocol(), "address", s.ln.Addr().String(), "proxy_protocol", s.proxy)
		wg.Go(func() { l.accept(drained, s, streams, &wg) })
	}
	for _, u := range l.udp {
		l.log.Info("listening", "protocol", "udp", "address", u.conns[0].LocalAddr().String(), "sockets", len(u.conns))
		for i := range l.opts.UDPReaders {
			pc := u.conns[i%len(u.conns)]
			wg.Go(func() { l.readUDP(drained, pc, u, streams) })
		}
	}
	l.state.Store(stateServing)
	<-ctx.Done()
	l.state.Store(stateDraining)
	for _, s := range l.streams {
		s.ln.Close()
	}
	deadline := time.Now().Add(l.opts.DrainTimeout)
	time.AfterFunc(l.opts.DrainTimeout, endDrain)
	for _, u := range l.udp {
		for _, pc := range u.conns {
			pc.SetReadDeadline(deadline)
		}
	}
	l.connMu.Lock()
	for c := range l.conns {
		c.SetReadDeadline(deadline)
	}
	l.conns = nil // connections accepted from now on are closed at once
	l.connMu.Unlock()
	wg.Wait()
	for _, u := range l.udp {
		u.close()
	}
	return nil
}

func (l *Listener) accept(drained context.Context, sock *streamSocket, streams Streams, wg *sync.WaitGroup) {
	port := sock.port
	for {
		conn, err := sock.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little instead of spinning.
			l.warn.Warn("accept failed", "port", port, "error", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case l.slots <- struct{}{}:
		default:
			l.m.refused(reasonMaxConnections)
			l.warn.Warn("too many connections: refusing", "port", port, "max", l.opts.MaxConnections,
				"source", conn.RemoteAddr().String())
			conn.Close()
			continue
		}
		if !l.track(conn) {
			conn.Close()
			<-l.slots
			continue
		}
		// The PROXY header and the TLS handshake are read here, in the connection's goroutine,
		// so that a client slow to send them holds up no one but itself.
		wg.Go(func() {
			defer func() { <-l.slots }()
			defer l.untrack(conn)
			l.serveConn(drained, conn, sock, streams)
		})
	}
}

// track registers conn for the drain at shutdown; false means shutdown has begun.
func (l *Listener) track(conn net.Conn) bool {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.conns == nil {
		return false
	}
	l.conns[conn] = struct{}{}
	return true
}

func (l *Listener) untrack(conn net.Conn) {
	l.connMu.Lock()
	if l.conns != nil {
		delete(l.conns, conn)
	}
	l.connMu.Unlock()
	conn.Close()
}

// connReader is a connection as its Scanner reads it. Before each read, which may block, it
// commits the messages the Scanner returned so far, so that none waits behind an unfinished
// frame, and waits until the stages behind have room for what it reads (Streams.WaitRoom); after each read that returned data it moves the idle deadline on, and it notes the time,
// so that messages carry the time they arrived without a clock reading per message. It is the
// Scanner's Memory too: a partial message that outgrows the Scanner's first buffer is reserved
// under the buffers' cap, waiting at most the idle timeout for room.
type connReader struct {
	l       *Listener
	conn    net.Conn
	stream  Stream
	streams Streams         // whose WaitRoom each read waits for
	drained context.Context // done at the end of the drain at shutdown
	last    time.Time
	// messages and bytes are what was added since the last commit, counted at the commit.
	messages, bytes int
	err             error // of the last commit
}

func (c *connReader) Read(p []byte) (int, error) {
	if err := c.commit(); err != nil {
		return 0, err
	}
	if err := c.streams.WaitRoom(c.drained); err != nil {
		return 0, fmt.Errorf("listener: wait for room to read: %w", err)
	}
	n, err := c.conn.Read(p)
	c.last = time.Now()
	if n > 0 && c.l.opts.IdleTimeout > 0 {
		c.l.setReadDeadline(c.conn, c.l.opts.IdleTimeout)
	}
	return n, err
}

// commit hands on what was added and counts it as received.
func (c *connReader) commit() error {
	c.l.m.received(c.messages, c.bytes)
	c.messages, c.bytes = 0, 0
	// TCP and TLS acknowledge nothing: the receipt is not needed.
	_, c.err = c.stream.Commit(c.drained)
	return c.err
}

// Grow commits what is complete, so that no message waits while the connection waits for memory,
// and reserves n bytes.
func (c *connReader) Grow(n int) error {
	if err := c.commit(); err != nil {
		return err
	}
	return c.l.reserve(c.drained, c.stream, n)
}

// reserve reserves n bytes of a message that stream's connection is still reading under the
// buffers' cap (Stream.Reserve), waiting at most the idle timeout, and no longer than drained.
func (l *Listener) reserve(drained context.Context, stream Stream, n int) error {
	ctx := drained
	if idle := l.opts.IdleTimeout; idle > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, idle)
		defer cancel()
	}
	return stream.Reserve(ctx, n)
}

func (c *connReader) Shrink(n int) { c.stream.Unreserve(n) }

// serveConn reads what precedes the messages of conn, if anything, then its messages. A
// connection refused on the way opens no Stream: none of its data is accepted.
func (l *Listener) serveConn(drained context.Context, conn net.Conn, sock *streamSocket, streams Streams) {
	l.m.opened()
	defer l.m.closed()
	source := addrOf(conn.RemoteAddr())
	if sock.proxy {
		var ok bool
		if conn, source, ok = l.readProxyHeader(conn, sock.port); !ok {
			return
		}
	}
	if sock.tls {
		tc := tls.Server(conn, l.tlsConf)
		if !l.handshake(tc, source, sock.port) {
			return
		}
		conn = tc
	}
	if sock.relp {
		l.serveRELP(drained, conn, source, sock.port, streams)
		return
	}
	l.serveStream(drained, conn, source, sock, streams)
}

func (l *Listener) serveStream(drained context.Context, conn net.Conn, source netip.Addr, sock *streamSocket, streams Streams) {
	port := sock.port
	stream := streams.Stream(source, port)
	rd := &connReader{l: l, conn: conn, stream: stream, streams: streams, drained: drained}
	newScanner := framing.NewScanner
	if sock.gelf {
		newScanner = framing.NewNULScanner
	}
	sc := newScanner(rd, l.opts.MaxMessageBytes)
	sc.SetMemory(rd)
	// Also clears the deadline of the PROXY header or the handshake when there is no idle
	// timeout.
	l.setReadDeadline(conn, l.opts.IdleTimeout)
	for sc.Scan() {
		// An octet-counted frame may end with the LF its sender also wrote (syslog-ng's
		// syslog(), rsyslog's octet-counted forwarding): trimmed, as from datagrams, so an event
		// reads the same whichever way it came.
		msg := trimTrailer(sc.Message())
		if len(msg) == 0 {
			continue
		}
		rd.messages++
		rd.bytes += len(msg)
		if sc.Truncated() {
			l.m.truncated()
			l.warn.Warn("message truncated to the maximum size", "source", source, "port", port,
				"max_bytes", l.opts.MaxMessageBytes)
		}
		if sc.Incomplete() {
			// What the sender wrote is kept, but not passed off as a whole message.
			l.m.incomplete()
			l.warn.Warn("message cut off by the end of its connection: delivered as far as it arrived",
				"source", source, "port", port, "bytes", len(msg), "error", sc.Err())
		}
		stream.Add(drained, msg, rd.last)
	}
	if rd.err != nil {
		l.warn.Error("messages lost at shutdown", "source", source, "port", port, "error", rd.err)
		return
	}
	if err := rd.commit(); err != nil {
		l.warn.Error("messages lost at shutdown", "source", source, "port", port, "error", err)
	}
	switch err := sc.Err(); {
	case err == nil, errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.Canceled):
		// Canceled: the drain ended while the connection waited for room to read.
		l.log.Debug("connection closed: idle or shutting down", "source", source, "port", port)
	case errors.Is(err, io.ErrUnexpectedEOF):
		l.m.framingError()
		l.warn.Warn("connection ended inside a frame", "source", source, "port", port)
	default:
		l.m.framingError()
		l.warn.Warn("connection closed", "source", source, "port", port, "error", err)
	}
}

// setReadDeadline makes reads from conn time out after d, or never when d is 0, unless shutdown
// has begun: the drain deadline that Run set then stays, since nothing may extend it. Every
// read deadline of a connection is set here, so that none undoes the drain deadline.
func (l *Listener) setReadDeadline(conn net.Conn, d time.Duration) {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.conns != nil {
		conn.SetReadDeadline(t)
	}
}

// openingTimeout returns the timeout of a step that precedes the messages of a connection: d, or
// def when d is 0, and never more than a nonzero idle timeout, since a client that sends nothing
// for that long is idle whatever step it stalls in.
func openingTimeout(d, def, idle time.Duration) time.Duration {
	if d <= 0 {
		d = def
	}
	if idle > 0 {
		d = min(d, idle)
	}
	return d
}

// trimTrailer removes the LF, CR and NUL bytes some senders put after a message.
func trimTrailer(msg []byte) []byte {
	for len(msg) > 0 {
		switch msg[len(msg)-1] {
		case '\n', '\r', 0:
			msg = msg[:len(msg)-1]
		default:
			return msg
		}
	}
	return msg
}

func addrOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
