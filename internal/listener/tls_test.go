package listener

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/certs"
	"github.com/kinesyslog/kinesyslog/internal/e2e"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// dialTLS connects to addr with conf and sends msg octet-counted (RFC5425 section 4.3). It
// returns nil when the server accepted the connection, else the error that showed the refusal:
// from the handshake (TLS 1.2 clients learn of a refused certificate there) or from a read after
// it (TLS 1.3 clients finish their side of the handshake before the server checks theirs).
func dialTLS(t *testing.T, addr string, conf *tls.Config, msg string) error {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "%d %s", len(msg), msg); err != nil {
		return err
	}
	// The server never writes application data: a read ends with its alert, or times out
	// when it accepted the connection.
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = conn.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return nil
	}
	if err == nil {
		return errors.New("server sent data")
	}
	return err
}

func TestTLSClientCertificates(t *testing.T) {
	pki := e2e.NewPKI(t, "client CA")
	serverCert := pki.Issue(t, e2e.CertOptions{CommonName: "localhost", Hosts: []string{"localhost", "127.0.0.1"}})
	client := func(opts e2e.CertOptions) *e2e.Cert {
		opts.Client = true
		return pki.Issue(t, opts)
	}
	web := client(e2e.CertOptions{CommonName: "web-1", Hosts: []string{"web-1.prod.example.com"}})
	spiffe := client(e2e.CertOptions{CommonName: "svc", URIs: []string{"spiffe://example.org/logger"}})
	expired := client(e2e.CertOptions{CommonName: "web-2", Expired: true})
	stranger := e2e.NewPKI(t, "other CA").Issue(t, e2e.CertOptions{CommonName: "web-1", Client: true})

	tests := []struct {
		name        string
		clientCA    bool
		auth        tls.ClientAuthType
		allow       []string
		cert        *e2e.Cert
		maxVersion  uint16
		wantRefusal string // "" when the message must be delivered
	}{
		{name: "no client CA, no certificate", cert: nil},
		{name: "no client CA, certificate ignored", cert: stranger},
		{name: "TLS 1.2", maxVersion: tls.VersionTLS12},
		{name: "TLS 1.1 refused", maxVersion: tls.VersionTLS11, wantRefusal: reasonHandshake},
		{name: "require: trusted certificate", clientCA: true, cert: web},
		{name: "require is the default", clientCA: true, auth: tls.NoClientCert, cert: nil, wantRefusal: reasonNoClientCert},
		{name: "require: no certificate", clientCA: true, auth: tls.RequireAndVerifyClientCert, wantRefusal: reasonNoClientCert},
		{name: "require: no certificate, TLS 1.2", clientCA: true, maxVersion: tls.VersionTLS12, wantRefusal: reasonNoClientCert},
		{name: "require: other CA", clientCA: true, cert: stranger, wantRefusal: reasonUntrustedClient},
		{name: "require: other CA, TLS 1.2", clientCA: true, cert: stranger, maxVersion: tls.VersionTLS12, wantRefusal: reasonUntrustedClient},
		{name: "require: expired", clientCA: true, cert: expired, wantRefusal: reasonUntrustedClient},
		{name: "request: no certificate", clientCA: true, auth: tls.VerifyClientCertIfGiven},
		{name: "request: other CA", clientCA: true, auth: tls.VerifyClientCertIfGiven, cert: stranger, wantRefusal: reasonUntrustedClient},
		{name: "allow: CN", clientCA: true, allow: []string{"web-*"}, cert: web},
		{name: "allow: DNS SAN", clientCA: true, allow: []string{"db-*", "*.prod.example.com"}, cert: web},
		{name: "allow: URI SAN", clientCA: true, allow: []string{"spiffe://example.org/*"}, cert: spiffe},
		{name: "allow: no match", clientCA: true, allow: []string{"db-*"}, cert: web, wantRefusal: reasonClientNotAllowed},
		{name: "allow: no match, TLS 1.2", clientCA: true, allow: []string{"db-*"}, cert: web, maxVersion: tls.VersionTLS12, wantRefusal: reasonClientNotAllowed},
		{name: "allow with request: no certificate", clientCA: true, auth: tls.VerifyClientCertIfGiven, allow: []string{"db-*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{TLSPorts: []int{testenv.FreePort(t)}, CertFile: serverCert.CertFile, KeyFile: serverCert.KeyFile,
				ClientAuth: tt.auth, ClientAllow: tt.allow}
			if tt.clientCA {
				opts.ClientCAFile = pki.CAFile
			}
			s := start(t, opts)
			conf := pki.ClientConfig(tt.cert)
			conf.MaxVersion = tt.maxVersion
			conf.MinVersion = tls.VersionTLS10
			const msg = "<13>1 - host app - - - over TLS"
			err := dialTLS(t, s.Addrs()[0].String(), conf, msg)

			if tt.wantRefusal == "" {
				if err != nil {
					t.Fatalf("connection refused: %v", err)
				}
				want := []got{{loopback, uint16(opts.TLSPorts[0]), msg}}
				if diff := cmp.Diff(want, s.waitMessages(t, 1), cmpGot); diff != "" {
					t.Errorf("messages (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatal("connection accepted, want it refused")
			}
			testenv.Eventually(t, "refusal counted", func() bool { return s.refused(tt.wantRefusal) == 1 })
			testenv.Eventually(t, "connection closed", func() bool { return s.open() == 0 })
			if n := s.sink.opened(); n != 0 {
				t.Errorf("%d streams opened for a refused client", n)
			}
			if msgs := s.sink.messages(); len(msgs) != 0 {
				t.Errorf("refused client's messages accepted: %v", msgs)
			}
		})
	}
}

func TestTLSRefusesPlainText(t *testing.T) {
	s := start(t, Options{TLSPorts: []int{testenv.FreePort(t)}})
	conn, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "<13>plain text on a TLS port\n")
	waitClosed(t, conn)
	testenv.Eventually(t, "refusal counted", func() bool { return s.refused(reasonHandshake) == 1 })
	if n := s.sink.opened(); n != 0 {
		t.Errorf("%d streams opened", n)
	}
}

