package relp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// testTimeout bounds every wait of these tests.
const testTimeout = 10 * time.Second

// testSink records what a session commits. Each Commit returns a gate the test opens (release)
// unless auto is set; commitErr and waitErr make Commit and Wait fail.
type testSink struct {
	mu        sync.Mutex
	staged    [][]byte
	committed [][]byte
	truncated []bool // of each message added, in order
	gates     []chan struct{}
	auto      bool
	commitErr error
	waitErr   error
	block     chan struct{} // if set, Commit waits for it to close
}

func (s *testSink) Add(msg []byte, _ time.Time, truncated bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staged = append(s.staged, bytes.Clone(msg))
	s.truncated = append(s.truncated, truncated)
}

func (s *testSink) Commit() (Durable, error) {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.committed = append(s.committed, s.staged...)
	s.staged = nil
	if s.commitErr != nil {
		return nil, s.commitErr
	}
	g := make(chan struct{})
	if s.auto {
		close(g)
	} else {
		s.gates = append(s.gates, g)
	}
	return gate{g, s.waitErr}, nil
}

// release opens the gate of the i-th commit.
func (s *testSink) release(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.gates[i])
}

func (s *testSink) commits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.gates)
}

func (s *testSink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.committed {
		out = append(out, string(m))
	}
	return out
}

type gate struct {
	open <-chan struct{}
	err  error
}

func (g gate) Wait(ctx context.Context) error {
	select {
	case <-g.open:
		return g.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// testServer is a Server on 127.0.0.1 that serves every connection with one sink.
type testServer struct {
	srv    *Server
	reg    *prometheus.Registry
	addr   string
	cancel context.CancelFunc
	errs   chan error // Serve's result for each session
}

func startServer(t *testing.T, opts Options, sink Sink) *testServer {
	t.Helper()
	ts := &testServer{reg: prometheus.NewRegistry(), errs: make(chan error, 100)}
	opts.Registerer = ts.reg
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var err error
	if ts.srv, err = NewServer(opts); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { ts.errs <- ts.srv.Serve(ctx, conn, sink) })
		}
	})
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	return ts
}

// sessionEnd waits for the next session to end and returns Serve's error.
func (ts *testServer) sessionEnd(t *testing.T) error {
	t.Helper()
	select {
	case err := <-ts.errs:
		return err
	case <-time.After(testTimeout):
		t.Fatalf("session did not end within %v", testTimeout)
		return nil
	}
}

func (ts *testServer) protocolErrors(reason string) float64 {
	return testutil.ToFloat64(ts.srv.m.protocol.WithLabelValues(reason))
}

// rawOpen is the open frame librelp 1.11.0 sends.
const rawOpen = "1 open 86 relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n"

// dialRaw connects to ts and, if open, opens a session and reads the answer.
func dialRaw(t *testing.T, ts *testServer, open bool) (*net.TCPConn, *Reader) {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	r := NewReader(c, 1<<20)
	if open {
		if _, err := io.WriteString(c, rawOpen); err != nil {
			t.Fatal(err)
		}
		f, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("answer to open: %v", err)
		}
		if want := "200 OK\n" + offers(); f.Txnr != 1 || f.Command != CmdRsp || string(f.Data) != want {
			t.Fatalf("answer to open = %d %s %q, want 1 rsp %q", f.Txnr, f.Command, f.Data, want)
		}
	}
	return c.(*net.TCPConn), r
}

// readRest returns every frame the server sends until it closes the connection, in wire form.
func readRest(t *testing.T, r *Reader) string {
	t.Helper()
	var out []byte
	for {
		f, err := r.ReadFrame()
		if errors.Is(err, io.EOF) {
			return string(out)
		}
		if err != nil {
			t.Fatalf("after %q: %v", out, err)
		}
		out = AppendFrame(out, f)
	}
}

