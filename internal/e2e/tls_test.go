package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/certs"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// placement is where a message was delivered: its record's logGroup and logStream.
type placement struct {
	group, stream string
}

// checkPlacements finds each token of want exactly once in recs, at its placement, and no
// token that want does not have.
func checkPlacements(t *testing.T, recs []*record.Record, want map[string]placement) {
	t.Helper()
	found := map[string]int{}
	for _, rec := range recs {
		for _, ev := range rec.LogEvents {
			token := tokenOf(ev.Message)
			w, ok := want[token]
			if !ok {
				t.Errorf("unexpected event %q in %s %s", ev.Message, rec.LogGroup, rec.LogStream)
				continue
			}
			found[token]++
			if got := (placement{rec.LogGroup, rec.LogStream}); got != w {
				t.Errorf("%s delivered to %+v, want %+v", token, got, w)
			}
		}
	}
	checkExactlyOnce(t, want, found)
}

// metricsRelay is a relay with a metrics endpoint and a local output directory.
type metricsRelay struct {
	*Relay
	out string
}

// startMetricsRelay runs the relay with args, a local output directory and a metrics address.
func startMetricsRelay(t *testing.T, args ...string) *metricsRelay {
	t.Helper()
	r := &metricsRelay{out: filepath.Join(t.TempDir(), "out")}
	r.Relay = Start(t, Options{Args: append([]string{"--output", r.out}, args...), Metrics: true})
	return r
}

// refusedSeries is the series counting connections refused for reason.
func refusedSeries(reason string) string {
	return fmt.Sprintf("kinesyslog_connections_refused_total{reason=%q}", reason)
}

// stopAndRead stops the relay, which spools and delivers what it holds, and returns the records.
func (r *metricsRelay) stopAndRead(t *testing.T) []*record.Record {
	t.Helper()
	if err := r.Stop(); err != nil {
		t.Fatalf("relay exit: %v", err)
	}
	return Delivered(t, r.out)
}

// sendTLS sends msgs octet-counted (RFC5425 section 4.3) over one TLS connection.
func sendTLS(t *testing.T, addr string, conf *tls.Config, msgs []string) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatalf("TLS connection to %s: %v", addr, err)
	}
	defer conn.Close()
	w := bufio.NewWriter(conn)
	for _, m := range msgs {
		fmt.Fprintf(w, "%d %s", len(m), m)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// tokenMessages returns n RFC5424 messages with tokens tok-<kind>-<i>, and where each must be
// delivered.
func tokenMessages(kind string, n int, where placement, want map[string]placement) []string {
	msgs := make([]string, n)
	for i := range msgs {
		token := fmt.Sprintf("tok-%s-%d", kind, i)
		msgs[i] = fmt.Sprintf("<134>1 2026-01-02T03:04:05.000Z host app - - - message %s", token)
		want[token] = where
	}
	return msgs
}

func syslogGroup(port int) string { return fmt.Sprintf("/kinesyslog/syslog/%d", port) }

// TestTLSEndToEnd sends messages over TLS with a Go client, to a relay with a CA-signed
// certificate and to one that made its own, and finds each delivered once.
func TestTLSEndToEnd(t *testing.T) {
	pki := NewPKI(t, "server CA")
	server := pki.Issue(t, CertOptions{CommonName: "localhost", Hosts: []string{"localhost", "127.0.0.1"}})

	t.Run("certificate files", func(t *testing.T) {
		port := testenv.FreePort(t)
		relay := startMetricsRelay(t, "--tls-port", Port(port), "--cert", server.CertFile, "--key", server.KeyFile)
		want := map[string]placement{}
		sendTLS(t, fmt.Sprintf("127.0.0.1:%d", port), pki.ClientConfig(nil),
			tokenMessages("tls", 200, placement{syslogGroup(port), "127.0.0.1"}, want))
		relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v == 200 })
		checkPlacements(t, relay.stopAndRead(t), want)
	})

	t.Run("self-signed", func(t *testing.T) {
		port := testenv.FreePort(t)
		relay := startMetricsRelay(t, "--tls-port", Port(port))
		var served *x509.Certificate
		conf := &tls.Config{
			InsecureSkipVerify: true, // the test pins the fingerprint the relay logged instead
			VerifyConnection: func(cs tls.ConnectionState) error {
				served = cs.PeerCertificates[0]
				return nil
			},
		}
		want := map[string]placement{}
		sendTLS(t, fmt.Sprintf("127.0.0.1:%d", port), conf, tokenMessages("self", 10, placement{syslogGroup(port), "127.0.0.1"}, want))
		logged := relay.WaitLog(t, regexp.MustCompile(`level=WARN msg="[^"]*self-signed[^"]*" sha256=(\S+)`))
		if fp := certs.Fingerprint(served); logged[1] != fp {
			t.Errorf("logged fingerprint %s, served certificate's %s", logged[1], fp)
		}
		relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v == 10 })
		checkPlacements(t, relay.stopAndRead(t), want)
	})
}