// TestTLSStalledHandshake checks that a client that connects and sends nothing, or half a
// ClientHello, is closed by the handshake timeout, and one that closes at once is not counted.
func TestTLSStalledHandshake(t *testing.T) {
	tests := []struct {
		name        string
		send        []byte
		closeAtOnce bool
		wantRefused int
	}{
		{name: "silent", wantRefused: 1},
		{name: "half a record header", send: []byte{0x16, 0x03}, wantRefused: 1},
		{name: "closed at once", closeAtOnce: true, wantRefused: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{TLSPorts: []int{testenv.FreePort(t)}, HandshakeTimeout: 50 * time.Millisecond})
			conn, err := net.Dial("tcp", s.Addrs()[0].String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write(tt.send)
			if tt.closeAtOnce {
				conn.Close()
			} else {
				waitClosed(t, conn)
			}
			testenv.Eventually(t, "connection closed", func() bool {
				return s.open() == 0 && testutil.ToFloat64(s.m.connsTotal) == 1
			})
			if got := s.refused(reasonHandshake); got != tt.wantRefused {
				t.Errorf("refused %d, want %d", got, tt.wantRefused)
			}
		})
	}
}

// TestTLSSelfSigned checks that without certificate files the listener serves a self-signed
// certificate for the loopback names and logs its fingerprint.
func TestTLSSelfSigned(t *testing.T) {
	var logs testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s := start(t, Options{TLSPorts: []int{testenv.FreePort(t)}, Logger: logger})
	var leaf *x509.Certificate
	conf := &tls.Config{
		InsecureSkipVerify: true, // verified below against the certificate itself
		VerifyConnection: func(cs tls.ConnectionState) error {
			leaf = cs.PeerCertificates[0]
			return nil
		},
	}
	if err := dialTLS(t, s.Addrs()[0].String(), conf, "<13>hello"); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("self-signed certificate for %s: %v", name, err)
		}
	}
	testenv.Eventually(t, "warning logged", func() bool {
		return strings.Contains(logs.String(), "sha256="+certs.Fingerprint(leaf))
	})
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("self-signed certificate not logged as a warning:\n%s", logs.String())
	}
}

