package e2e

import (
	"fmt"
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

// TestShutdownManySources has tens of thousands of UDP sources, each a distinct 127.0.0.0/8
// address (Linux routes all of it to lo), send one datagram each, so that the relay holds as many
// one-event batches when it is stopped. It must exit within --shutdown-timeout and its margin,
// and account for every message it read: delivered, left in the spool, or counted as lost in
// its last line with exit status 1.
func TestShutdownManySources(t *testing.T) {
	const sources = 30_000
	const timeout = 3 * time.Second
	srv := firehosetest.Start(t, firehosetest.Config{})
	r := startMemoryRelay(t, srv, faultOptions{udp: true, args: []string{"--shutdown-timeout", timeout.String()}})
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.udpPort}

	// Sent in steps that the readers take before the next, so that the kernel drops none.
	const step = 1_000
	for first := 0; first < sources; first += step {
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
	received := int(r.Totals(t)["kinesyslog_messages_received_total"])

	exit := stopTimed(t, r.Relay, timeout+shutdownMargin)
	delivered := countTokens(t, FirehoseRecords(t, srv))
	spooled := spooledTokens(t, r.spoolDir)
	kept := len(delivered) + len(spooled)
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
	t.Logf("%d sources, %d datagrams read: %d delivered, %d left in the spool, %d reported lost, exit %d",
		sources, received, len(delivered), len(spooled), lost, exitCode(exit))
}

// TestShutdownSecondSignal stops a relay whose shutdown waits for a record owner that STS never
// gives, and signals it again: it exits at once, with status 1, instead of waiting out
// --shutdown-timeout.
func TestShutdownSecondSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			srv := firehosetest.Start(t, firehosetest.Config{})
			srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
			r := startFaultRelay(t, srv, faultOptions{args: []string{"--shutdown-timeout", "5m"}})
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
