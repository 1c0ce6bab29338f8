package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// faultDeadline bounds every wait of the fault tests for the relay to reach a state.
const faultDeadline = 45 * time.Second

// faultRelay is a relay run for a fault test: pointed at a firehosetest.Server, listening on
// 127.0.0.1 only, with its metrics served and a spool directory the test keeps across restarts.
type faultRelay struct {
	*Relay
	tcpPort  int
	extraTCP []int
	udpPort  int
	spoolDir string
}

// faultOptions says how to run a faultRelay; zero fields take fresh ports and directories.
type faultOptions struct {
	spoolDir string
	tcpPort  int      // the TCP port, for a relay restarted where its clients connect
	metrics  string   // the metrics address, for a relay restarted where health checks look
	udp      bool     // listen on a UDP port too
	extraTCP int      // more TCP ports to listen on
	args     []string // more options of `kinesyslog listen`
}

// startMemoryRelay is startFaultRelay with the intake log off: what the buffers hold is in
// memory only.
func startMemoryRelay(t *testing.T, srv *firehosetest.Server, o faultOptions) *faultRelay {
	t.Helper()
	o.args = append([]string{"--intake-log", "off"}, o.args...)
	return startFaultRelay(t, srv, o)
}

func startFaultRelay(t *testing.T, srv *firehosetest.Server, o faultOptions) *faultRelay {
	t.Helper()
	if o.spoolDir == "" {
		o.spoolDir = filepath.Join(t.TempDir(), "spool")
	}
	ports := testenv.FreePorts(t, 1+o.extraTCP)
	if o.tcpPort != 0 {
		ports[0] = o.tcpPort
	}
	r := &faultRelay{tcpPort: ports[0], extraTCP: ports[1:], spoolDir: o.spoolDir}
	args, env := FirehoseArgs(srv)
	args = append(args, "--address", "127.0.0.1", "--spool-dir", o.spoolDir)
	for _, p := range append([]int{r.tcpPort}, r.extraTCP...) {
		args = append(args, "--tcp-port", Port(p))
	}
	if o.udp {
		r.udpPort = testenv.FreePort(t)
		args = append(args, "--udp-port", Port(r.udpPort))
	}
	r.Relay = Start(t, Options{Args: append(args, o.args...), Env: env, Metrics: true, MetricsAddress: o.metrics})
	return r
}

// waitMetric polls the metric name until cond holds for its value, and returns the value. A
// metric not served yet (a labelled counter before its first count) is 0.
func (r *faultRelay) waitMetric(t *testing.T, name, what string, cond func(float64) bool) float64 {
	t.Helper()
	var v float64
	testenv.EventuallyWithin(t, faultDeadline, name+" "+what, func() bool {
		v = r.Totals(t)[name]
		return cond(v)
	})
	return v
}

// waitReceived waits until the relay has read at least n messages and reads no more: what the
// relay has not read when it stops is lost in the kernel, which the tests that expect every
// message delivered must rule out.
func (r *faultRelay) waitReceived(t *testing.T, n int) {
	t.Helper()
	last, steady := -1.0, 0
	r.waitMetric(t, "kinesyslog_messages_received_total", fmt.Sprintf("at least %d, and steady", n), func(v float64) bool {
		if v == last {
			steady++
		} else {
			last, steady = v, 0
		}
		return v >= float64(n) && steady >= 5
	})
}

// senderStamp is the RFC5424 timestamp of every message the senders write, so that each event's
// JSON has a known length.
const senderStamp = "2026-11-25T03:00:00.000Z"

// A sender writes numbered messages "tok-<id>-<n> <random base64>" over TCP with octet counting
// (RFC6587), and counts the frames the kernel took whole: with octet counting a frame cut short by
// a closed connection is never taken for a message.
type sender struct {
	id      string
	conn    net.Conn
	written atomic.Int64
	stop    chan struct{}
	done    chan struct{}
	err     error // why it stopped early; read after done
}

// senderOptions says what a sender writes.
type senderOptions struct {
	count   int           // messages to write; 0 means until stopped
	payload int           // bytes of random base64 after the token
	pace    time.Duration // pause between writes of 16 messages; 0 writes as fast as it can
}

