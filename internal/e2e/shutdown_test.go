package e2e

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// shutdownMargin is what shutdown may take beyond --shutdown-timeout: the spool group being
// written when the timeout passes (the README's stated margin), with room for a loaded test
// machine.
const shutdownMargin = 6 * time.Second

var lostLine = regexp.MustCompile(`([0-9]+) messages could not be spooled and are lost`)

var leftLine = regexp.MustCompile(`left in the intake log, not spooled: the next start replays them" messages=([0-9]+)`)

// TestShutdownManySources has tens of thousands of UDP sources, each a distinct 127.0.0.0/8
// address (Linux routes all of it to lo), send one datagram each, so that the relay holds as many
// one-event batches when it is stopped. With the intake log it spools one group of them, leaves
// the rest in the log and exits in little more than its one-second drain, whatever
// --shutdown-timeout allows (a memory-only relay's bound is that timeout), and the next start
// replays the rest. With --intake-log off it must spool them: it exits within
// --shutdown-timeout and its margin, and accounts for every message it read: delivered, left in
// the spool, or counted as lost in its last line with exit status 1.
func TestShutdownManySources(t *testing.T) {
	const sources = 30_000
	// logBound is how long a relay with the intake log may take to stop: its one-second drain,
	// one group of records spooled and uploaded and the log's last sync, with room for a loaded
	// machine.
	const logBound = 6 * time.Second
	const timeout = 3 * time.Second
	t.Run("intake log", func(t *testing.T) {
		srv := firehosetest.Start(t, firehosetest.Config{})
		r := startLogRelay(t, srv, faultOptions{udp: true})
		received := sendManySources(t, r, sources)
		took, exit := stopTook(t, r.Relay, logBound)
		if exit != nil {
			t.Fatalf("relay exit after SIGTERM: %v", exit)
		}
		left := 0
		if m := leftLine.FindStringSubmatch(r.Log()); m != nil {
			left, _ = strconv.Atoi(m[1])
		}
		delivered := countTokens(t, FirehoseRecords(t, srv))
		spooled := spooledTokens(t, r.spoolDir)
		kept, both := keptTokens(delivered, spooled)
		if kept+left != received {
			t.Errorf("%d delivered, %d spooled (%d of them both) and %d left in the log of %d messages read, want them all once",
				len(delivered), len(spooled), both, left, received)
		}
		// The next start replays what the log kept (TestIntakeKill9 and TestStartupNoOwner
		// deliver it).
		again := startLogRelay(t, srv, faultOptions{udp: true, spoolDir: r.spoolDir})
		again.waitMetric(t, "kinesyslog_intake_replayed_messages_total", fmt.Sprintf("= %d", left),
			func(v float64) bool { return v >= float64(left) })
		t.Logf("intake log: %d sources, %d datagrams read; SIGTERM to exit %v (bound %v, --shutdown-timeout 20s); "+
			"%d delivered and %d spooled before it (%d both: a call cut short at shutdown), %d left in the log and replayed at the next start",
			sources, received, took.Round(time.Millisecond), logBound, len(delivered), len(spooled), both, left)
	})
	t.Run("memory only", func(t *testing.T) {
		srv := firehosetest.Start(t, firehosetest.Config{})
		r := startMemoryRelay(t, srv, faultOptions{udp: true, args: []string{"--shutdown-timeout", timeout.String()}})
		received := sendManySources(t, r, sources)
		took, exit := stopTook(t, r.Relay, timeout+shutdownMargin)
		delivered := countTokens(t, FirehoseRecords(t, srv))
		spooled := spooledTokens(t, r.spoolDir)
		kept, both := keptTokens(delivered, spooled)
		lost := 0
		if m := lostLine.FindStringSubmatch(r.Log()); m != nil {
			lost, _ = strconv.Atoi(m[1])
		}
		switch code := exitCode(exit); {
		case code == 0 && (lost != 0 || kept != received):
			t.Errorf("exit 0 with %d of %d messages read delivered or spooled and %d reported lost, want all of them kept", kept, received, lost)
		case code == 1 && (lost == 0 || kept+lost != received):
			t.Errorf("exit 1 with %d of %d messages read kept and %d reported lost, want the rest reported lost", kept, received, lost)
		case code != 0 && code != 1:
			t.Errorf("exit code %d, want 0 or 1", code)
		}
		t.Logf("memory only: %d sources, %d datagrams read; SIGTERM to exit %v (--shutdown-timeout %v): %d delivered, %d left in the spool, %d reported lost, exit %d",
			sources, received, took.Round(time.Millisecond), timeout, len(delivered), len(spooled), lost, exitCode(exit))
		if both > 0 {
			t.Logf("memory only: %d messages both delivered and left in the spool (a call cut short at shutdown)", both)
		}
	})
}

