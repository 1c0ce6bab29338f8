package listener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// got is one message a Stream received.
type got struct {
	Source netip.Addr
	Port   uint16
	Msg    string
}

// sink is a Streams that keeps every committed message.
type sink struct {
	mu      sync.Mutex
	msgs    []got
	streams int // Streams opened
}

func (s *sink) Stream(source netip.Addr, port uint16) Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams++
	return &sinkStream{sink: s, source: source, port: port}
}

// WaitRoom has room at once.
func (s *sink) WaitRoom(context.Context) error { return nil }

func (s *sink) messages() []got {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]got(nil), s.msgs...)
}

func (s *sink) opened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams
}

type sinkStream struct {
	sink   *sink
	source netip.Addr
	port   uint16
	staged []got
}

func (s *sinkStream) Add(_ context.Context, msg []byte, _ time.Time) {
	s.staged = append(s.staged, got{s.source, s.port, string(msg)})
}

func (s *sinkStream) TryCommit() bool {
	_, err := s.Commit(context.Background())
	return err == nil
}

func (s *sinkStream) TryAdd(msg []byte, received time.Time) {
	s.Add(context.Background(), msg, received)
}

func (s *sinkStream) Reserve(context.Context, int) error { return nil }

func (s *sinkStream) Unreserve(int) {}

func (s *sinkStream) Commit(context.Context) (Receipt, error) {
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, s.staged...)
	s.sink.mu.Unlock()
	s.staged = s.staged[:0]
	return nil, nil
}

// server is a Listener running for one test.
type server struct {
	*Listener
	sink *sink
	reg  *prometheus.Registry
}

// start runs a Listener with opts, on 127.0.0.1 unless opts names an address, until the test ends, with metrics and, unless
// opts has one, a logger that writes to the test's log.
func start(t *testing.T, opts Options) *server {
	t.Helper()
	reg := prometheus.NewRegistry()
	if opts.Address == "" {
		opts.Address = "127.0.0.1"
	}
	opts.Registerer = reg
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	l, err := Listen(opts)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	s := &server{Listener: l, sink: &sink{}, reg: reg}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, s.sink)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}

// testLogger returns a logger that writes to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWriter sends log lines to t.Log, so that they show with the failing test only.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitMessages waits until the sink holds n messages and returns them.
func (s *server) waitMessages(t *testing.T, n int) []got {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%d messages", n), func() bool { return len(s.sink.messages()) >= n })
	return s.sink.messages()
}

// refused returns how many connections were refused for reason.
func (s *server) refused(reason string) int {
	return int(testutil.ToFloat64(s.m.connsRefused.WithLabelValues(reason)))
}

// open returns the number of open connections.
func (s *server) open() int { return int(testutil.ToFloat64(s.m.connections)) }

// waitClosed waits until the server closes conn: a read returns EOF or a reset.
func waitClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, conn)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

var loopback = netip.MustParseAddr("127.0.0.1")

func TestTCPAndUDP(t *testing.T) {
	s := start(t, Options{TCPPorts: []int{testenv.FreePort(t)}, UDPPorts: []int{testenv.FreePort(t)}})
	addrs := s.Addrs()
	tcpAddr, udpAddr := addrs[0].String(), addrs[1].String()
	tcpPort, udpPort := uint16(addrs[0].(*net.TCPAddr).Port), uint16(addrs[1].(*net.UDPAddr).Port)
	if got, want := fmt.Sprint(s.Sockets()), fmt.Sprintf("[tcp %s syslog udp %s syslog]", tcpAddr, udpAddr); got != want {
		t.Errorf("Sockets() = %s, want %s", got, want)
	}

	conn, err := net.Dial("tcp", tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "<13>line one\n11 <13>counted")
	conn.Close()
	udp, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	fmt.Fprint(udp, "<13>datagram\n")

	want := []got{
		{loopback, tcpPort, "<13>line one"},
		{loopback, tcpPort, "<13>counted"},
		{loopback, udpPort, "<13>datagram"},
	}
	msgs := s.waitMessages(t, len(want))
	if diff := cmp.Diff(want, msgs, cmpGot); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// cmpGot compares messages in any order.
var cmpGot = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmpopts.SortSlices(func(a, b got) bool { return a.Msg < b.Msg }),
}

func TestCheck(t *testing.T) {
	l, err := Listen(Options{Address: "127.0.0.1", TCPPorts: []int{testenv.FreePort(t)}, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if err := l.Check(); err == nil {
		t.Errorf("Check() before Run = nil, want an error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, &sink{})
	}()
	testenv.Eventually(t, "Check() = nil while Run serves", func() bool { return l.Check() == nil })
	cancel()
	testenv.Eventually(t, "Check() failing once shutdown began", func() bool { return l.Check() != nil })
	<-done
	if err := l.Check(); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("Check() after Run = %v, want shutting down", err)
	}
}

// upper is an Assembler that upper-cases each datagram, so that a test sees which were assembled.
type upper struct{}

func (upper) Add(_ netip.AddrPort, datagram []byte, _ time.Time, dst []byte) ([]byte, error) {
	return append(dst, strings.ToUpper(string(datagram))...), nil
}

// TestGELFBesideSyslog serves syslog and GELF ports of each protocol side by side: only the GELF
// TCP port ends messages at NUL alone, and only the GELF UDP port's datagrams are assembled.
func TestGELFBesideSyslog(t *testing.T) {
	ports := testenv.FreePorts(t, 4)
	s := start(t, Options{TCPPorts: ports[:1], UDPPorts: ports[1:2], GELFTCPPorts: ports[2:3], GELFUDPPorts: ports[3:],
		Datagrams: upper{}})
	socks := s.Sockets()
	if got, want := fmt.Sprint(socks), fmt.Sprintf("[tcp 127.0.0.1:%d syslog tcp 127.0.0.1:%d gelf udp 127.0.0.1:%d syslog udp 127.0.0.1:%d gelf]",
		ports[0], ports[2], ports[1], ports[3]); got != want {
		t.Errorf("Sockets() = %s, want %s", got, want)
	}
	for _, c := range []struct {
		network string
		port    int
		data    string
	}{
		{"tcp", ports[0], "<13>syslog one\n<13>syslog two\n"},
		{"udp", ports[1], "<13>syslog datagram"},
		{"tcp", ports[2], "{\"short_message\":\n\"gelf\"}\x00"},
		{"udp", ports[3], "gelf datagram"},
	} {
		conn, err := net.Dial(c.network, fmt.Sprintf("127.0.0.1:%d", c.port))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(conn, c.data)
		conn.Close()
	}
	msgs := s.waitMessages(t, 5)
	byPort := map[uint16][]string{}
	for _, m := range msgs {
		byPort[m.Port] = append(byPort[m.Port], m.Msg)
	}
	want := map[uint16][]string{
		uint16(ports[0]): {"<13>syslog one", "<13>syslog two"},
		uint16(ports[1]): {"<13>syslog datagram"},
		uint16(ports[2]): {"{\"short_message\":\n\"gelf\"}"},
		uint16(ports[3]): {"GELF DATAGRAM"},
	}
	if diff := cmp.Diff(want, byPort); diff != "" {
		t.Errorf("messages by port (-want +got):\n%s", diff)
	}
}
