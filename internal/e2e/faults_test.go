package e2e

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// The fault tests run the real binary against the Firehose test server while it misbehaves, and
// check what issue 5 promises: at-least-once delivery from the moment a record is spooled, and
// bounded loss, memory and shutdown time before that. Each test logs what it measured (duplicates,
// loss after kill -9, messages written after SIGTERM) with t.Logf.

// payload is the bytes of random base64 in each TCP message: random enough that records hold
// about a megabyte of compressed events each, so that a few megabytes make several records.
const payload = 1000

// sendUntilSpooled sends messages over TCP until the relay has spooled more records than make a
// full PutRecordBatch call (which the uploader sends without waiting for its interval), and
// returns how many it sent.
func sendUntilSpooled(t *testing.T, r *faultRelay, id string) int {
	t.Helper()
	s := startSender(t, r.tcpPort, id, senderOptions{payload: payload})
	r.waitMetric(t, "kinesyslog_spool_records", "more than a full call", func(v float64) bool { return v >= 6 })
	s.halt()
	n := s.wait(t)
	if s.err != nil {
		t.Fatalf("sender stopped after %d messages: %v", n, s.err)
	}
	return n
}

// checkAll fails the test unless every token of sent was delivered exactly once, and nothing
// else was delivered.
func checkAll(t *testing.T, srv *firehosetest.Server, sent []string) tally {
	t.Helper()
	tl := compare(countTokens(t, FirehoseRecords(t, srv)), sent)
	if tl.missing+tl.duplicates+tl.unexpected > 0 {
		t.Errorf("of %d messages: %d missing, %d duplicates, %d unexpected", tl.sent, tl.missing, tl.duplicates, tl.unexpected)
	}
	return tl
}

// stopClean sends SIGTERM and fails the test unless the relay exits 0 with its spool empty.
func stopClean(t *testing.T, r *faultRelay) {
	t.Helper()
	if err := r.Stop(); err != nil {
		t.Fatalf("relay exit after SIGTERM: %v", err)
	}
	if names := spoolNames(t, r.spoolDir); len(names) > 0 {
		t.Errorf("%d records left in the spool after a clean shutdown", len(names))
	}
}

// TestFaultFirehoseOutage takes Firehose down (connections refused) while a sender writes over
// TCP: records are spooled and retried, and once Firehose is back every message is delivered,
// and only once.
func TestFaultFirehoseOutage(t *testing.T) {
	srv := firehosetest.Start(t, firehosetest.Config{})
	r := startFaultRelay(t, srv, faultOptions{args: []string{"--shutdown-timeout", "40s"}})
	watch := watchSpool(t, r.spoolDir, srv)
	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})

	n := sendUntilSpooled(t, r, "out")
	r.waitMetric(t, "kinesyslog_upload_call_errors_total", "above 0", func(v float64) bool { return v > 0 })
	if got := srv.Stats().RecordsAccepted; got != 0 {
		t.Fatalf("the server accepted %d records during the outage", got)
	}

	srv.SetFault(firehosetest.Fault{})
	testenv.EventuallyWithin(t, faultDeadline, "records delivered after the outage, while the relay runs", func() bool { return srv.Stats().RecordsAccepted > 0 })
	r.waitReceived(t, n)
	stopClean(t, r)
	tl := checkAll(t, srv, tokens("out", n))
	t.Logf("outage: %d messages sent during the outage, %d delivered twice; %d records checked leaving the spool only once accepted",
		n, tl.duplicates, watch.result())
}

