package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

const (
	// partialConnections is how many connections TestPartialMessagesMemory opens, each holding
	// partialBytes of a message of partialMaxBytes, the relay's maximum.
	partialConnections = 3000
	partialBytes       = 150_000
	partialMaxBytes    = 160 << 10
	// partialBudgetBytes is the memory a connection may cost beyond its share of the cap: the
	// scanner's first 4 KiB, its goroutine, socket and TLS-free connection state, with room.
	partialBudgetBytes = 48 << 10
	// bufferCapBytes is the buffers' cap, of which connections reserve at most half: the
	// relay runs with its intake log (buffer.DefaultLoggedMaxBytes).
	bufferCapBytes = buffer.DefaultLoggedMaxBytes
)

// TestPartialMessagesMemory opens 3,000 connections that each send 150 KB of a 160 KiB message
// and pause: 450 MB of partial messages, which the relay must not take into memory beyond the
// half of its buffers' cap that connections may reserve. Its resident memory must stay below
// what it used before, plus that half of the cap, plus 48 KiB per connection.
func TestPartialMessagesMemory(t *testing.T) {
	ensureOpenFiles(t, partialConnections+256)
	port := testenv.FreePort(t)
	relay := startMetricsRelay(t, "--address", "127.0.0.1", "--tcp-port", Port(port),
		"--max-message-size", fmt.Sprint(partialMaxBytes), "--max-connections", fmt.Sprint(partialConnections+10))
	base := relay.Scrape(t)["process_resident_memory_bytes"]

	frame := append([]byte(fmt.Sprintf("%d <13>1 2026-01-02T03:04:05Z host app - - - ", partialMaxBytes)),
		bytes.Repeat([]byte("x"), partialBytes)...)
	conns := make([]net.Conn, partialConnections)
	var writers sync.WaitGroup
	for i := range conns {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns[i] = conn
		// What the relay does not read waits in the kernel, or the write times out: either way
		// the relay is not holding it.
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		writers.Go(func() {
			if _, err := conn.Write(frame); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("write: %v", err)
			}
		})
	}
	writers.Wait()
	// Let the relay read what the kernel holds for it, until it reads no more.
	var m map[string]float64
	last, steady := -1.0, 0
	testenv.EventuallyWithin(t, faultDeadline, "the relay's reservations steady", func() bool {
		m = relay.Scrape(t)
		if v := m["kinesyslog_buffer_connection_bytes"]; v != last {
			last, steady = v, 0
		} else {
			steady++
		}
		return m["kinesyslog_connections"] == partialConnections && steady >= 10
	})
	rss := m["process_resident_memory_bytes"]
	bound := base + bufferCapBytes/2 + partialConnections*partialBudgetBytes
	t.Logf("resident memory %.0f MiB (%.0f MiB before), connections reserved %.0f MiB; bound %.0f MiB",
		rss/(1<<20), base/(1<<20), m["kinesyslog_buffer_connection_bytes"]/(1<<20), bound/(1<<20))
	if rss > bound {
		t.Errorf("resident memory %.0f MiB with %d partial messages open, want at most %.0f MiB",
			rss/(1<<20), partialConnections, bound/(1<<20))
	}
	if v := m["kinesyslog_buffer_connection_bytes"]; v > bufferCapBytes/2+partialMaxBytes+64<<10 {
		t.Errorf("connections reserved %v bytes, want at most half the cap", v)
	}
	// Delivering 600 MB of cut-off messages is not what this test is about: the relay is killed.
	relay.Signal(syscall.SIGKILL)
	relay.Wait()
	for _, c := range conns {
		c.Close()
	}
}

// TestCompleteMessageBeforeAPause sends a complete message and the start of the next, then
// pauses with the connection open: the complete one is counted received within a second and
// spooled within the flush age, not held until the next frame is finished.
func TestCompleteMessageBeforeAPause(t *testing.T) {
	port := testenv.FreePort(t)
	relay := startMetricsRelay(t, "--address", "127.0.0.1", "--tcp-port", Port(port))
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "<13>1 2026-01-02T03:04:05Z host app - - - complete\n<13>1 2026-01-02T03:04:05Z host app - - - sta")
	relay.WaitMetricFor(t, "kinesyslog_messages_received_total", time.Second, func(v float64) bool { return v == 1 })
	if testing.Short() {
		t.Skip("waits for the flush age")
	}
	relay.WaitMetricFor(t, "kinesyslog_spool_records", buffer.DefaultFlushAge+15*time.Second, func(v float64) bool { return v >= 1 })
	fmt.Fprint(conn, "rted\n")
	conn.Close()
	relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v == 2 })
	var got []string
	for _, rec := range relay.stopAndRead(t) {
		for _, ev := range rec.LogEvents {
			got = append(got, ev.Message[strings.LastIndexByte(ev.Message, ' ')+1:])
		}
	}
	if fmt.Sprint(got) != "[complete started]" {
		t.Errorf("delivered %q, want [complete started]", got)
	}
}

// TestStraddlingSender writes every 300 ms, each write ending inside a frame, to a relay whose
// idle timeout is 2 s: the sender never goes quiet, so it stays connected and loses nothing.
func TestStraddlingSender(t *testing.T) {
	port := testenv.FreePort(t)
	relay := startMetricsRelay(t, "--address", "127.0.0.1", "--tcp-port", Port(port), "--idle-timeout", "2s")
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const messages = 40
	var stream bytes.Buffer
	for i := range messages {
		msg := fmt.Sprintf("<13>1 2026-01-02T03:04:05Z host app - - - straddle-%d", i)
		fmt.Fprintf(&stream, "%d %s", len(msg), msg)
	}
	data := stream.Bytes()
	const writes = 16 // 4.5 s: more than twice the idle timeout
	chunk := len(data)/writes + 1
	for i := 0; i < len(data); i += chunk {
		if i > 0 {
			time.Sleep(300 * time.Millisecond) // the sender's pace, not a synchronisation
		}
		if _, err := conn.Write(data[i:min(i+chunk, len(data))]); err != nil {
			t.Fatalf("write at byte %d: %v", i, err)
		}
	}
	relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v == messages })
	if m := relay.Scrape(t); m["kinesyslog_connections"] != 1 || m["kinesyslog_connections_total"] != 1 {
		t.Errorf("%v connections open of %v accepted after the last write, want the sender's only: it was never closed",
			m["kinesyslog_connections"], m["kinesyslog_connections_total"])
	}
	conn.Close()
	seen := map[string]bool{}
	for _, rec := range relay.stopAndRead(t) {
		for _, ev := range rec.LogEvents {
			seen[ev.Message[strings.LastIndexByte(ev.Message, ' ')+1:]] = true
		}
	}
	for i := range messages {
		if !seen[fmt.Sprintf("straddle-%d", i)] {
			t.Errorf("straddle-%d not delivered", i)
		}
	}
}
