package e2e

import (
	"bufio"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// requireOmrelp skips the test when rsyslog or its RELP modules (Debian's rsyslog-relp) are
// missing, or fails it when RequireInteropEnv is 1.
func requireOmrelp(t *testing.T) {
	t.Helper()
	Program(t, "rsyslogd")
	RsyslogModule(t, "omrelp")
}

// omrelpForwarder is the configuration of an rsyslogd that forwards what its imtcp input on
// inPort takes to the RELP port relpPort with omrelp, retrying every second for ever; module are
// parameters of the omrelp module (its TLS library), extra more parameters of the action (TLS).
// Its window is the relay's 1,024: with librelp's default of 128
// each full window waits about 100 ms (librelp's pace, the same against imrelp).
func omrelpForwarder(inPort, relpPort int, module, extra string) string {
	return fmt.Sprintf(`module(load="imtcp")
module(load="omrelp" %s)
input(type="imtcp" port="%d" address="127.0.0.1" ruleset="fwd")
ruleset(name="fwd") {
  action(type="omrelp" target="127.0.0.1" port="%d" windowSize="1024" %s
         queue.type="LinkedList" queue.size="200000"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}
`, module, inPort, relpPort, extra)
}

// TestIntakeOmrelp forwards 100,000 messages through a real rsyslogd's omrelp to the relay, over
// RELP and over RELP/TLS with librelp's GnuTLS and OpenSSL back ends (a client certificate that
// the relay verifies, the relay's certificate verified by name): every message is acknowledged
// only once the intake log has it, and delivered exactly once.
func TestIntakeOmrelp(t *testing.T) {
	requireOmrelp(t)
	pki := NewPKI(t, "relp CA")
	server := pki.Issue(t, CertOptions{CommonName: "localhost", Hosts: []string{"localhost", "127.0.0.1"}})
	client := pki.Issue(t, CertOptions{CommonName: "rsyslog", Hosts: []string{"rsyslog.example.com"}, Client: true})
	tlsArgs := []string{"--cert", server.CertFile, "--key", server.KeyFile, "--client-ca", pki.CAFile, "--client-allow", "*.example.com"}
	tlsParams := fmt.Sprintf(`tls="on" tls.caCert=%q tls.myCert=%q tls.myPrivKey=%q tls.authMode="name" tls.permittedPeer=["localhost"]`,
		pki.CAFile, client.CertFile, client.KeyFile)
	for _, tt := range []struct {
		name   string
		flag   string   // --relp-port or --relp-tls-port
		args   []string // more relay options
		module string   // omrelp module parameters
		params string   // more omrelp action parameters
	}{
		{name: "relp", flag: "--relp-port"},
		{name: "relp-tls gnutls", flag: "--relp-tls-port", args: tlsArgs, module: `tls.tlslib="gnutls"`, params: tlsParams},
		{name: "relp-tls openssl", flag: "--relp-tls-port", args: tlsArgs, module: `tls.tlslib="openssl"`, params: tlsParams},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const n = 100_000
			srv := firehosetest.Start(t, firehosetest.Config{})
			ports := testenv.FreePorts(t, 2)
			relpPort, inPort := ports[0], ports[1]
			// Batches are flushed within a second, so that all is delivered while the relay runs.
			r := startLogRelay(t, srv, faultOptions{args: append([]string{tt.flag, Port(relpPort), "--flush-age", "1s"}, tt.args...)})
			StartRsyslog(t, DaemonOptions{Dir: t.TempDir(), Config: omrelpForwarder(inPort, relpPort, tt.module, tt.params),
				Ready: Accepting("tcp", net.JoinHostPort("127.0.0.1", Port(inPort)))})
			conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", Port(inPort)))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			w := bufio.NewWriter(conn)
			for i := range n {
				fmt.Fprintf(w, "<13>Dec  3 00:00:00 host app: %s via omrelp\n", token("omrelp", i))
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			r.waitMetric(t, "kinesyslog_relp_acknowledged_messages_total", fmt.Sprintf("= %d", n), func(v float64) bool { return v >= n })
			elapsed := time.Since(start)
			stored := newStoredEvents(srv)
			stored.waitFor(t, tokens("omrelp", n))
			stopClean(t, r)
			stored.update(t)
			got := compare(stored.counts, tokens("omrelp", n))
			if got.missing != 0 || got.duplicates != 0 || got.unexpected != 0 {
				t.Errorf("%d of %d messages missing, %d duplicates, %d unexpected; want each delivered once",
					got.missing, n, got.duplicates, got.unexpected)
			}
			t.Logf("%s: %d messages acknowledged in %v (%.0f messages/s) and delivered, %d missing, %d duplicates",
				tt.name, n, elapsed.Round(time.Millisecond), n/elapsed.Seconds(), got.missing, got.duplicates)
		})
	}
}