// TestFaultLostResponses loses the answer to every third PutRecordBatch call after the server
// stored its records: the relay cannot know, sends them again, and the duplicates this makes are
// counted. Every duplicate must come from a call whose answer was lost.
func TestFaultLostResponses(t *testing.T) {
	srv := firehosetest.Start(t, firehosetest.Config{})
	var mu sync.Mutex
	inLostCall := map[[32]byte]bool{}
	lost := func(n int) bool { return n%3 == 1 }
	srv.SetFault(firehosetest.Fault{
		Call: func(op string, n int) firehosetest.CallFault {
			if op == "PutRecordBatch" && lost(n) {
				return firehosetest.LoseResponse
			}
			return firehosetest.NoFault
		},
		RecordFailure: func(n, _ int, data []byte) firehosetest.RecordFailure {
			if lost(n) {
				mu.Lock()
				inLostCall[sha256.Sum256(data)] = true
				mu.Unlock()
			}
			return firehosetest.RecordFailure{}
		},
	})
	r := startFaultRelay(t, srv, faultOptions{args: []string{"--shutdown-timeout", "40s"}})
	s := startSender(t, r.tcpPort, "lost", senderOptions{count: 8000, payload: payload})
	n := s.wait(t)
	if s.err != nil {
		t.Fatalf("sender stopped after %d messages: %v", n, s.err)
	}
	r.waitReceived(t, n)
	stopClean(t, r)

	tl := compare(countTokens(t, FirehoseRecords(t, srv)), tokens("lost", n))
	if tl.missing+tl.unexpected > 0 {
		t.Errorf("of %d messages: %d missing, %d unexpected", tl.sent, tl.missing, tl.unexpected)
	}
	copies := map[[32]byte]int{}
	for _, rec := range srv.Records() {
		copies[sha256.Sum256(rec.Data)]++
	}
	dupRecords := 0
	for sum, c := range copies {
		if c == 1 {
			continue
		}
		dupRecords += c - 1
		if !inLostCall[sum] {
			t.Errorf("a record was delivered %d times without its answer ever being lost", c)
		}
	}
	if dupRecords == 0 {
		t.Error("no record was sent again after a lost answer: the fault was not exercised")
	}
	t.Logf("lost responses: %d records (%d of %d messages) delivered twice, each after a lost answer",
		dupRecords, tl.duplicates, n)
}

// TestFaultPartialFailuresAndThrottling refuses 30% of the records of every call and throttles
// every other call, while the relay runs and during its last upload at shutdown: every message is
// delivered exactly once, and no spooled record is deleted before the server accepted it.
func TestFaultPartialFailuresAndThrottling(t *testing.T) {
	srv := firehosetest.Start(t, firehosetest.Config{Seed: 5})
	faults := firehosetest.Fault{
		RecordFailureRate: 0.3,
		Call: func(op string, n int) firehosetest.CallFault {
			if op == "PutRecordBatch" && n%2 == 0 {
				return firehosetest.Throttle
			}
			return firehosetest.NoFault
		},
	}
	srv.SetFault(faults)
	// Small senders on ports of their own leave a record each to the last upload, so that it
	// has many records to see refused and retry.
	r := startFaultRelay(t, srv, faultOptions{extraTCP: 24, args: []string{"--shutdown-timeout", "40s"}})
	watch := watchSpool(t, r.spoolDir, srv)
	senders := []*sender{startSender(t, r.tcpPort, "big", senderOptions{count: 12000, payload: payload})}
	for i, p := range r.extraTCP {
		senders = append(senders, startSender(t, p, fmt.Sprintf("small%d", i), senderOptions{count: 200, payload: 200}))
	}
	sent := sentTokens(t, senders)
	testenv.EventuallyWithin(t, faultDeadline, "a full batch sent while the relay runs", func() bool { return srv.Stats().Calls["PutRecordBatch"] > 0 })

	r.waitReceived(t, len(sent))
	atStop := srv.Stats()
	r.Signal(syscall.SIGTERM)
	// A record refused at 65% of attempts can need many of them, with backoffs of up to 30 s
	// between: once the run has met the faults checked below and the last upload a few of
	// them, healing keeps its retries within --shutdown-timeout, the retries that follow still
	// watched. Thresholds a run rarely reached (10 refused, 6 throttled) left a loaded one to the
	// luck of its backoffs, past the 40 s, while this wait allows 45.
	const minRefused, minThrottled, minInLast = 3, 2, 2
	lastUpload := func() (refused, throttled int) {
		st := srv.Stats()
		return st.RecordsFailed - atStop.RecordsFailed, st.Faults - atStop.Faults
	}
	testenv.EventuallyWithin(t, faultDeadline, "records refused and calls throttled during the last upload", func() bool {
		st := srv.Stats()
		refused, throttled := lastUpload()
		return r.Exited() || st.RecordsFailed >= minRefused && st.Faults >= minThrottled && refused+throttled >= minInLast
	})
	srv.SetFault(firehosetest.Fault{})
	if refused, throttled := lastUpload(); refused+throttled == 0 {
		t.Errorf("the last upload met no refused record and no throttled call: it tested no fault")
	}
	if err := r.Wait(); err != nil {
		t.Fatalf("relay exit after SIGTERM: %v", err)
	}
	if names := spoolNames(t, r.spoolDir); len(names) > 0 {
		t.Errorf("%d records left in the spool after a clean shutdown", len(names))
	}
	checkAll(t, srv, sent)
	st := srv.Stats()
	if st.RecordsFailed < minRefused || st.Faults < minThrottled {
		t.Errorf("%d records refused and %d calls throttled: too few faults to tell", st.RecordsFailed, st.Faults)
	}
	t.Logf("partial failures: %d records accepted, %d refused, %d calls throttled; %d records checked leaving the spool only once accepted",
		st.RecordsAccepted, st.RecordsFailed, st.Faults, watch.result())
}

