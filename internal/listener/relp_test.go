package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/e2e"
	"github.com/kinesyslog/kinesyslog/internal/relp"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// errMemoryOnly is what the Receipts of gatedStreams report when made to fail, as the event
// stage's do until the intake log is wired.
var errMemoryOnly = errors.New("kept in memory only")

// gatedStreams is a Streams whose Receipts are durable only once the test opens their gate
// (durable), or fail at once when fail is set.
type gatedStreams struct {
	fail bool

	mu        sync.Mutex
	committed []got
	gate      chan struct{} // closed by durable
	opened    int
}

func newGatedStreams() *gatedStreams { return &gatedStreams{gate: make(chan struct{})} }

func (s *gatedStreams) Stream(source netip.Addr, port uint16) Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened++
	return &gatedStream{streams: s, sinkStream: sinkStream{sink: &sink{}, source: source, port: port}}
}

// WaitRoom has room at once.
func (s *gatedStreams) WaitRoom(context.Context) error { return nil }

// durable makes every Receipt, given and to come, durable.
func (s *gatedStreams) durable() { close(s.gate) }

func (s *gatedStreams) messages() []got {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]got(nil), s.committed...)
}

func (s *gatedStreams) streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}

// gatedStream is a sinkStream whose Commit hands its messages to its gatedStreams.
type gatedStream struct {
	streams *gatedStreams
	sinkStream
}

func (s *gatedStream) Commit(context.Context) (Receipt, error) {
	s.streams.mu.Lock()
	s.streams.committed = append(s.streams.committed, s.staged...)
	s.streams.mu.Unlock()
	s.staged = s.staged[:0]
	return gateReceipt{s.streams}, nil
}

type gateReceipt struct{ s *gatedStreams }

func (r gateReceipt) Durable(ctx context.Context) error {
	if r.s.fail {
		return errMemoryOnly
	}
	select {
	case <-r.s.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// relpServer is a Listener with RELP ports running for one test.
type relpServer struct {
	*Listener
	reg  *prometheus.Registry
	stop func() // ends Run and waits for it
}

// startRELP runs a Listener with opts on 127.0.0.1, handing messages to streams, until the test
// ends or stop is called.
func startRELP(t *testing.T, opts Options, streams Streams) *relpServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Address, opts.Registerer, opts.Logger = "127.0.0.1", reg, testLogger(t)
	l, err := Listen(opts)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, streams)
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return &relpServer{Listener: l, reg: reg, stop: stop}
}

func (s *relpServer) metric(t *testing.T, name string) float64 {
	t.Helper()
	return testenv.Metric(t, s.reg, name)
}