// TestTLSCertificateReloadOnSIGHUP replaces the certificate files and sends SIGHUP: new
// connections get the new certificate, the process lives on and the open connection still
// delivers.
func TestTLSCertificateReloadOnSIGHUP(t *testing.T) {
	pki := NewPKI(t, "server CA")
	first := pki.Issue(t, CertOptions{CommonName: "first", Hosts: []string{"localhost"}})
	second := pki.Issue(t, CertOptions{CommonName: "second", Hosts: []string{"localhost"}})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(c *Cert) {
		for _, f := range []struct{ from, to string }{{c.CertFile, certFile}, {c.KeyFile, keyFile}} {
			data, err := os.ReadFile(f.from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f.to, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(first)
	port := testenv.FreePort(t)
	relay := startMetricsRelay(t, "--tls-port", Port(port), "--cert", certFile, "--key", keyFile)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	servedCN := func() string {
		conn, err := tls.Dial("tcp", addr, pki.ClientConfig(nil))
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	open, err := tls.Dial("tcp", addr, pki.ClientConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	install(second)
	relay.Signal(syscall.SIGHUP)
	relay.WaitMetric(t, `kinesyslog_tls_certificate_reloads_total{result="ok"}`, func(v float64) bool { return v >= 1 })
	if cn := servedCN(); cn != "second" {
		t.Errorf("certificate %q after SIGHUP, want second", cn)
	}
	const msg = "<13>1 2026-01-02T03:04:05Z host app - - - still open tok-open-0"
	fmt.Fprintf(open, "%d %s", len(msg), msg)
	open.Close()
	relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v == 1 })
	if relay.Exited() {
		t.Fatal("relay exited on SIGHUP")
	}
	checkPlacements(t, relay.stopAndRead(t), map[string]placement{"tok-open-0": {syslogGroup(port), "127.0.0.1"}})
}

// TestTLSOpenSSLClientCertificates connects with openssl s_client and checks that the relay
// refuses a client certificate no --client-ca signed, one signed but matching no --client-allow,
// and no certificate at all, and delivers what an allowed client sends.
func TestTLSOpenSSLClientCertificates(t *testing.T) {
	openssl := Program(t, "openssl")
	pki := NewPKI(t, "client CA")
	server := pki.Issue(t, CertOptions{CommonName: "localhost", Hosts: []string{"localhost", "127.0.0.1"}})
	allowed := pki.Issue(t, CertOptions{CommonName: "web-1", Hosts: []string{"web-1.example.com"}, Client: true})
	notAllowed := pki.Issue(t, CertOptions{CommonName: "db-1", Hosts: []string{"db-1.example.com"}, Client: true})
	untrusted := NewPKI(t, "other CA").Issue(t, CertOptions{CommonName: "web-2", Client: true})

	port := testenv.FreePort(t)
	relay := startMetricsRelay(t, "--tls-port", Port(port), "--cert", server.CertFile, "--key", server.KeyFile,
		"--client-ca", pki.CAFile, "--client-allow", "web-*", "--client-allow", "spiffe://example.org/*")
	tests := []struct {
		name   string
		cert   *Cert
		tlsMax string // -tls1_2 or -tls1_3
		reason string // "" when the message must be delivered
	}{
		{name: "allowed", cert: allowed, tlsMax: "-tls1_3"},
		{name: "allowed, TLS 1.2", cert: allowed, tlsMax: "-tls1_2"},
		{name: "untrusted", cert: untrusted, tlsMax: "-tls1_3", reason: "client_certificate_untrusted"},
		{name: "untrusted, TLS 1.2", cert: untrusted, tlsMax: "-tls1_2", reason: "client_certificate_untrusted"},
		{name: "not allowed", cert: notAllowed, tlsMax: "-tls1_3", reason: "client_not_allowed"},
		{name: "not allowed, TLS 1.2", cert: notAllowed, tlsMax: "-tls1_2", reason: "client_not_allowed"},
		{name: "no certificate", tlsMax: "-tls1_3", reason: "client_certificate_missing"},
	}
	want := map[string]placement{}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := fmt.Sprintf("tok-openssl-%d", i)
			args := []string{"s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", port), "-servername", "localhost",
				"-CAfile", pki.CAFile, "-verify_return_error", "-quiet", "-no_ign_eof", tt.tlsMax}
			if tt.cert != nil {
				args = append(args, "-cert", tt.cert.CertFile, "-key", tt.cert.KeyFile)
			}
			var before float64
			if tt.reason != "" {
				before = relay.Metric(t, refusedSeries(tt.reason))
			}
			cmd := exec.Command(openssl, args...)
			cmd.Stdin = strings.NewReader("<13>1 2026-01-02T03:04:05Z host app - - - from openssl " + token + "\n")
			out, err := cmd.CombinedOutput()
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("openssl %v: %v\n%s", args, err, out)
				}
				want[token] = placement{syslogGroup(port), "127.0.0.1"}
				return
			}
			relay.WaitMetric(t, refusedSeries(tt.reason), func(v float64) bool { return v == before+1 })
			// A TLS 1.3 client finishes its side of the handshake before the server checks its
			// certificate, and openssl may exit before it reads the alert; a TLS 1.2 client
			// learns of the refusal in the handshake.
			if tt.tlsMax == "-tls1_2" && err == nil {
				t.Errorf("openssl %v succeeded, want a failed handshake:\n%s", args, out)
			}
		})
	}
	relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v == float64(len(want)) })
	checkPlacements(t, relay.stopAndRead(t), want)
}