// TestFaultStartWhileFirehoseDown starts the relay while the endpoint refuses every connection,
// Firehose and STS alike: it must start, accept and hold what it is sent, and deliver it once the
// endpoint is back, with the right owner whether it comes from --account-id, from the spool
// directory (learned by an earlier run) or from AWS once it answers.
func TestFaultStartWhileFirehoseDown(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the spool directory and options of the relay started during the outage.
		setup func(t *testing.T, srv *firehosetest.Server) (spoolDir string, args []string)
		// ownerKnown says the relay can spool during the outage.
		ownerKnown bool
		warnings   []string // logged at start
	}{
		{name: "account id", ownerKnown: true, setup: func(t *testing.T, _ *firehosetest.Server) (string, []string) {
			return filepath.Join(t.TempDir(), "spool"), []string{"--account-id", firehosetest.DefaultAccount}
		}},
		{name: "owner learned by an earlier run", ownerKnown: true, warnings: []string{"using the account ID learned before"}, setup: func(t *testing.T, srv *firehosetest.Server) (string, []string) {
			earlier := startFaultRelay(t, srv, faultOptions{})
			if err := earlier.Stop(); err != nil {
				t.Fatalf("earlier run: %v", err)
			}
			return earlier.spoolDir, nil
		}},
		{name: "no owner yet", warnings: []string{"records wait for the account ID"}, setup: func(t *testing.T, _ *firehosetest.Server) (string, []string) {
			return filepath.Join(t.TempDir(), "spool"), nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := firehosetest.Start(t, firehosetest.Config{})
			spoolDir, args := tt.setup(t, srv)
			srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
			r := startFaultRelay(t, srv, faultOptions{spoolDir: spoolDir, args: append(args, "--shutdown-timeout", "40s")})
			for _, warning := range append([]string{"cannot reach Firehose: starting anyway"}, tt.warnings...) {
				if !strings.Contains(r.Log(), warning) {
					t.Errorf("no warning %q in the log", warning)
				}
			}
			var n int
			if tt.ownerKnown {
				n = sendUntilSpooled(t, r, "start")
				srv.SetFault(firehosetest.Fault{})
			} else {
				// The events wait in the intake log for their owner (TestStartupNoOwner has more).
				s := startSender(t, r.tcpPort, "start", senderOptions{payload: payload})
				r.waitMetric(t, "kinesyslog_intake_bytes", "above 4 MiB", func(v float64) bool { return v > 4<<20 })
				srv.SetFault(firehosetest.Fault{})
				s.halt()
				if n = s.wait(t); s.err != nil {
					t.Fatalf("sender stopped after %d messages: %v", n, s.err)
				}
			}
			if tt.ownerKnown {
				testenv.EventuallyWithin(t, faultDeadline, "records delivered after the outage, while the relay runs", func() bool { return srv.Stats().RecordsAccepted > 0 })
			} else {
				testenv.EventuallyWithin(t, faultDeadline, "record owner learned from AWS", func() bool {
					return strings.Contains(r.Log(), "learned the record owner from")
				})
			}
			r.waitReceived(t, n)
			stopClean(t, r)
			checkAll(t, srv, tokens("start", n))
		})
	}
}

