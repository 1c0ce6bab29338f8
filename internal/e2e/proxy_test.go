package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestProxyHeaderOnPlainPort sends the same PROXY v1 line to a port configured for the PROXY
// protocol and to one that is not: the first takes the address from it, the second delivers it
// as a message and keeps the socket's address, so a client cannot claim another's address.
func TestProxyHeaderOnPlainPort(t *testing.T) {
	plain, proxied := testenv.FreePort(t), testenv.FreePort(t)
	relay := startMetricsRelay(t, "--tcp-port", Port(plain), "--tcp-port", Port(proxied), "--proxy-protocol", Port(proxied))
	const line = "PROXY TCP4 203.0.113.9 127.0.0.1 40000 514\r\n"
	for i, port := range []int{plain, proxied} {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "%s<13>1 2026-01-02T03:04:05Z host app - - - tok-proxied-%d\n", line, i)
		conn.Close()
	}
	relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v == 3 })

	type event struct{ group, stream, message string }
	var got []event
	for _, rec := range relay.stopAndRead(t) {
		for _, ev := range rec.LogEvents {
			got = append(got, event{rec.LogGroup, rec.LogStream, ev.Message})
		}
	}
	var proxyLines, plainToken, proxiedToken int
	for _, ev := range got {
		switch {
		case strings.Contains(ev.message, "PROXY TCP4 203.0.113.9"):
			proxyLines++
			if ev.group != syslogGroup(plain) || ev.stream != "127.0.0.1" {
				t.Errorf("PROXY line delivered to %s %s, want %s 127.0.0.1", ev.group, ev.stream, syslogGroup(plain))
			}
		case strings.Contains(ev.message, "tok-proxied-0"):
			plainToken++
			if ev.stream != "127.0.0.1" {
				t.Errorf("message after a PROXY line on a plain port has logStream %s, want 127.0.0.1", ev.stream)
			}
		case strings.Contains(ev.message, "tok-proxied-1"):
			proxiedToken++
			if ev.group != syslogGroup(proxied) || ev.stream != "203.0.113.9" {
				t.Errorf("message on the PROXY port delivered to %s %s, want %s 203.0.113.9", ev.group, ev.stream, syslogGroup(proxied))
			}
		default:
			t.Errorf("unexpected event %+v", ev)
		}
	}
	if proxyLines != 1 || plainToken != 1 || proxiedToken != 1 {
		t.Errorf("delivered %d PROXY lines and messages %d and %d times, want each once:\n%+v", proxyLines, plainToken, proxiedToken, got)
	}
}

// haproxyBackend is one way HAProxy forwards to the relay.
type haproxyBackend struct {
	name     string
	option   string // send-proxy or send-proxy-v2
	tls      bool   // TLS passed through to the relay's TLS port
	frontend int    // HAProxy's port
}

// haproxyConfig forwards each backend's frontend port to the relay's TCP or TLS port in TCP
// mode, with health checks, which carry a PROXY header without addresses (v2 LOCAL, v1
// UNKNOWN) that the relay must close quietly.
func haproxyConfig(backends []haproxyBackend, tcpPort, tlsPort int) string {
	var b strings.Builder
	b.WriteString(`global
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
`)
	for _, be := range backends {
		port := tcpPort
		if be.tls {
			port = tlsPort
		}
		fmt.Fprintf(&b, "listen %s\n    bind 127.0.0.1:%d\n    server relay 127.0.0.1:%d %s check inter 100ms\n",
			be.name, be.frontend, port, be.option)
	}
	return b.String()
}

// TestHAProxy puts HAProxy in front of the relay, sending PROXY v1 and v2 headers in TCP mode
// and with TLS passed through, and checks that the delivered logStream is the client's address
// as HAProxy saw it (127.0.0.2), not HAProxy's own (127.0.0.1).
func TestHAProxy(t *testing.T) {
	haproxy := Program(t, "haproxy")
	pki := NewPKI(t, "server CA")
	server := pki.Issue(t, CertOptions{CommonName: "localhost", Hosts: []string{"localhost"}})
	tcpPort, tlsPort := testenv.FreePort(t), testenv.FreePort(t)
	relay := startMetricsRelay(t, "--debug", "--tcp-port", Port(tcpPort), "--tls-port", Port(tlsPort),
		"--proxy-protocol", Port(tcpPort), "--proxy-protocol", Port(tlsPort), "--cert", server.CertFile, "--key", server.KeyFile)

	backends := []haproxyBackend{
		{name: "tcp_v1", option: "send-proxy"},
		{name: "tcp_v2", option: "send-proxy-v2"},
		{name: "tls_v1", option: "send-proxy", tls: true},
		{name: "tls_v2", option: "send-proxy-v2", tls: true},
	}
	for i := range backends {
		backends[i].frontend = testenv.FreePort(t)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(haproxyConfig(backends, tcpPort, tlsPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	last := fmt.Sprintf("127.0.0.1:%d", backends[len(backends)-1].frontend)
	startDaemon(t, "haproxy", exec.Command(haproxy, "-db", "-f", conf), DaemonOptions{Dir: dir, Ready: Accepting("tcp", last)})

	// The client connects from 127.0.0.2, another loopback address, so that the address HAProxy
	// reports differs from the one the relay sees, HAProxy's 127.0.0.1.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	want := map[string]placement{}
	const perBackend = 50
	for _, be := range backends {
		group := syslogGroup(tcpPort)
		if be.tls {
			group = syslogGroup(tlsPort)
		}
		msgs := tokenMessages(strings.ReplaceAll(be.name, "_", "-"), perBackend, placement{group, "127.0.0.2"}, want)
		conn, err := dialer.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", be.frontend))
		if err != nil {
			t.Fatalf("%s: %v", be.name, err)
		}
		if be.tls {
			conn = tls.Client(conn, pki.ClientConfig(nil))
		}
		w := bufio.NewWriter(conn)
		for _, m := range msgs {
			if be.tls {
				fmt.Fprintf(w, "%d %s", len(m), m)
			} else {
				fmt.Fprintf(w, "%s\n", m)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("%s: %v", be.name, err)
		}
		conn.Close()
	}
	relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v == float64(len(want)) })
	// Several rounds of health checks on every backend, each a connection of its own.
	relay.WaitMetric(t, "kinesyslog_connections_total", func(v float64) bool { return v >= float64(len(backends)*5) })
	for _, reason := range []string{"proxy_header", "tls_handshake"} {
		if n := relay.Metric(t, refusedSeries(reason)); n != 0 {
			t.Errorf("%v connections refused for %s; HAProxy's connections and health checks must all pass", n, reason)
		}
	}
	// --debug logs each health check the relay closed, on both ports.
	for _, port := range []int{tcpPort, tlsPort} {
		if !strings.Contains(relay.Log(), fmt.Sprintf(`msg="PROXY LOCAL connection (health check) closed" source=127.0.0.1 port=%d`, port)) {
			t.Errorf("no health check closed quietly on port %d", port)
		}
	}
	checkPlacements(t, relay.stopAndRead(t), want)
}