// keptTokens returns how many messages were delivered or left in the spool, one that is both
// counted once, and how many are both: the PutRecordBatch call shutdown cuts short may have been
// stored by Firehose (up to 500 one-source records; 500 of 30,000 were once counted twice) while
// its records stay in the spool for the next start.
func keptTokens(delivered, spooled map[string]int) (kept, both int) {
	union := maps.Clone(delivered)
	maps.Copy(union, spooled)
	return len(union), len(delivered) + len(spooled) - len(union)
}

// sendManySources sends one datagram from each of n distinct 127.0.0.0/8 addresses to r's UDP
// port and returns how many the relay read.
func sendManySources(t *testing.T, r *faultRelay, n int) int {
	t.Helper()
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.udpPort}
	// Sent in steps that the readers take before the next, so that the kernel drops none.
	const step = 1_000
	for first := 0; first < n; first += step {
		for i := first; i < first+step; i++ {
			src := &net.UDPAddr{IP: net.IPv4(127, 1+byte(i>>16), byte(i>>8), byte(i))}
			c, err := net.DialUDP("udp4", src, dst)
			if err != nil {
				t.Fatalf("source %v: %v", src.IP, err)
			}
			_, err = fmt.Fprintf(c, "<13>1 %s host app - - - %s", senderStamp, token("udp", i))
			c.Close()
			if err != nil {
				t.Fatalf("send from %v: %v", src.IP, err)
			}
		}
		want := float64(first + step)
		testenv.EventuallyWithin(t, faultDeadline, fmt.Sprintf("%d datagrams read or dropped", first+step), func() bool {
			m := r.Totals(t)
			return m["kinesyslog_messages_received_total"]+m["kinesyslog_udp_kernel_drops_total"] >= want
		})
	}
	return int(r.Totals(t)["kinesyslog_messages_received_total"])
}

// stopTook sends SIGTERM and waits for the relay to exit, failing the test if that takes longer
// than bound; it returns how long it took and the exit error.
func stopTook(t *testing.T, r *Relay, bound time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	err := stopTimed(t, r, bound)
	return time.Since(start), err
}

// TestShutdownSecondSignal stops a relay whose shutdown waits for a record owner that STS never
// gives (with --intake-log off: with the log it would not wait), and signals it again: it exits
// at once, with status 1, instead of waiting out --shutdown-timeout.
func TestShutdownSecondSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			srv := firehosetest.Start(t, firehosetest.Config{})
			srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
			r := startMemoryRelay(t, srv, faultOptions{args: []string{"--shutdown-timeout", "5m"}})
			s := startSender(t, r.tcpPort, "second", senderOptions{count: 100, payload: 100})
			r.waitReceived(t, s.wait(t))
			r.Signal(syscall.SIGTERM)
			r.WaitLog(t, regexp.MustCompile(`shutting down`))
			exit := stopTimedWith(t, r.Relay, sig, shutdownMargin)
			if code := exitCode(exit); code != 1 {
				t.Errorf("exit code %d after a second signal, want 1", code)
			}
		})
	}
}

// stopTimedWith sends sig and waits for the relay to exit, failing the test if that takes longer
// than bound; it returns the exit error.
func stopTimedWith(t *testing.T, r *Relay, sig syscall.Signal, bound time.Duration) error {
	t.Helper()
	start := time.Now()
	r.Signal(sig)
	select {
	case <-r.exited:
	case <-time.After(bound):
		t.Fatalf("relay still running %v after %v", bound, sig)
	}
	t.Logf("relay exited %v after %v", time.Since(start).Round(time.Millisecond), sig)
	return r.waitErr
}
