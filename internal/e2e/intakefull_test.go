package e2e

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// fullLogSenders and fullLogShutdown are the TCP senders that fill the intake log in
// TestIntakeFull and the relay's --shutdown-timeout there.
const (
	fullLogSenders  = 4
	fullLogShutdown = 10 * time.Second
)

// fullLogArgs make the relay's intake log as small as it gets: 4 MiB, an eighth of
// --spool-max-bytes but at least config.MinIntakeBytes.
var fullLogArgs = []string{"--spool-max-bytes", "32MiB", "--shutdown-timeout", fullLogShutdown.String()}

// startFullLog starts a relay whose intake log is at its smallest (4 MiB: --spool-max-bytes
// 32MiB) while Firehose and STS refuse every connection and no --account-id is given, so that
// nothing is released, and TCP senders that write until the log is full: the relay then reads
// nothing more, and what it has read is in the log.
func startFullLog(t *testing.T, srv *firehosetest.Server) (*faultRelay, []*sender) {
	t.Helper()
	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
	r := startLogRelay(t, srv, faultOptions{args: fullLogArgs})
	senders := make([]*sender, fullLogSenders)
	for i := range senders {
		senders[i] = startSender(t, r.tcpPort, fmt.Sprintf("full%d", i), senderOptions{payload: payload})
	}
	r.waitMetric(t, "kinesyslog_intake_blocked_appends", "above 0: readers wait for room", func(v float64) bool { return v > 0 })
	r.waitReceived(t, 1)
	return r, senders
}

// TestIntakeFull fills the intake log while no record owner is known, so that the listeners wait
// for room before they read. SIGTERM: the relay exits within --shutdown-timeout, the connections'
// waits ended by the drain (before, they waited without a context, and shutdown hung). kill -9,
// then a start with Firehose up: every message the relay counted received is delivered, since
// nothing read waited in memory for room; what the senders wrote beyond it was in the kernel's
// socket buffers.
func TestIntakeFull(t *testing.T) {
	t.Run("SIGTERM", func(t *testing.T) {
		srv := firehosetest.Start(t, firehosetest.Config{})
		r, _ := startFullLog(t, srv)
		received := r.Totals(t)["kinesyslog_messages_received_total"]
		start := time.Now()
		r.Signal(syscall.SIGTERM)
		if !testenv.Within(fullLogShutdown+5*time.Second, r.Exited) {
			r.kill9(t)
			t.Fatalf("relay still running %v after SIGTERM with the intake log full: shutdown hangs", time.Since(start).Round(time.Millisecond))
		}
		elapsed := time.Since(start)
		if elapsed > fullLogShutdown {
			t.Errorf("relay exited %v after SIGTERM, want within --shutdown-timeout %v", elapsed, fullLogShutdown)
		}
		if err := r.Wait(); err != nil {
			t.Errorf("relay exit after SIGTERM: %v", err)
		}
		if strings.Contains(r.Log(), "messages lost") {
			t.Error("messages lost at shutdown: a connection read what the intake log could not take")
		}
		t.Logf("intake log full, %d connections waiting, %.0f messages received: exit %v after SIGTERM",
			fullLogSenders, received, elapsed.Round(time.Millisecond))
	})

	t.Run("kill -9", func(t *testing.T) {
		srv := firehosetest.Start(t, firehosetest.Config{})
		r, senders := startFullLog(t, srv)
		received := int(r.Totals(t)["kinesyslog_messages_received_total"])
		r.kill9(t)
		written := 0
		for _, s := range senders {
			s.halt()
			written += s.wait(t)
		}

		srv.SetFault(firehosetest.Fault{})
		again := startLogRelay(t, srv, faultOptions{spoolDir: r.spoolDir})
		again.waitMetric(t, "kinesyslog_intake_replayed_messages_total", fmt.Sprintf("at least %d", received),
			func(v float64) bool { return v >= float64(received) })
		stopClean(t, again)

		// Each connection was read in order: what was delivered of a sender is a prefix of what
		// it wrote, and all of them together at least what the relay counted received.
		delivered := countTokens(t, FirehoseRecords(t, srv))
		total := 0
		for _, s := range senders {
			n := deliveredPrefix(delivered, s.id)
			total += n
			for m := n; m < int(s.written.Load()); m++ {
				if delivered[token(s.id, m)] > 0 {
					t.Errorf("sender %s: %s delivered, %s not: a gap", s.id, token(s.id, m), token(s.id, n))
					break
				}
			}
		}
		if total < received {
			t.Errorf("%d messages delivered, want at least the %d the relay counted received before kill -9", total, received)
		}
		t.Logf("intake log full, kill -9: %d messages received, %d delivered; %d written by the senders and not delivered (the kernel's socket buffers)",
			received, total, written-total)
	})

	// Datagrams: the UDP readers wait for room as the connections do, and the kernel queues or
	// drops what arrives meanwhile, counted as its drops.
	t.Run("UDP, kill -9", func(t *testing.T) {
		const datagrams = 12_000 // 12 MB: three times the log
		srv := firehosetest.Start(t, firehosetest.Config{})
		srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
		r := startLogRelay(t, srv, faultOptions{udp: true, args: fullLogArgs})
		conn, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", Port(r.udpPort)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		filler := strings.Repeat("0", payload)
		for i := range datagrams {
			msg := fmt.Sprintf("<134>1 %s host app - - - %s %s", senderStamp, token("udp", i), filler)
			if _, err := conn.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
		}
		r.waitMetric(t, "kinesyslog_intake_blocked_appends", "above 0: readers wait for room", func(v float64) bool { return v > 0 })
		r.waitReceived(t, 1)
		m := r.Totals(t)
		received, kernel, dropped := m["kinesyslog_messages_received_total"], m["kinesyslog_udp_kernel_drops_total"], m["kinesyslog_buffer_dropped_messages_total"]
		if kernel == 0 || received+kernel > datagrams {
			t.Errorf("%v datagrams received and %v dropped by the kernel of %d sent, want some dropped and no more than sent", received, kernel, datagrams)
		}
		r.kill9(t)

		srv.SetFault(firehosetest.Fault{})
		again := startLogRelay(t, srv, faultOptions{spoolDir: r.spoolDir})
		again.waitMetric(t, "kinesyslog_intake_replayed_messages_total", fmt.Sprintf("at least %v", received-dropped),
			func(v float64) bool { return v >= received-dropped })
		stopClean(t, again)
		delivered := compare(countTokens(t, FirehoseRecords(t, srv)), tokens("udp", datagrams))
		if got := delivered.sent - delivered.missing; float64(got) < received-dropped {
			t.Errorf("%d datagrams delivered, want at least the %v received and not dropped before kill -9", got, received-dropped)
		}
		t.Logf("intake log full, UDP, kill -9: %d datagrams sent, %v received (%v of them dropped at the log's cap), %v dropped by the kernel, %d delivered; %v were queued in the socket's buffer",
			datagrams, received, dropped, kernel, delivered.sent-delivered.missing, datagrams-received-kernel)
	})
}