// TestFaultKill9 kills the relay with SIGKILL while Firehose is down and records are spooled,
// then starts it again on the same spool: every spooled message is delivered exactly once, and
// what is lost is exactly what the relay held in memory (kinesyslog_buffer_bytes): less than one
// batch of this one source. It runs with --intake-log off (TestIntakeKill9 is the same kill with
// the log on, which loses nothing synced).
func TestFaultKill9(t *testing.T) {
	srv := firehosetest.Start(t, firehosetest.Config{})
	r := startMemoryRelay(t, srv, faultOptions{})
	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
	s := startSender(t, r.tcpPort, "kill", senderOptions{count: 7000, payload: payload})
	n := s.wait(t)
	if s.err != nil {
		t.Fatalf("sender stopped after %d messages: %v", n, s.err)
	}
	r.waitMetric(t, "kinesyslog_messages_received_total", fmt.Sprintf("= %d", n), func(v float64) bool { return v == float64(n) })
	// Wait until the relay is idle: nothing at the encoder, the spool no longer growing.
	var held, flush float64
	stable := 0
	var last [2]float64
	testenv.EventuallyWithin(t, faultDeadline, "relay idle with only a partial batch in memory", func() bool {
		m := r.Totals(t)
		now := [2]float64{m["kinesyslog_buffer_bytes"], m["kinesyslog_spool_records"]}
		if now == last && m["kinesyslog_buffer_bytes"] < m["kinesyslog_buffer_flush_bytes"] {
			stable++
		} else {
			stable = 0
		}
		last = now
		held, flush = m["kinesyslog_buffer_bytes"], m["kinesyslog_buffer_flush_bytes"]
		return stable >= 5
	})
	if err := r.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	r.Wait()
	spooled := spooledTokens(t, r.spoolDir)
	if len(spooled) == 0 {
		t.Fatal("nothing was spooled before the kill")
	}

	srv.SetFault(firehosetest.Fault{})
	again := startFaultRelay(t, srv, faultOptions{spoolDir: r.spoolDir})
	stopClean(t, again)
	delivered := countTokens(t, FirehoseRecords(t, srv))
	lostMessages, lostBytes := 0, 0
	for i, tok := range tokens("kill", n) {
		switch {
		case spooled[tok] == 1 && delivered[tok] != 1:
			t.Errorf("%s was spooled before the kill and delivered %d times, want once", tok, delivered[tok])
		case spooled[tok] == 0 && delivered[tok] != 0:
			t.Errorf("%s was not spooled before the kill, yet delivered", tok)
		case spooled[tok] == 0:
			lostMessages++
			lostBytes += eventBytes("kill", i, payload)
		}
	}
	if float64(lostBytes) != held {
		t.Errorf("lost %d bytes of events, want the %v bytes kinesyslog_buffer_bytes reported before the kill", lostBytes, held)
	}
	if float64(lostBytes) >= flush {
		t.Errorf("lost %d bytes of events, want less than one batch (%v bytes)", lostBytes, flush)
	}
	t.Logf("kill -9: %d of %d messages lost (%d bytes of events, the partial batch in memory; the flush size was %v bytes), %d delivered after the restart",
		lostMessages, n, lostBytes, flush, n-lostMessages)
}

