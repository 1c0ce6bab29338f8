package relp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/e2e"
	"github.com/kinesyslog/kinesyslog/internal/relp"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// interopTimeout bounds each wait for rsyslog.
const interopTimeout = 60 * time.Second

// requireRelpModules skips the test when rsyslog or its RELP modules (Debian's rsyslog-relp)
// are missing, or fails it when e2e.RequireInteropEnv is 1.
func requireRelpModules(t *testing.T) {
	t.Helper()
	e2e.Program(t, "rsyslogd")
	e2e.RsyslogModule(t, "omrelp")
}

// seqSink records the messages of every session by their "seq=N". Durability is immediate. With
// failAt > 0, the first commit that takes the count of distinct messages past failAt fails
// (its messages are not recorded), which ends that session unacknowledged.
type seqSink struct {
	mu       sync.Mutex
	staged   []int
	seen     map[int]int
	failAt   int
	failed   bool
	sessions int
}

var seqRE = regexp.MustCompile(`seq=(\d+)`)

func (s *seqSink) Add(msg []byte, _ time.Time, _ bool) {
	m := seqRE.FindSubmatch(msg)
	n := -1
	if m != nil {
		n, _ = strconv.Atoi(string(m[1]))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staged = append(s.staged, n)
}

func (s *seqSink) Commit() (relp.Durable, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	staged := s.staged
	s.staged = nil
	if s.failAt > 0 && !s.failed && len(s.seen)+len(staged) > s.failAt {
		s.failed = true
		return nil, errors.New("session killed by the test")
	}
	for _, n := range staged {
		s.seen[n]++
	}
	return done{}, nil
}

// missing returns how many of 0..n-1 were not seen, and how many were seen more than once.
func (s *seqSink) missing(n int) (missing, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range n {
		switch c := s.seen[i]; {
		case c == 0:
			missing++
		case c > 1:
			dups++
		}
	}
	return missing, dups
}

type done struct{}

func (done) Wait(context.Context) error { return nil }

// serveRelp runs a relp.Server on 127.0.0.1 with sink, over TLS when conf is set, and returns
// its port.
func serveRelp(t *testing.T, conf *tls.Config, sink *seqSink) int {
	t.Helper()
	srv, err := relp.NewServer(relp.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			sink.mu.Lock()
			sink.sessions++
			sink.mu.Unlock()
			if conf != nil {
				conn = tls.Server(conn, conf)
			}
			wg.Go(func() { srv.Serve(ctx, conn, sink) })
		}
	})
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// sendTCP sends n messages "seq=0" to "seq=n-1", LF-framed, to an imtcp port.
func sendTCP(t *testing.T, port, n int) {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	for i := range n {
		fmt.Fprintf(w, "<13>Dec  3 00:00:00 host app: interop seq=%d\n", i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// omrelpConfig is an rsyslog configuration that forwards what imtcp on inPort takes to RELP
// port relpPort, retrying every second; extra are more omrelp parameters. The window is the
// Server's default, 1024: with librelp's default of 128, each full window waits about 100 ms
// (librelp's pace, the same against imrelp), and 10,000 messages take 8 s instead of 50 ms.
func omrelpConfig(inPort, relpPort int, extra string) string {
	return fmt.Sprintf(`module(load="imtcp")
module(load="omrelp")
input(type="imtcp" port="%d" address="127.0.0.1" ruleset="fwd")
ruleset(name="fwd") {
  action(type="omrelp" target="127.0.0.1" port="%d" windowSize="1024" %s
         action.resumeRetryCount="-1" action.resumeInterval="1")
}
`, inPort, relpPort, extra)
}

// waitAll polls sink until it has every one of n messages; rsyslog's output is in the log of a
// failed test.
func waitAll(t *testing.T, sink *seqSink, n int) {
	t.Helper()
	testenv.EventuallyWithin(t, interopTimeout, fmt.Sprintf("all %d messages", n), func() bool {
		missing, _ := sink.missing(n)
		return missing == 0
	})
}

// TestInteropOmrelp forwards 10,000 messages through rsyslog's omrelp to the Server, in plain
// TCP and over TLS: each arrives exactly once.
func TestInteropOmrelp(t *testing.T) {
	requireRelpModules(t)
	pki := e2e.NewPKI(t, "relp-ca")
	cert := pki.Issue(t, e2e.CertOptions{CommonName: "localhost", Hosts: []string{"localhost", "127.0.0.1"}})
	client := pki.Issue(t, e2e.CertOptions{CommonName: "rsyslog", Client: true})
	for _, tt := range []struct {
		name  string
		tls   *tls.Config
		extra string
	}{
		{name: "tcp"},
		{name: "tls", tls: &tls.Config{Certificates: []tls.Certificate{cert.TLS}},
			extra: fmt.Sprintf(`tls="on" tls.caCert=%q tls.myCert=%q tls.myPrivKey=%q tls.authMode="name" tls.permittedPeer=["localhost"]`,
				pki.CAFile, client.CertFile, client.KeyFile)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const n = 10_000
			sink := &seqSink{seen: map[int]int{}}
			relpPort := serveRelp(t, tt.tls, sink)
			inPort := testenv.FreePort(t)
			rsyslog := e2e.StartRsyslog(t, e2e.DaemonOptions{Dir: t.TempDir(),
				Config: omrelpConfig(inPort, relpPort, tt.extra),
				Ready:  e2e.Accepting("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(inPort)))})
			start := time.Now()
			sendTCP(t, inPort, n)
			waitAll(t, sink, n)
			t.Logf("%d messages received in %v", n, time.Since(start))
			if err := rsyslog.Stop(); err != nil {
				t.Errorf("rsyslog exit: %v", err)
			}
			if missing, dups := sink.missing(n); missing != 0 || dups != 0 {
				t.Errorf("%d missing, %d duplicated, want none", missing, dups)
			}
			if len(sink.seen) != n {
				t.Errorf("%d distinct messages, want %d", len(sink.seen), n)
			}
		})
	}
}

// TestInteropOmrelpResend ends rsyslog's session midway, with messages unacknowledged: rsyslog
// connects again and sends them again, so that none is missing.
func TestInteropOmrelpResend(t *testing.T) {
	requireRelpModules(t)
	const n = 10_000
	sink := &seqSink{seen: map[int]int{}, failAt: n / 3}
	relpPort := serveRelp(t, nil, sink)
	inPort := testenv.FreePort(t)
	e2e.StartRsyslog(t, e2e.DaemonOptions{Dir: t.TempDir(),
		Config: omrelpConfig(inPort, relpPort, ""),
		Ready:  e2e.Accepting("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(inPort)))})
	sendTCP(t, inPort, n)
	waitAll(t, sink, n)
	sink.mu.Lock()
	failed, sessions := sink.failed, sink.sessions
	sink.mu.Unlock()
	if !failed || sessions < 2 {
		t.Errorf("session killed: %v, sessions: %d; want a kill and another session", failed, sessions)
	}
	_, dups := sink.missing(n)
	t.Logf("all %d messages received over %d sessions, %d of them more than once", n, sessions, dups)
}

// TestInteropImrelp sends with Client to rsyslog's imrelp, which writes to a file: every
// message is acknowledged and written.
func TestInteropImrelp(t *testing.T) {
	requireRelpModules(t)
	const n = 2000
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	port := testenv.FreePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	rsyslog := e2e.StartRsyslog(t, e2e.DaemonOptions{Dir: dir, Config: fmt.Sprintf(`module(load="imrelp")
template(name="raw" type="string" string="%%rawmsg%%\n")
input(type="imrelp" port="%d" address="127.0.0.1" ruleset="out")
ruleset(name="out") { action(type="omfile" file=%q template="raw") }
`, port, out), Ready: e2e.Accepting("tcp", addr)})
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	acked := 0
	c, err := relp.Dial(ctx, "tcp", addr, relp.ClientOptions{OnResponse: func(msg []byte, err error) {
		if err != nil {
			t.Errorf("imrelp refused %q: %v", msg, err)
		}
		acked++
	}})
	if err != nil {
		t.Fatalf("Dial: %v\n%s", err, rsyslog.Log())
	}
	var want strings.Builder
	for i := range n {
		msg := fmt.Sprintf("<13>1 2024-01-01T00:00:00Z host app - - - interop seq=%d", i)
		want.WriteString(msg + "\n")
		if err := c.Send(ctx, []byte(msg)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if acked != n {
		t.Errorf("%d acknowledged, want %d", acked, n)
	}
	testenv.EventuallyWithin(t, interopTimeout, fmt.Sprintf("%s to hold the %d messages sent (%d bytes)", out, n, want.Len()), func() bool {
		got, _ := os.ReadFile(out)
		return string(got) == want.String()
	})
}
