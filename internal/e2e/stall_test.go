package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

const (
	// stalledPerKind is how many connections of each kind TestStalledConnections opens.
	stalledPerKind = 250
	// heapReturnTimeout covers the runtime's forced collection, every two minutes
	// (runtime.forcegcperiod), with room to spare.
	heapReturnTimeout = 150 * time.Second
	// heapMarginBytes is how far above its baseline the heap may stay: what the buffers keep
	// for reuse once the half frames of the stalled connections were delivered (up to 32
	// Stagings, each with its events and, with the intake log, its log entries and raw bytes),
	// measured at up to 5.8 MiB under -race on a loaded machine. A leak of the 1,000
	// connections' buffers would be several times that.
	heapMarginBytes = 8 << 20
)

// ensureOpenFiles makes sure this process may open n more files. Go raises the soft limit to
// the hard one at start; a hard limit below n skips the test rather than fail it on a
// machine's configuration.
func ensureOpenFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d this test needs", lim.Max, n)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
}

// TestStalledConnections opens 1,000 connections that stall: on TCP and TLS ports, sending
// nothing, half a frame, or half a ClientHello. The idle timeout must close every one of them,
// and the relay's connections, goroutines and heap must return to what they were before.
func TestStalledConnections(t *testing.T) {
	ensureOpenFiles(t, 4*stalledPerKind+256)
	pki := NewPKI(t, "server CA")
	server := pki.Issue(t, CertOptions{CommonName: "localhost", Hosts: []string{"localhost"}})
	tcpPort, tlsPort := testenv.FreePort(t), testenv.FreePort(t)
	relay := startMetricsRelay(t, "--tcp-port", Port(tcpPort), "--tls-port", Port(tlsPort),
		"--cert", server.CertFile, "--key", server.KeyFile, "--idle-timeout", "2s")
	tcpAddr, tlsAddr := fmt.Sprintf("127.0.0.1:%d", tcpPort), fmt.Sprintf("127.0.0.1:%d", tlsPort)

	// A served connection first, so that whatever the first one sets up once is in the baseline.
	sendTLS(t, tlsAddr, pki.ClientConfig(nil), []string{"<13>warm-up"})
	relay.WaitMetric(t, "kinesyslog_connections", func(v float64) bool { return v == 0 })
	base := relay.Scrape(t)
	t.Logf("baseline: %v goroutines, %v bytes of heap in use", base["go_goroutines"], base["go_memstats_heap_inuse_bytes"])

	kinds := []struct {
		name string
		open func() (net.Conn, error)
	}{
		{"TCP, silent", func() (net.Conn, error) { return net.Dial("tcp", tcpAddr) }},
		{"TCP, half an octet-counted frame", func() (net.Conn, error) {
			conn, err := net.Dial("tcp", tcpAddr)
			if err == nil {
				_, err = fmt.Fprint(conn, "2000 <13>1 2026-01-02T03:04:05Z host app - - - half")
			}
			return conn, err
		}},
		{"TLS, silent", func() (net.Conn, error) { return net.Dial("tcp", tlsAddr) }},
		{"TLS, half a frame after the handshake", func() (net.Conn, error) {
			conn, err := tls.Dial("tcp", tlsAddr, pki.ClientConfig(nil))
			if err == nil {
				_, err = fmt.Fprint(conn, "2000 <13>1 2026-01-02T03:04:05Z host app - - - half")
			}
			return conn, err
		}},
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, k := range kinds {
		for range stalledPerKind {
			conn, err := k.open()
			if err != nil {
				t.Fatalf("%s: %v", k.name, err)
			}
			conns = append(conns, conn)
		}
	}
	peak := relay.Scrape(t)
	t.Logf("peak: %v connections, %v goroutines, %v bytes of heap in use", peak["kinesyslog_connections"], peak["go_goroutines"], peak["go_memstats_heap_inuse_bytes"])

	// Each connection must be closed by the relay: the client never closes it.
	for _, conn := range conns {
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := io.Copy(io.Discard, conn); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("stalled connection not closed by the relay: %v", err)
		}
	}
	relay.WaitMetric(t, "kinesyslog_connections", func(v float64) bool { return v == 0 })
	relay.WaitMetric(t, "go_goroutines", func(v float64) bool { return v <= base["go_goroutines"] })
	// The heap shrinks once the garbage collector has run, which in an idle relay may take
	// until the runtime's periodic collection, every two minutes. The margin is what one
	// connection's buffers would cost 30 times over: a leak of a few percent shows.
	relay.WaitMetricFor(t, "go_memstats_heap_inuse_bytes", heapReturnTimeout, func(v float64) bool {
		return v <= base["go_memstats_heap_inuse_bytes"]+heapMarginBytes
	})
	end := relay.Scrape(t)
	t.Logf("end: %v goroutines, %v bytes of heap in use", end["go_goroutines"], end["go_memstats_heap_inuse_bytes"])
	if n := relay.Metric(t, "kinesyslog_connections_total"); n != 1+4*stalledPerKind {
		t.Errorf("%v connections accepted, want %d", n, 1+4*stalledPerKind)
	}
}