// TestFaultSIGTERMUnderLoad stops the relay while senders write at a steady rate: every message
// written before the signal is delivered, and what each connection delivered is a prefix of what
// it wrote, each message once.
func TestFaultSIGTERMUnderLoad(t *testing.T) {
	srv := firehosetest.Start(t, firehosetest.Config{})
	r := startFaultRelay(t, srv, faultOptions{args: []string{"--shutdown-timeout", "40s"}})
	var senders []*sender
	for i := range 4 {
		senders = append(senders, startSender(t, r.tcpPort, fmt.Sprintf("term%d", i),
			senderOptions{payload: 200, pace: 5 * time.Millisecond}))
	}
	testenv.EventuallyWithin(t, faultDeadline, "senders under way", func() bool {
		for _, s := range senders {
			if s.written.Load() < 3000 {
				return false
			}
		}
		return true
	})
	before := make([]int, len(senders))
	for i, s := range senders {
		before[i] = int(s.written.Load())
	}
	r.Signal(syscall.SIGTERM)
	written := make([]int, len(senders))
	for i, s := range senders {
		written[i] = s.wait(t)
		if s.err == nil {
			t.Errorf("sender %s did not see the relay close its connection", s.id)
		}
	}
	if err := r.Wait(); err != nil {
		t.Fatalf("relay exit after SIGTERM: %v", err)
	}
	delivered := countTokens(t, FirehoseRecords(t, srv))
	unread := 0
	for i, s := range senders {
		k := deliveredPrefix(delivered, s.id)
		tl := compare(delivered, tokens(s.id, k))
		if tl.duplicates > 0 {
			t.Errorf("%s: %d duplicates", s.id, tl.duplicates)
		}
		if k < before[i] {
			t.Errorf("%s: %d messages delivered, want at least the %d written before the signal", s.id, k, before[i])
		}
		if delivered[token(s.id, k+1)] > 0 || k > written[i] {
			t.Errorf("%s: delivered messages are not a prefix of the %d written", s.id, written[i])
		}
		unread += written[i] - k
	}
	total := 0
	for _, n := range written {
		total += n
	}
	t.Logf("SIGTERM under load: %d messages written, every one written before the signal delivered; %d written after it were never read (the relay had closed the connection)",
		total, unread)
}

// TestFaultSpoolFull fills the spool to its cap during an outage: TCP senders stall and memory
// stays bounded, datagrams wait in memory, and once Firehose is back everything accepted is
// delivered. It runs with --intake-log off: the log's share of the cap would fill before the
// spool, and datagrams would not wait in memory.
func TestFaultSpoolFull(t *testing.T) {
	srv := firehosetest.Start(t, firehosetest.Config{})
	const spoolCap = 8 << 20
	r := startMemoryRelay(t, srv, faultOptions{udp: true,
		args: []string{"--spool-max-bytes", fmt.Sprint(spoolCap), "--shutdown-timeout", "40s"}})
	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
	var senders []*sender
	for i := range 2 {
		senders = append(senders, startSender(t, r.tcpPort, fmt.Sprintf("full%d", i), senderOptions{count: 25000, payload: payload}))
	}
	r.waitMetric(t, "kinesyslog_spool_bytes", "near its cap", func(v float64) bool { return v > spoolCap-(1<<20) })
	r.waitMetric(t, "kinesyslog_buffer_waiting_commits", "above 0", func(v float64) bool { return v > 0 })
	stalled := waitStall(t, senders)
	m := r.Totals(t)
	if m["kinesyslog_spool_bytes"] > spoolCap || m["kinesyslog_spool_blocked_writes"] < 1 {
		t.Errorf("spool holds %v bytes with %v blocked writes; want at most %d and writes blocked",
			m["kinesyslog_spool_bytes"], m["kinesyslog_spool_blocked_writes"], spoolCap)
	}
	if m["kinesyslog_buffer_bytes"] > m["kinesyslog_buffer_max_bytes"] {
		t.Errorf("buffers hold %v bytes, above their cap of %v", m["kinesyslog_buffer_bytes"], m["kinesyslog_buffer_max_bytes"])
	}
	// The whole process stays below what the buffers alone may hold.
	if rss := m["process_resident_memory_bytes"]; rss > m["kinesyslog_buffer_max_bytes"] {
		t.Errorf("resident memory %v bytes while stalled, want below %v", rss, m["kinesyslog_buffer_max_bytes"])
	}
	t.Logf("spool full: senders stalled after %d messages; spool %v bytes, buffers %v bytes, resident memory %.0f MiB",
		stalled, m["kinesyslog_spool_bytes"], m["kinesyslog_buffer_bytes"], m["process_resident_memory_bytes"]/(1<<20))

	// Datagrams cannot wait: while the spool is full they are held in memory, within the buffers'
	// cap, which the stalled TCP senders are far from reaching, and delivered once Firehose is
	// back; only at the cap would they be dropped and counted.
	const datagrams = 5000
	t.Run("UDP datagrams held in memory", func(t *testing.T) {
		conn, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", Port(r.udpPort)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		before := r.Totals(t)["kinesyslog_messages_received_total"]
		filler := strings.Repeat("0", payload)
		for i := range datagrams {
			msg := fmt.Sprintf("<134>1 %s host app - - - %s %s", senderStamp, token("udp", i), filler)
			if _, err := conn.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
		}
		r.waitMetric(t, "kinesyslog_messages_received_total", fmt.Sprintf("at least %v", before+datagrams),
			func(v float64) bool { return v >= before+datagrams })
		m := r.Totals(t)
		if m["kinesyslog_buffer_dropped_messages_total"] != 0 {
			t.Errorf("%v datagrams dropped with the buffers at %v bytes of their %v; want none dropped below the cap",
				m["kinesyslog_buffer_dropped_messages_total"], m["kinesyslog_buffer_bytes"], m["kinesyslog_buffer_max_bytes"])
		}
		if drops, ok := m["kinesyslog_udp_kernel_drops_total"]; !ok || drops != 0 {
			t.Errorf("kinesyslog_udp_kernel_drops_total = %v (reported: %v), want 0 with every datagram read", drops, ok)
		}
	})

	srv.SetFault(firehosetest.Fault{})
	sent := sentTokens(t, senders)
	r.waitReceived(t, len(sent))
	stopClean(t, r)
	delivered := countTokens(t, FirehoseRecords(t, srv))
	tl := compare(delivered, sent)
	if tl.missing+tl.duplicates > 0 {
		t.Errorf("of %d TCP messages: %d missing, %d duplicates", tl.sent, tl.missing, tl.duplicates)
	}
	if udp := compare(delivered, tokens("udp", datagrams)); udp.missing+udp.duplicates > 0 {
		t.Errorf("of %d datagrams held during the outage: %d missing, %d duplicates", udp.sent, udp.missing, udp.duplicates)
	}
}