func startSender(t *testing.T, port int, id string, o senderOptions) *sender {
	t.Helper()
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", Port(port)))
	if err != nil {
		t.Fatalf("sender %s: %v", id, err)
	}
	s := &sender{id: id, conn: conn, stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		s.halt()
		conn.Close()
	})
	go s.run(o)
	return s
}

func (s *sender) run(o senderOptions) {
	defer close(s.done)
	defer s.conn.(*net.TCPConn).CloseWrite()
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	raw := make([]byte, o.payload*3/4+3)
	var buf bytes.Buffer
	var ends []int
	for n := 0; o.count == 0 || n < o.count; {
		select {
		case <-s.stop:
			return
		default:
		}
		buf.Reset()
		ends = ends[:0]
		for ; len(ends) < 16 && (o.count == 0 || n < o.count); n++ {
			msg := message(s.id, n, rnd, raw, o.payload)
			fmt.Fprintf(&buf, "%d %s", len(msg), msg)
			ends = append(ends, buf.Len())
		}
		// A generous deadline only keeps a broken test from hanging: senders blocked by
		// backpressure are released by the test well within it.
		s.conn.SetWriteDeadline(time.Now().Add(2 * faultDeadline))
		w, err := s.conn.Write(buf.Bytes())
		for _, end := range ends {
			if end <= w {
				s.written.Add(1)
			}
		}
		if err != nil {
			s.err = err
			return
		}
		if o.pace > 0 {
			time.Sleep(o.pace)
		}
	}
}

// message returns message n of sender id, with payload bytes of random base64.
func message(id string, n int, rnd *rand.Rand, raw []byte, payload int) string {
	for i := range raw {
		raw[i] = byte(rnd.Uint32())
	}
	body := base64.StdEncoding.EncodeToString(raw)[:payload]
	return fmt.Sprintf("<134>1 %s host app - - - %s %s", senderStamp, token(id, n), body)
}

func token(id string, n int) string { return fmt.Sprintf("tok-%s-%d", id, n) }

// halt stops the sender after its current write.
func (s *sender) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
}

// wait waits until the sender has stopped, by itself or by halt, and returns how many messages
// it wrote whole.
func (s *sender) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(2 * faultDeadline):
		t.Fatalf("sender %s still writing after %v", s.id, 2*faultDeadline)
	}
	return int(s.written.Load())
}

// sentTokens waits for every sender to stop, failing the test if one stopped on an error, and
// returns the tokens of all the messages they wrote whole.
func sentTokens(t *testing.T, senders []*sender) []string {
	t.Helper()
	var sent []string
	for _, s := range senders {
		n := s.wait(t)
		if s.err != nil {
			t.Fatalf("sender %s stopped after %d messages: %v", s.id, n, s.err)
		}
		sent = append(sent, tokens(s.id, n)...)
	}
	return sent
}

// tokens returns the tokens of the first n messages of sender id.
func tokens(id string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = token(id, i)
	}
	return out
}

// deliveredPrefix returns how many of sender id's first messages, from its first on, were
// delivered, by delivered's counts of tokens.
func deliveredPrefix(delivered map[string]int, id string) int {
	n := 0
	for delivered[token(id, n)] > 0 {
		n++
	}
	return n
}

// eventBytes is the length of the JSON event the relay makes of a sender's message with payload
// bytes, which is what it holds in memory for it.
func eventBytes(id string, n, payload int) int {
	msg := fmt.Sprintf("<134>1 %s host app - - - %s %s", senderStamp, token(id, n), strings.Repeat("A", payload))
	ts, _ := time.Parse(time.RFC3339, senderStamp)
	return len(record.AppendEvent(nil, record.UUID{}, ts.UnixMilli(), []byte(msg)))
}

var faultToken = regexp.MustCompile(`tok-[a-z0-9]+-[0-9]+`)

// countTokens counts the events of recs by token, checking that each record has the test
// server's account as its owner.
func countTokens(t *testing.T, recs []*record.Record) map[string]int {
	t.Helper()
	counts := map[string]int{}
	badOwner := 0
	for _, rec := range recs {
		if rec.Owner != firehosetest.DefaultAccount {
			badOwner++
		}
		for _, ev := range rec.LogEvents {
			counts[faultToken.FindString(ev.Message)]++
		}
	}
	if badOwner > 0 {
		t.Errorf("%d records have another owner than %s", badOwner, firehosetest.DefaultAccount)
	}
	return counts
}