// serverCN returns the subject CN of the certificate the server at addr presents.
func serverCN(t *testing.T, addr string, pool *x509.CertPool) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestTLSCertificateReload replaces the certificate files while a connection is open, and checks
// that new handshakes get the new certificate, the open connection carries on, and a bad
// certificate leaves the good one in place; once on a change of the files, once on a signal.
func TestTLSCertificateReload(t *testing.T) {
	pki := e2e.NewPKI(t, "server CA")
	issue := func(cn string) *e2e.Cert {
		return pki.Issue(t, e2e.CertOptions{CommonName: cn, Hosts: []string{"localhost"}})
	}
	first, second := issue("first"), issue("second")
	garbage := &e2e.Cert{CertFile: filepath.Join(t.TempDir(), "garbage"), KeyFile: second.KeyFile}
	if err := os.WriteFile(garbage.CertFile, []byte("-----BEGIN CERTIFICATE-----\nbad\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, trigger := range []string{"files changed", "signal"} {
		t.Run(trigger, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			mtime := time.Now().Add(-time.Hour)
			first.Install(t, certFile, keyFile, mtime)
			reload := make(chan os.Signal, 1)
			opts := Options{TLSPorts: []int{testenv.FreePort(t)}, CertFile: certFile, KeyFile: keyFile, Reload: reload,
				CertPollInterval: 5 * time.Millisecond}
			if trigger == "signal" {
				opts.CertPollInterval = time.Hour
			}
			s := start(t, opts)
			addr := s.Addrs()[0].String()
			replace := func(cert *e2e.Cert) {
				mtime = mtime.Add(time.Minute)
				cert.Install(t, certFile, keyFile, mtime)
				if trigger == "signal" {
					reload <- syscall.SIGHUP
				}
			}
			reloads := func(result string) int {
				return int(testutil.ToFloat64(s.m.certReloads.WithLabelValues(result)))
			}

			open, err := tls.Dial("tcp", addr, pki.ClientConfig(nil))
			if err != nil {
				t.Fatal(err)
			}
			defer open.Close()
			if cn := open.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "first" {
				t.Fatalf("certificate %q at start, want first", cn)
			}

			replace(second)
			testenv.Eventually(t, "new certificate served", func() bool { return serverCN(t, addr, pki.Pool) == "second" })
			if got, want := testutil.ToFloat64(s.m.certExpiry), float64(second.TLS.Leaf.NotAfter.Unix()); got != want {
				t.Errorf("expiry metric %v, want %v", got, want)
			}
			fmt.Fprint(open, "<13>still open\n")
			if msgs := s.waitMessages(t, 1); msgs[0].Msg != "<13>still open" {
				t.Errorf("open connection delivered %v", msgs)
			}

			// A poll between the writes of one replace sees half of it (a truncated file, the new
			// certificate with the old key) and counts a failed reload, or a second good one: the
			// counts are compared with what they were before the bad files, not with fixed values.
			okBefore, errorsBefore := reloads("ok"), reloads("error")
			if okBefore < 1 {
				t.Errorf("%d successful reloads after the new certificate was served, want at least 1", okBefore)
			}
			replace(garbage)
			testenv.Eventually(t, "failed reload counted", func() bool { return reloads("error") > errorsBefore })
			if cn := serverCN(t, addr, pki.Pool); cn != "second" {
				t.Errorf("certificate %q after a bad reload, want second kept", cn)
			}
			if got := reloads("ok"); got != okBefore {
				t.Errorf("%d successful reloads after the bad files, want %d as before them", got, okBefore)
			}
		})
	}
}