// waitStall waits until the senders have made no progress for a second, and returns how many
// messages they wrote in all.
func waitStall(t *testing.T, senders []*sender) int {
	t.Helper()
	total := func() int {
		n := 0
		for _, s := range senders {
			n += int(s.written.Load())
		}
		return n
	}
	last, since := total(), time.Now()
	testenv.EventuallyWithin(t, faultDeadline, "TCP senders blocked", func() bool {
		if n := total(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) > time.Second
	})
	return last
}

// TestFaultShutdownBounded stops the relay while it cannot spool, because the spool is full or the
// record owner is not known: it exits within --shutdown-timeout (plus the listeners' one-second
// drain), reports what it lost, and keeps every record it had spooled for the next start. It runs
// with --intake-log off: the memory-only shutdown bound.
func TestFaultShutdownBounded(t *testing.T) {
	const timeout = 3 * time.Second
	// bound is generous: it only has to tell a bounded shutdown from a hang.
	const bound = timeout + 12*time.Second
	t.Run("spool full", func(t *testing.T) {
		srv := firehosetest.Start(t, firehosetest.Config{})
		r := startMemoryRelay(t, srv, faultOptions{args: []string{"--spool-max-bytes", "8MiB", "--shutdown-timeout", timeout.String()}})
		srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
		s := startSender(t, r.tcpPort, "stuck", senderOptions{payload: payload})
		r.waitMetric(t, "kinesyslog_buffer_waiting_commits", "above 0", func(v float64) bool { return v > 0 })
		waitStall(t, []*sender{s})
		exit := stopTimed(t, r.Relay, bound)
		if code := exitCode(exit); code != 1 || !strings.Contains(r.Log(), "messages lost") {
			t.Errorf("exit code %d, want 1 with the lost messages logged", code)
		}
		s.halt()
		n := s.wait(t)
		spooled := spooledTokens(t, r.spoolDir)

		srv.SetFault(firehosetest.Fault{})
		again := startFaultRelay(t, srv, faultOptions{spoolDir: r.spoolDir})
		stopClean(t, again)
		delivered := countTokens(t, FirehoseRecords(t, srv))
		for tok := range spooled {
			if delivered[tok] != 1 {
				t.Errorf("%s was spooled and delivered %d times, want once", tok, delivered[tok])
			}
		}
		t.Logf("shutdown with the spool full: %d messages written, %d spooled and delivered after the restart, the rest lost and reported",
			n, len(spooled))
	})
	t.Run("owner unknown", func(t *testing.T) {
		srv := firehosetest.Start(t, firehosetest.Config{})
		srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
		r := startMemoryRelay(t, srv, faultOptions{args: []string{"--shutdown-timeout", timeout.String()}})
		s := startSender(t, r.tcpPort, "noowner", senderOptions{count: 3000, payload: payload})
		n := s.wait(t)
		r.waitMetric(t, "kinesyslog_messages_received_total", fmt.Sprintf("= %d", n), func(v float64) bool { return v == float64(n) })
		exit := stopTimed(t, r.Relay, bound)
		if code := exitCode(exit); code != 1 || !strings.Contains(r.Log(), "record owner unknown") {
			t.Errorf("exit code %d, want 1 with the messages lost for want of an owner logged", code)
		}
	})
}