// tally compares delivered token counts with the tokens sent: how many are missing, how many
// were delivered more than once (duplicates, counting each extra copy), and how many delivered
// tokens were never sent.
type tally struct{ sent, missing, duplicates, unexpected int }

func compare(counts map[string]int, sent []string) tally {
	r := tally{sent: len(sent)}
	want := make(map[string]bool, len(sent))
	for _, tok := range sent {
		want[tok] = true
		switch n := counts[tok]; {
		case n == 0:
			r.missing++
		case n > 1:
			r.duplicates += n - 1
		}
	}
	for tok := range counts {
		if !want[tok] {
			r.unexpected++
		}
	}
	return r
}

// spoolNames returns the names of the records in a spool directory.
func spoolNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		if spoolRecordName.MatchString(de.Name()) {
			names = append(names, de.Name())
		}
	}
	return names
}

var spoolRecordName = regexp.MustCompile(`^[0-9]{20}-[0-9]{13}\.gz$`)

// spooledTokens decodes every record in a spool directory, which fails the test if one is
// incomplete, and counts its events by token.
func spooledTokens(t *testing.T, dir string) map[string]int {
	t.Helper()
	var recs []*record.Record
	for _, name := range spoolNames(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, Decode(t, bytes.NewReader(b))...)
	}
	return countTokens(t, recs)
}

// spoolWatch checks that no record leaves the spool before the destination accepted it: when a
// record file disappears, its content must already be among the records the server accepted
// (the server stores a record before it answers, and the relay deletes it only after the
// answer). A record quarantined instead of delivered fails the check as well.
type spoolWatch struct {
	t        *testing.T
	dir      string
	srv      *firehosetest.Server
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	seen     map[string][32]byte // records present at the last look, by name
	accepted map[[32]byte]bool
	indexed  int // records of srv.Records() hashed into accepted
	checked  int // records seen leaving the spool, each found accepted
	early    []string
}

func watchSpool(t *testing.T, dir string, srv *firehosetest.Server) *spoolWatch {
	w := &spoolWatch{t: t, dir: dir, srv: srv, stop: make(chan struct{}), done: make(chan struct{}),
		seen: map[string][32]byte{}, accepted: map[[32]byte]bool{}}
	go w.run()
	t.Cleanup(w.halt)
	return w
}

func (w *spoolWatch) run() {
	defer close(w.done)
	for {
		w.look()
		select {
		case <-w.stop:
			w.look()
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// look notes new records and checks those that left.
func (w *spoolWatch) look() {
	des, _ := os.ReadDir(w.dir)
	present := map[string]bool{}
	for _, de := range des {
		name := de.Name()
		if !spoolRecordName.MatchString(name) {
			continue
		}
		present[name] = true
		if _, ok := w.seen[name]; ok {
			continue
		}
		// Records appear whole (renamed into place); one removed before it could be read
		// escapes the check, which the count of checked records shows.
		if b, err := os.ReadFile(filepath.Join(w.dir, name)); err == nil {
			w.seen[name] = sha256.Sum256(b)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, sum := range w.seen {
		if present[name] {
			continue
		}
		delete(w.seen, name)
		if !w.isAccepted(sum) {
			w.early = append(w.early, name)
			continue
		}
		w.checked++
	}
}

func (w *spoolWatch) isAccepted(sum [32]byte) bool {
	if w.accepted[sum] {
		return true
	}
	recs := w.srv.Records()
	for _, r := range recs[w.indexed:] {
		w.accepted[sha256.Sum256(r.Data)] = true
	}
	w.indexed = len(recs)
	return w.accepted[sum]
}

func (w *spoolWatch) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// result stops the watch and fails the test for every record that left the spool before it was
// accepted. It returns how many records were seen leaving after acceptance.
func (w *spoolWatch) result() int {
	w.t.Helper()
	w.halt()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range w.early {
		w.t.Errorf("record %s left the spool without being accepted by the destination", name)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "quarantine")); err == nil {
		w.t.Errorf("records were quarantined in %s", w.dir)
	}
	return w.checked
}