// rsyslogTLSConfig is the configuration of an rsyslogd that reads messages from a private
// socket and forwards them octet-counted over TLS with driver to port, verifying the relay's
// certificate against caFile, and presenting client's certificate when it is set.
func rsyslogTLSConfig(dir, driver string, port int, caFile string, client *Cert) string {
	global := fmt.Sprintf("global(DefaultNetstreamDriverCAFile=%q", caFile)
	if client != nil {
		global += fmt.Sprintf(" DefaultNetstreamDriverCertFile=%q DefaultNetstreamDriverKeyFile=%q", client.CertFile, client.KeyFile)
	}
	return global + ")\n" + fmt.Sprintf(`module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket=%q RateLimit.Interval="0")
action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp"
       StreamDriver=%q StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"
       TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
`, filepath.Join(dir, "log.sock"), port, driver)
}

// TestTLSRsyslog forwards messages with rsyslog over TLS, with the GnuTLS and the OpenSSL
// driver, without a client certificate and with one the relay requires.
func TestTLSRsyslog(t *testing.T) {
	Program(t, "rsyslogd")
	pki := NewPKI(t, "test CA")
	server := pki.Issue(t, CertOptions{CommonName: "localhost", Hosts: []string{"localhost", "127.0.0.1"}})
	client := pki.Issue(t, CertOptions{CommonName: "rsyslog-client", Hosts: []string{"client.example.com"}, Client: true})
	for _, driver := range []string{"gtls", "ossl"} {
		for _, withCert := range []bool{false, true} {
			name := driver + " without client certificate"
			if withCert {
				name = driver + " with client certificate"
			}
			t.Run(name, func(t *testing.T) {
				port := testenv.FreePort(t)
				args := []string{"--tls-port", Port(port), "--cert", server.CertFile, "--key", server.KeyFile}
				var cert *Cert
				if withCert {
					cert = client
					args = append(args, "--client-ca", pki.CAFile, "--client-allow", "*.example.com")
				}
				relay := startMetricsRelay(t, args...)
				dir := t.TempDir()
				socket := filepath.Join(dir, "log.sock")
				daemon := StartRsyslog(t, DaemonOptions{
					Dir:    dir,
					Config: rsyslogTLSConfig(dir, driver, port, pki.CAFile, cert),
					Ready:  Accepting("unixgram", socket),
				})
				const n = 100
				want := map[string]placement{}
				var lines []string
				for i := range n {
					token := fmt.Sprintf("tok-rsyslog-%d", i)
					lines = append(lines, "via rsyslog "+token)
					want[token] = placement{syslogGroup(port), "127.0.0.1"}
				}
				runLogger(t, lines, "-u", socket, "--socket-errors=on")
				relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v >= n })
				if err := daemon.Stop(); err != nil {
					t.Errorf("rsyslogd exit: %v", err)
				}
				checkPlacements(t, relay.stopAndRead(t), want)
			})
		}
	}
}