func TestSessionWithClient(t *testing.T) {
	sink := &testSink{auto: true}
	ts := startServer(t, Options{}, sink)
	var acked []string
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, "tcp", ts.addr, ClientOptions{OnResponse: func(msg []byte, err error) {
		if err != nil {
			t.Errorf("message %q refused: %v", msg, err)
		}
		acked = append(acked, string(msg))
	}})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5000 {
		msg := fmt.Sprintf("<13>1 - host app - - - message %d", i)
		want = append(want, msg)
		if err := c.Send(ctx, []byte(msg)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ts.sessionEnd(t); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	if diff := cmp.Diff(want, acked); diff != "" {
		t.Errorf("acknowledged (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, sink.messages()); diff != "" {
		t.Errorf("committed (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(ts.srv.m.acknowledged); got != 5000 {
		t.Errorf("kinesyslog_relp_acknowledged_messages_total = %v, want 5000", got)
	}
	if got := testutil.ToFloat64(ts.srv.m.sessions); got != 0 {
		t.Errorf("kinesyslog_relp_sessions = %v after the session, want 0", got)
	}
}

// TestClientTxnrWraps sends across the largest TXNR: the client goes on at 1, and the server
// answers each.
func TestClientTxnrWraps(t *testing.T) {
	ts := startServer(t, Options{}, &testSink{auto: true})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	acks := 0
	c, err := Dial(ctx, "tcp", ts.addr, ClientOptions{Window: 2, OnResponse: func(_ []byte, err error) {
		if err == nil {
			acks++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	c.txnr = MaxTxnr - 2
	for range 5 {
		if err := c.Send(ctx, []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if acks != 5 || c.txnr != 3 {
		t.Errorf("after 5 messages from TXNR %d: %d acknowledged, TXNR %d; want 5 and 3", MaxTxnr-2, acks, c.txnr)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAcksSentWhileNextWaits: the answers of a stored commit are sent while the commit queued
// behind it is not stored yet, not held back until it is.
func TestAcksSentWhileNextWaits(t *testing.T) {
	sink := &testSink{}
	ts := startServer(t, Options{}, sink)
	c, r := dialRaw(t, ts, true)
	// Three commits, each queued while the writer waits for the first: the second is taken
	// with the third behind it.
	for i, frame := range []string{"2 syslog 1 a\n", "3 syslog 1 b\n", "4 syslog 1 c\n"} {
		if _, err := io.WriteString(c, frame); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, fmt.Sprintf("commit %d", i+1), func() bool { return sink.commits() == i+1 })
	}
	sink.release(0)
	sink.release(1)
	var got []byte
	for range 2 {
		f, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("after %q, while the third commit is not stored: %v", got, err)
		}
		got = AppendFrame(got, f)
	}
	if want := "2 rsp 6 200 OK\n3 rsp 6 200 OK\n"; string(got) != want {
		t.Errorf("answers = %q, want %q", got, want)
	}
	sink.release(2)
	if f, err := r.ReadFrame(); err != nil || f.Txnr != 4 {
		t.Errorf("once the third is stored: read %d %s %q, %v; want rsp 4", f.Txnr, f.Command, f.Data, err)
	}
}

// TestAcksWaitForDurable holds the durability of two commits: no answer is sent while the older
// is held, even once the newer is released, and then all come in TXNR order.
func TestAcksWaitForDurable(t *testing.T) {
	sink := &testSink{}
	ts := startServer(t, Options{}, sink)
	c, r := dialRaw(t, ts, true)
	for i, batch := range []string{"2 syslog 1 a\n3 syslog 1 b\n", "4 syslog 1 c\n5 syslog 0\n"} {
		if _, err := io.WriteString(c, batch); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, fmt.Sprintf("commit %d", i+1), func() bool { return sink.commits() == i+1 })
	}
	sink.release(1)
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if f, err := r.ReadFrame(); !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
		t.Fatalf("before the first commit is durable: read %d %s %q, %v; want nothing", f.Txnr, f.Command, f.Data, err)
	}
	// The Reader's place is kept across the timeout: nothing of a frame was read.
	c.SetReadDeadline(time.Now().Add(testTimeout))
	sink.release(0)
	var got []byte
	for range 4 {
		f, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = AppendFrame(got, f)
	}
	want := "2 rsp 6 200 OK\n3 rsp 6 200 OK\n4 rsp 6 200 OK\n5 rsp 6 200 OK\n"
	if string(got) != want {
		t.Errorf("answers = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, sink.messages()); diff != "" {
		t.Errorf("committed (-want +got):\n%s", diff)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestSessionHostile sends what a client must not, as raw bytes, and checks what the server
// answers, that it closes the connection, and what it counts.
func TestSessionHostile(t *testing.T) {
	for _, tt := range []struct {
		name   string
		open   bool // send librelp's open first
		in     string
		reason string // counted in kinesyslog_relp_protocol_errors_total; "" for none
		want   string // everything the server answers after open, until it closes
		// halfClose ends the client's side after in.
		halfClose bool
	}{
		{name: "no open", in: "1 syslog 1 a\n", reason: reasonNoOpen, want: "0 serverclose 0\n"},
		{name: "open without syslog", in: "1 open 14 relp_version=0\n", reason: reasonBadOffer,
			want: "1 rsp 44 500 required command not supported by client\n0 serverclose 0\n"},
		{name: "not RELP", open: true, in: "<13>Jan  1 00:00:00 host app: hi\n", reason: reasonMalformed,
			want: "0 serverclose 0\n"},
		{name: "garbage after a message", open: true, in: "2 syslog 1 a\nxx yy\n", reason: reasonMalformed,
			want: "2 rsp 6 200 OK\n0 serverclose 0\n"},
		{name: "TXNR 0", open: true, in: "0 syslog 1 a\n", reason: reasonMalformed, want: "0 serverclose 0\n"},
		{name: "DATALEN above the maximum", open: true, in: "2 foo 1025 ", reason: reasonTooLarge,
			want: "0 serverclose 0\n"},
		{name: "ends inside a frame", open: true, in: "2 syslog 5 ab", halfClose: true, reason: reasonMalformed,
			want: "0 serverclose 0\n"},
		{name: "unknown command", open: true, in: "2 starttls 0\n3 syslog 1 a\n4 close 0\n", reason: reasonUnknownCommand,
			want: "2 rsp 25 500 command not supported\n3 rsp 6 200 OK\n4 rsp 6 200 OK\n0 serverclose 0\n"},
		{name: "second open", open: true, in: "2 open 15 commands=syslog\n3 close 0\n", reason: reasonUnknownCommand,
			want: "2 rsp 25 500 command not supported\n3 rsp 6 200 OK\n0 serverclose 0\n"},
		{name: "close", open: true, in: "2 syslog 1 a\n3 close 0\n", want: "2 rsp 6 200 OK\n3 rsp 6 200 OK\n0 serverclose 0\n"},
		{name: "client leaves", open: true, in: "2 syslog 1 a\n", halfClose: true, want: "2 rsp 6 200 OK\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Options{MaxMessageBytes: 1024}, &testSink{auto: true})
			c, r := dialRaw(t, ts, tt.open)
			if _, err := io.WriteString(c, tt.in); err != nil {
				t.Fatal(err)
			}
			if tt.halfClose {
				c.CloseWrite()
			}
			if got := readRest(t, r); got != tt.want {
				t.Errorf("server answered %q, want %q", got, tt.want)
			}
			err := ts.sessionEnd(t)
			if (err != nil) != (tt.reason != "" && tt.reason != reasonUnknownCommand) {
				t.Errorf("Serve = %v", err)
			}
			for _, reason := range protocolReasons {
				want := 0.0
				if reason == tt.reason {
					want = 1
				}
				if got := ts.protocolErrors(reason); got != want {
					t.Errorf("protocol errors %s = %v, want %v", reason, got, want)
				}
			}
		})
	}
}

// TestSessionTruncates sends syslog messages longer than the maximum, one of them longer than
// the Reader's buffer: each is acknowledged and cut to the maximum, the Sink is told, and the
// session goes on, as imrelp's default oversizeMode does, rather than ending it for the client
// to send the message again forever.
func TestSessionTruncates(t *testing.T) {
	const max = 1024
	long := strings.Repeat("x", max+1)
	huge := strings.Repeat("y", readBufferBytes*3)
	sink := &testSink{auto: true}
	ts := startServer(t, Options{MaxMessageBytes: max}, sink)
	c, r := dialRaw(t, ts, true)
	var in []byte
	for i, msg := range []string{long, "short", huge, "after"} {
		in = AppendFrame(in, Frame{Txnr: i + 2, Command: CmdSyslog, Data: []byte(msg)})
	}
	in = AppendFrame(in, Frame{Txnr: 6, Command: CmdClose})
	if _, err := c.Write(in); err != nil {
		t.Fatal(err)
	}
	want := "2 rsp 6 200 OK\n3 rsp 6 200 OK\n4 rsp 6 200 OK\n5 rsp 6 200 OK\n6 rsp 6 200 OK\n0 serverclose 0\n"
	if got := readRest(t, r); got != want {
		t.Errorf("server answered %q, want %q", got, want)
	}
	if err := ts.sessionEnd(t); err != nil {
		t.Errorf("Serve = %v", err)
	}
	if diff := cmp.Diff([]string{long[:max], "short", huge[:max], "after"}, sink.messages()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if diff := cmp.Diff([]bool{true, false, true, false}, sink.truncated); diff != "" {
		t.Errorf("truncated (-want +got):\n%s", diff)
	}
	if got := ts.protocolErrors(reasonTooLarge); got != 0 {
		t.Errorf("protocol errors %s = %v, want 0", reasonTooLarge, got)
	}
}

// TestWindowExceeded sends more frames than the window while none is durable: the session ends,
// after answering those it took once they are durable.
func TestWindowExceeded(t *testing.T) {
	sink := &testSink{}
	ts := startServer(t, Options{Window: 3}, sink)
	c, r := dialRaw(t, ts, true)
	if _, err := io.WriteString(c, "2 syslog 1 a\n3 syslog 1 b\n4 syslog 1 c\n5 syslog 1 d\n"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "window_exceeded counted", func() bool { return ts.protocolErrors(reasonWindow) == 1 })
	for i := range sink.commits() {
		sink.release(i)
	}
	want := "2 rsp 6 200 OK\n3 rsp 6 200 OK\n4 rsp 6 200 OK\n0 serverclose 0\n"
	if got := readRest(t, r); got != want {
		t.Errorf("server answered %q, want %q", got, want)
	}
	if err := ts.sessionEnd(t); err == nil {
		t.Errorf("Serve = nil, want the window error")
	}
}

// TestClientNotReadingAcks fills the socket buffers with answers the client never reads: the
// write times out and the session ends.
func TestClientNotReadingAcks(t *testing.T) {
	ts := startServer(t, Options{Window: 1 << 30, WriteTimeout: 100 * time.Millisecond}, &testSink{auto: true})
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(1024)
	frames := []byte(rawOpen)
	for i := range 10_000 {
		frames = AppendFrame(frames, Frame{Txnr: i + 2, Command: CmdSyslog, Data: []byte("message")})
	}
	c.SetWriteDeadline(time.Now().Add(testTimeout))
	var writes sync.WaitGroup
	writes.Go(func() {
		// Until the server gives up and closes; no more than 1,000 rounds.
		for i := 0; i < 1000; i++ {
			if _, err := c.Write(frames); err != nil {
				return
			}
			frames = frames[:0]
			for j := range 10_000 {
				frames = AppendFrame(frames, Frame{Txnr: 10_002 + i*10_000 + j, Command: CmdSyslog, Data: []byte("message")})
			}
		}
	})
	if err := ts.sessionEnd(t); err == nil {
		t.Errorf("Serve = nil, want the write error")
	}
	if got := ts.protocolErrors(reasonWriteTimeout); got != 1 {
		t.Errorf("protocol errors %s = %v, want 1", reasonWriteTimeout, got)
	}
	c.Close()
	writes.Wait()
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: 100 * time.Millisecond}, &testSink{auto: true})
	_, r := dialRaw(t, ts, true)
	if got, want := readRest(t, r), "0 serverclose 0\n"; got != want {
		t.Errorf("idle session: server sent %q, want %q", got, want)
	}
	if err := ts.sessionEnd(t); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

// TestShutdown cancels the server's context while a commit is not durable: the session ends
// with serverclose, without acknowledging it.
func TestShutdown(t *testing.T) {
	sink := &testSink{}
	ts := startServer(t, Options{}, sink)
	c, r := dialRaw(t, ts, true)
	if _, err := io.WriteString(c, "2 syslog 1 a\n"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "commit", func() bool { return sink.commits() == 1 })
	ts.cancel()
	if got, want := readRest(t, r), "0 serverclose 0\n"; got != want {
		t.Errorf("at shutdown: server sent %q, want %q", got, want)
	}
	if err := ts.sessionEnd(t); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

// TestSinkErrors: an error wrapping ErrRefused answers rsp 500, which the client reports;
// any other error leaves the messages unacknowledged for the client to send again.
func TestSinkErrors(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		sink                  *testSink
		wantRefused           int
		wantUnacked, wantServ bool
	}{
		{name: "refused at commit", sink: &testSink{auto: true, commitErr: fmt.Errorf("message too odd: %w", ErrRefused)},
			wantRefused: 3},
		{name: "refused when durable", sink: &testSink{auto: true, waitErr: fmt.Errorf("message too odd: %w", ErrRefused)},
			wantRefused: 3},
		{name: "commit fails", sink: &testSink{auto: true, commitErr: errors.New("shutting down")}, wantUnacked: true},
		{name: "store fails", sink: &testSink{auto: true, waitErr: errors.New("disk failed")}, wantUnacked: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Options{}, tt.sink)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			var refused []string
			c, err := Dial(ctx, "tcp", ts.addr, ClientOptions{OnResponse: func(msg []byte, err error) {
				var re *ResponseError
				if !errors.As(err, &re) || re.Code != 500 || !strings.Contains(re.Text, "message too odd") {
					t.Errorf("message %q answered %v, want a 500 refusal", msg, err)
				}
				refused = append(refused, string(msg))
			}})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{"a", "b", "c"} {
				if err := c.Send(ctx, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			err = c.Flush(ctx)
			if tt.wantUnacked {
				if !errors.Is(err, ErrServerClosed) {
					t.Errorf("Flush = %v, want ErrServerClosed", err)
				}
				if got := len(c.Unacknowledged()); got != 3 {
					t.Errorf("%d unacknowledged, want 3", got)
				}
				if err := ts.sessionEnd(t); err == nil {
					t.Errorf("Serve = nil, want the sink's error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Flush = %v", err)
			}
			if len(refused) != tt.wantRefused {
				t.Errorf("refused %q, want %d", refused, tt.wantRefused)
			}
			if got := testutil.ToFloat64(ts.srv.m.refused); got != float64(tt.wantRefused) {
				t.Errorf("kinesyslog_relp_refused_messages_total = %v, want %d", got, tt.wantRefused)
			}
			if err := c.Close(ctx); err != nil {
				t.Errorf("Close = %v", err)
			}
		})
	}
}

// TestBackpressure blocks the sink's Commit: the session reads nothing meanwhile, so the
// client's window fills with nothing acknowledged, and all goes through once Commit returns.
func TestBackpressure(t *testing.T) {
	sink := &testSink{auto: true, block: make(chan struct{})}
	ts := startServer(t, Options{}, sink)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, "tcp", ts.addr, ClientOptions{Window: 4})
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		for range 20 {
			if err := c.Send(ctx, []byte("m")); err != nil {
				sent <- err
				return
			}
		}
		sent <- c.Flush(ctx)
	}()
	testenv.Eventually(t, "messages staged", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.staged) > 0
	})
	select {
	case err := <-sent:
		t.Fatalf("client done while Commit blocks: %v", err)
	default:
	}
	close(sink.block)
	if err := <-sent; err != nil {
		t.Fatalf("Send/Flush: %v", err)
	}
	if got := len(sink.messages()); got != 20 {
		t.Errorf("committed %d messages, want 20", got)
	}
	c.Close(ctx)
}

// TestDeadline: a deadline is set at the first call whatever its timeout (it clears the PROXY
// header's or the handshake's), then moved on only once less than the timeout is left, to 9/8 of
// the timeout from then: never sooner than the timeout after the last call.
func TestDeadline(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	const timeout = 80 * time.Second
	for _, tt := range []struct {
		name    string
		timeout time.Duration
		calls   []time.Duration // since t0
		want    []time.Duration // the deadlines set, since t0; -1: none (the zero time)
	}{
		{name: "no timeout", calls: []time.Duration{0, time.Second, time.Hour}, want: []time.Duration{-1}},
		{name: "busy", timeout: timeout,
			calls: []time.Duration{0, time.Second, 10 * time.Second, 10*time.Second + 1, 11 * time.Second, 25 * time.Second},
			want:  []time.Duration{90 * time.Second, 100*time.Second + 1, 115 * time.Second}},
		{name: "idle then busy", timeout: timeout, calls: []time.Duration{0, time.Hour, time.Hour + time.Second},
			want: []time.Duration{90 * time.Second, time.Hour + 90*time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := deadline{timeout: tt.timeout}
			var (
				got     []time.Duration
				current time.Time
			)
			for _, c := range tt.calls {
				now := t0.Add(c)
				if at, ok := d.next(now); ok {
					d.set(at)
					current = at
					if at.IsZero() {
						got = append(got, -1)
						continue
					}
					got = append(got, at.Sub(t0))
				}
				if !current.IsZero() && current.Sub(now) < tt.timeout {
					t.Errorf("at %v: deadline %v after, want at least %v", c, current.Sub(now), tt.timeout)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("deadlines set (-want +got):\n%s", diff)
			}
		})
	}
}