// stopTimed sends SIGTERM and waits for the relay to exit, failing the test if that takes longer
// than bound; it returns the exit error.
func stopTimed(t *testing.T, r *Relay, bound time.Duration) error {
	t.Helper()
	start := time.Now()
	r.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(bound):
		t.Fatalf("relay still running %v after SIGTERM", bound)
	}
	t.Logf("relay exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	return r.waitErr
}

func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestFaultDiskFull puts the spool on a 3 MiB tmpfs, which fills before the spool's cap: the relay
// neither crashes nor leaves a partial record, TCP senders wait, and everything is delivered once
// Firehose is back and the spool drains. The intake log is on another disk (a log that meets a
// full disk is intake's TestDiskFullRecovers; one disk for both is TestFaultDiskFullShared).
func TestFaultDiskFull(t *testing.T) {
	mnt := mountSmall(t, "3m")
	srv := firehosetest.Start(t, firehosetest.Config{})
	r := startFaultRelay(t, srv, faultOptions{spoolDir: filepath.Join(mnt, "spool"),
		args: []string{"--intake-dir", filepath.Join(t.TempDir(), "intake"), "--shutdown-timeout", "40s"}})
	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
	s := startSender(t, r.tcpPort, "disk", senderOptions{count: 9000, payload: payload})
	testenv.EventuallyWithin(t, faultDeadline, "spool disk full", func() bool { return strings.Contains(r.Log(), "spool disk full") })
	r.waitMetric(t, "kinesyslog_spool_blocked_writes", "above 0", func(v float64) bool { return v > 0 })
	if r.Exited() {
		t.Fatal("relay exited when the disk filled")
	}
	// Every record under a final name is whole: spooledTokens fails the test otherwise.
	spooled := spooledTokens(t, r.spoolDir)

	n := deliverAfterFill(t, r, srv, s)
	t.Logf("disk full: %d messages spooled when the disk filled, all %d delivered once it drained", len(spooled), n)
}

// TestFaultDiskFullShared puts the spool and the intake log on one 24 MiB tmpfs, with Firehose
// down until the disk is full: the log stops appending while the disk is down to the reserve it
// leaves the spool (intake.DefaultDiskReserve), records are spooled (after a second,
// --flush-age) and their entries released, TCP senders wait, and
// once Firehose is back the relay recovers by itself: every message sent is delivered, the
// relay never exits, and the full disk is logged at a limited rate.
func TestFaultDiskFullShared(t *testing.T) {
	mnt := mountSmall(t, "24m")
	srv := firehosetest.Start(t, firehosetest.Config{})
	r := startFaultRelay(t, srv, faultOptions{spoolDir: filepath.Join(mnt, "spool"),
		args: []string{"--shutdown-timeout", "40s", "--flush-age", "1s"}})
	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
	// 40,000 messages take 42 MB in the log, more than the disk: it must give space back.
	s := startSender(t, r.tcpPort, "shared", senderOptions{count: 40000, payload: payload})
	// The line, not the gauge alone: kinesyslog_intake_blocked_appends also counts readers that
	// wait a moment for the writer (8 MiB pending), long before the disk fills.
	testenv.EventuallyWithin(t, faultDeadline, `the disk full: "intake log: disk nearly full" and appends or spool writes waiting`, func() bool {
		m := r.Totals(t)
		return strings.Contains(r.Log(), "intake log: disk nearly full") &&
			(m["kinesyslog_intake_blocked_appends"] > 0 || m["kinesyslog_spool_blocked_writes"] > 0)
	})
	if r.Exited() {
		t.Fatal("relay exited when the disk filled")
	}
	n := deliverAfterFill(t, r, srv, s)
	if lines := strings.Count(r.Log(), "intake log: disk nearly full"); lines > 20 {
		t.Errorf("the full disk logged %d times, want a limited rate", lines)
	}
	t.Logf("spool and intake log on one full disk: all %d messages delivered once Firehose was back", n)
}