// TestRELPAcknowledgesOnceDurable sends messages over RELP, one of them longer than the maximum,
// and checks that none is acknowledged before its Receipt is durable, that all are once it is,
// and that they are recorded and counted as from the other listeners.
func TestRELPAcknowledgesOnceDurable(t *testing.T) {
	const max = 1024
	streams := newGatedStreams()
	s := startRELP(t, Options{RELPPorts: []int{testenv.FreePort(t)}, MaxMessageBytes: max}, streams)
	addr := s.Addrs()[0].(*net.TCPAddr)
	var acked atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), testenv.PollTimeout)
	defer cancel()
	c, err := relp.Dial(ctx, "tcp", addr.String(), relp.ClientOptions{OnResponse: func(_ []byte, err error) {
		if err == nil {
			acked.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	long := "<13>1 - host app - - - " + strings.Repeat("x", max)
	msgs := []string{"<13>1 - host app - - - one", "<13>1 - host app - - - two\n", long}
	for _, m := range msgs {
		if err := c.Send(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	flushed := make(chan error, 1)
	go func() { flushed <- c.Flush(ctx) }()
	testenv.Eventually(t, "messages committed", func() bool { return len(streams.messages()) == len(msgs) })
	if n := acked.Load(); n != 0 {
		t.Fatalf("%d messages acknowledged before they were durable", n)
	}
	streams.durable()
	if err := <-flushed; err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := acked.Load(); n != int64(len(msgs)) {
		t.Errorf("%d messages acknowledged, want %d", n, len(msgs))
	}
	port := uint16(addr.Port)
	want := []got{{loopback, port, msgs[0]}, {loopback, port, strings.TrimSuffix(msgs[1], "\n")}, {loopback, port, long[:max]}}
	if diff := cmp.Diff(want, streams.messages(), cmpGot); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	for name, want := range map[string]float64{
		"kinesyslog_messages_received_total":          3,
		"kinesyslog_messages_truncated_total":         1,
		"kinesyslog_relp_acknowledged_messages_total": 3,
		"kinesyslog_connections_total":                1,
	} {
		if got := s.metric(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestRELPNotDurable: while the Streams cannot make messages durable (the intake log not
// wired), a session acknowledges nothing and ends with serverclose, so that the client keeps
// every message to send again.
func TestRELPNotDurable(t *testing.T) {
	streams := newGatedStreams()
	streams.fail = true
	s := startRELP(t, Options{RELPPorts: []int{testenv.FreePort(t)}}, streams)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.PollTimeout)
	defer cancel()
	c, err := relp.Dial(ctx, "tcp", s.Addrs()[0].String(), relp.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	const msg = "<13>1 - host app - - - kept by the client"
	if err := c.Send(ctx, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(ctx); !errors.Is(err, relp.ErrServerClosed) {
		t.Errorf("Flush = %v, want %v", err, relp.ErrServerClosed)
	}
	if diff := cmp.Diff([][]byte{[]byte(msg)}, c.Unacknowledged()); diff != "" {
		t.Errorf("unacknowledged (-want +got):\n%s", diff)
	}
	if got := s.metric(t, "kinesyslog_relp_acknowledged_messages_total"); got != 0 {
		t.Errorf("kinesyslog_relp_acknowledged_messages_total = %v, want 0", got)
	}
}

// TestRELPShutdown stops the listener while messages wait to be durable: at the end of the
// drain the session sends serverclose without acknowledging them, and Run returns.
func TestRELPShutdown(t *testing.T) {
	streams := newGatedStreams()
	s := startRELP(t, Options{RELPPorts: []int{testenv.FreePort(t)}, DrainTimeout: 50 * time.Millisecond}, streams)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.PollTimeout)
	defer cancel()
	c, err := relp.Dial(ctx, "tcp", s.Addrs()[0].String(), relp.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := c.Send(ctx, []byte("<13>1 - host app - - - not yet durable")); err != nil {
		t.Fatal(err)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- c.Flush(ctx) }()
	testenv.Eventually(t, "message committed", func() bool { return len(streams.messages()) == 1 })
	s.stop()
	if err := <-flushed; !errors.Is(err, relp.ErrServerClosed) {
		t.Errorf("Flush = %v, want %v", err, relp.ErrServerClosed)
	}
	if n := len(c.Unacknowledged()); n != 1 {
		t.Errorf("%d messages unacknowledged, want 1", n)
	}
}

// TestRELPOverTLS runs RELP sessions on a RELP TLS port with the client certificate checks of
// the TLS ports: a refused client opens no Stream and the refusal is counted by reason.
func TestRELPOverTLS(t *testing.T) {
	pki := e2e.NewPKI(t, "client CA")
	serverCert := pki.Issue(t, e2e.CertOptions{CommonName: "localhost", Hosts: []string{"localhost", "127.0.0.1"}})
	web := pki.Issue(t, e2e.CertOptions{CommonName: "web-1", Client: true})
	db := pki.Issue(t, e2e.CertOptions{CommonName: "db-1", Client: true})
	stranger := e2e.NewPKI(t, "other CA").Issue(t, e2e.CertOptions{CommonName: "web-2", Client: true})
	for _, tt := range []struct {
		name        string
		cert        *e2e.Cert
		wantRefusal string // "" when the session must be acknowledged
	}{
		{name: "allowed certificate", cert: web},
		{name: "no certificate", wantRefusal: reasonNoClientCert},
		{name: "other CA", cert: stranger, wantRefusal: reasonUntrustedClient},
		{name: "not allowed", cert: db, wantRefusal: reasonClientNotAllowed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			streams := newGatedStreams()
			streams.durable()
			s := startRELP(t, Options{RELPTLSPorts: []int{testenv.FreePort(t)}, CertFile: serverCert.CertFile,
				KeyFile: serverCert.KeyFile, ClientCAFile: pki.CAFile, ClientAllow: []string{"web-*"}}, streams)
			addr := s.Addrs()[0].(*net.TCPAddr)
			ctx, cancel := context.WithTimeout(context.Background(), testenv.PollTimeout)
			defer cancel()
			const msg = "<13>1 - host app - - - RELP over TLS"
			err := sendRELP(ctx, tls.Client(dial(t, addr), pki.ClientConfig(tt.cert)), msg)
			if tt.wantRefusal == "" {
				if err != nil {
					t.Fatalf("session: %v", err)
				}
				want := []got{{loopback, uint16(addr.Port), msg}}
				if diff := cmp.Diff(want, streams.messages(), cmpGot); diff != "" {
					t.Errorf("messages (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatal("session acknowledged, want the client refused")
			}
			testenv.Eventually(t, "refusal counted", func() bool {
				return testutil.ToFloat64(s.m.connsRefused.WithLabelValues(tt.wantRefusal)) == 1
			})
			if n := streams.streams(); n != 0 {
				t.Errorf("%d streams opened for a refused client", n)
			}
		})
	}
}

// TestRELPProxyThenTLS sends a PROXY v2 header before the TLS handshake and the RELP session,
// as an AWS NLB does: the header's source is the sender's. A connection without the header is
// refused and counted.
func TestRELPProxyThenTLS(t *testing.T) {
	pki := e2e.NewPKI(t, "CA")
	serverCert := pki.Issue(t, e2e.CertOptions{CommonName: "localhost", Hosts: []string{"localhost"}})
	port := testenv.FreePort(t)
	streams := newGatedStreams()
	streams.durable()
	s := startRELP(t, Options{RELPTLSPorts: []int{port}, ProxyProtocolPorts: []int{port},
		CertFile: serverCert.CertFile, KeyFile: serverCert.KeyFile}, streams)
	addr := s.Addrs()[0].(*net.TCPAddr)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.PollTimeout)
	defer cancel()

	raw := dial(t, addr)
	if _, err := raw.Write(header(t, 2, "198.51.100.7:40000", "192.0.2.1:2514")); err != nil {
		t.Fatal(err)
	}
	const msg = "<13>1 - host app - - - proxied RELP"
	if err := sendRELP(ctx, tls.Client(raw, pki.ClientConfig(nil)), msg); err != nil {
		t.Fatalf("session: %v", err)
	}
	want := []got{{netip.MustParseAddr("198.51.100.7"), uint16(port), msg}}
	if diff := cmp.Diff(want, streams.messages(), cmpGot); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}

	if err := sendRELP(ctx, tls.Client(dial(t, addr), pki.ClientConfig(nil)), msg); err == nil {
		t.Error("session without a PROXY header acknowledged, want it refused")
	}
	testenv.Eventually(t, "refusal counted", func() bool {
		return testutil.ToFloat64(s.m.connsRefused.WithLabelValues(reasonProxyHeader)) == 1
	})
}

func dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendRELP opens a RELP session on conn, sends msg and closes the session once msg is
// acknowledged.
func sendRELP(ctx context.Context, conn net.Conn, msg string) error {
	c, err := relp.NewClient(ctx, conn, relp.ClientOptions{})
	if err != nil {
		return err
	}
	if err := c.Send(ctx, []byte(msg)); err != nil {
		return err
	}
	return c.Close(ctx)
}

// reservingStreams is a sink whose Streams count what they reserve under the buffers' cap.
type reservingStreams struct {
	sink
	reserved atomic.Int64
}

func (s *reservingStreams) Stream(source netip.Addr, port uint16) Stream {
	return &reservingStream{sinkStream: sinkStream{sink: &s.sink, source: source, port: port}, streams: s}
}

type reservingStream struct {
	sinkStream
	streams *reservingStreams
}

func (s *reservingStream) Reserve(_ context.Context, n int) error {
	s.streams.reserved.Add(int64(n))
	return nil
}

func (s *reservingStream) Unreserve(n int) { s.streams.reserved.Add(-int64(n)) }

func (s *reservingStream) Commit(ctx context.Context) (Receipt, error) {
	s.sinkStream.Commit(ctx)
	return durableNow{}, nil
}

// durableNow is a Receipt of messages stored at once.
type durableNow struct{}

func (durableNow) Durable(context.Context) error { return nil }

// TestRELPReservesLongFrames sends a frame longer than a session's first buffer and pauses in
// the middle of it: its buffer is reserved under the buffers' cap, as a TCP connection's partial
// message is, and given back once a short frame follows and when the session ends.
func TestRELPReservesLongFrames(t *testing.T) {
	const long = 100_000
	streams := &reservingStreams{}
	s := startRELP(t, Options{RELPPorts: []int{testenv.FreePort(t)}, MaxMessageBytes: 160 << 10}, streams)
	conn, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	offers := "relp_version=0\nrelp_software=test\ncommands=syslog"
	msg := "<13>1 - host app - - - " + strings.Repeat("x", long-23)
	if _, err := fmt.Fprintf(conn, "1 open %d %s\n2 syslog %d %s", len(offers), offers, len(msg), msg[:long/2]); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the long frame's buffer reserved", func() bool { return streams.reserved.Load() > long })
	if _, err := fmt.Fprintf(conn, "%s\n3 syslog 5 short\n", msg[long/2:]); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "both messages committed", func() bool { return len(streams.messages()) == 2 })
	testenv.Eventually(t, "the buffer given back after the short frame", func() bool { return streams.reserved.Load() == 0 })

	if _, err := fmt.Fprintf(conn, "4 syslog %d %s", len(msg), msg[:long/2]); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the next long frame's buffer reserved", func() bool { return streams.reserved.Load() > long })
	conn.Close()
	testenv.Eventually(t, "the buffer given back when the session ends", func() bool { return streams.reserved.Load() == 0 })
}