// TestFaultDiskFullSteady puts the spool and the intake log on one 24 MiB tmpfs with Firehose up
// and --flush-age 40s: 16 TCP sources, each on a port of its own, send 53 MB of messages, more
// than the disk holds above the reserve the log leaves the spool (16 MiB) and less than a batch's
// first flush size (4 MB) each, so that no batch fills. Once the disk is down to the reserve, the
// log asks at once for the batches that pin its oldest segment to be flushed, and appends wait
// for a second or two, not until those batches are 40 s old: the longest time the relay received
// nothing while the senders wrote is under a quarter of the flush age, and every message is
// delivered once.
func TestFaultDiskFullSteady(t *testing.T) {
	const flushAge = 40 * time.Second
	mnt := mountSmall(t, "24m")
	srv := firehosetest.Start(t, firehosetest.Config{})
	r := startFaultRelay(t, srv, faultOptions{spoolDir: filepath.Join(mnt, "spool"), extraTCP: 15,
		args: []string{"--shutdown-timeout", "40s", "--flush-age", flushAge.String()}})
	const perSender = 3000
	var senders []*sender
	for i, p := range append([]int{r.tcpPort}, r.extraTCP...) {
		senders = append(senders, startSender(t, p, fmt.Sprintf("steady%d", i), senderOptions{count: perSender, payload: payload}))
	}
	start := time.Now()
	longest := stillest(t, r, perSender*len(senders), flushAge/4)
	received := time.Since(start)
	sent := sentTokens(t, senders)
	lines := strings.Count(r.Log(), "intake log: disk nearly full")
	if lines == 0 {
		t.Error(`no "intake log: disk nearly full" line: the disk never filled, the test proves nothing`)
	}
	r.waitReceived(t, len(sent))
	stopClean(t, r)
	checkAll(t, srv, sent)
	t.Logf("one 24 MiB disk, steady load, --flush-age %v: %d messages received in %v, nothing received for at most %v, %d disk-full lines; all delivered once",
		flushAge, len(sent), received.Round(time.Millisecond), longest.Round(time.Millisecond), lines)
}

// stillest polls the relay's count of received messages until it reaches want and returns the
// longest time it stood still meanwhile (the senders' writes may end long before: the kernel's
// socket buffers take megabytes); it fails the test as soon as that reaches bound.
func stillest(t *testing.T, r *faultRelay, want int, bound time.Duration) time.Duration {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last, since, longest := -1.0, time.Now(), time.Duration(0)
	for now := range tick.C {
		v := r.Totals(t)["kinesyslog_messages_received_total"]
		if v >= float64(want) {
			break
		}
		if v != last {
			last, since = v, now
		}
		if longest = max(longest, now.Sub(since)); longest >= bound {
			t.Fatalf("the relay received nothing for %v, at %v of %d messages, want less than %v",
				longest.Round(time.Millisecond), last, want, bound)
		}
	}
	return longest
}

// deliverAfterFill brings Firehose back, waits for s to finish and the relay to read all it
// wrote, stops the relay and checks that every message was delivered once; it returns how many
// s wrote.
func deliverAfterFill(t *testing.T, r *faultRelay, srv *firehosetest.Server, s *sender) int {
	t.Helper()
	srv.SetFault(firehosetest.Fault{})
	n := s.wait(t)
	if s.err != nil {
		t.Fatalf("sender stopped after %d messages: %v", n, s.err)
	}
	r.waitReceived(t, n)
	stopClean(t, r)
	checkAll(t, srv, tokens(s.id, n))
	return n
}

// mountSmall mounts a tmpfs of size (mount's size=) under a temporary directory, unmounted when
// the test ends, and skips the test when it cannot.
func mountSmall(t *testing.T, size string) string {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	// Registered first, so that it runs after the relay has stopped.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}
