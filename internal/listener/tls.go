package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/certs"
)

var (
	errNoClientCertificate = errors.New("listener: client sent no certificate")
	errClientNotAllowed    = errors.New("listener: client certificate matches no allowed pattern")
)

// newTLSConfig loads the server certificate, or makes a self-signed one, and the client CAs, and
// returns the configuration of every TLS port: TLS 1.2 and 1.3 with Go's default cipher suites
// (all of them AEAD with forward secrecy), and the certificate as the Store has it at each
// handshake.
func newTLSConfig(opts Options) (*certs.Store, *tls.Config, error) {
	var store *certs.Store
	var err error
	if opts.CertFile != "" || opts.KeyFile != "" {
		store, err = certs.Open(opts.CertFile, opts.KeyFile)
	} else {
		store, err = certs.SelfSigned(selfSignedHosts(opts.Address), time.Now())
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listener: TLS certificate: %w", err)
	}
	conf := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: store.GetCertificate,
	}
	if opts.ClientCAFile == "" {
		if opts.ClientAuth != tls.NoClientCert || len(opts.ClientAllow) > 0 {
			return nil, nil, errors.New("listener: client certificate checks need a client CA file")
		}
		return store, conf, nil
	}
	for _, p := range opts.ClientAllow {
		if _, err := path.Match(p, ""); err != nil {
			return nil, nil, fmt.Errorf("listener: client allow pattern %q: %w", p, err)
		}
	}
	check := clientCheck{allow: opts.ClientAllow}
	switch opts.ClientAuth {
	case tls.NoClientCert, tls.RequireAndVerifyClientCert:
		check.require = true
	case tls.VerifyClientCertIfGiven:
	default:
		return nil, nil, fmt.Errorf("listener: client auth %v: want require or verify if given", opts.ClientAuth)
	}
	if conf.ClientCAs, err = certs.LoadPool(opts.ClientCAFile); err != nil {
		return nil, nil, fmt.Errorf("listener: client CAs: %w", err)
	}
	// crypto/tls verifies any certificate sent; whether one is required is checked by
	// VerifyConnection, so that a missing certificate is told apart from an untrusted one in the
	// log and the metric (crypto/tls reports it only as text).
	conf.ClientAuth = tls.VerifyClientCertIfGiven
	conf.VerifyConnection = check.verify
	return store, conf, nil
}

// selfSignedHosts returns the names a self-signed certificate is made for: the loopback names,
// this host's name, and the bind address when it is a specific one.
func selfSignedHosts(address string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	if ip, err := netip.ParseAddr(address); address != "" && (err != nil || !ip.IsUnspecified()) {
		hosts = append(hosts, address)
	}
	return hosts
}

// clientCheck decides, during the handshake, whether a client's certificate admits it, after
// crypto/tls has verified the certificate's chain against the client CAs.
type clientCheck struct {
	require bool
	allow   []string
}

func (c clientCheck) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		if c.require {
			return errNoClientCertificate
		}
		return nil
	}
	leaf := cs.PeerCertificates[0]
	if len(c.allow) > 0 && !certs.Match(leaf, c.allow) {
		return fmt.Errorf("%w: %s", errClientNotAllowed, strings.Join(certs.Identities(leaf), ", "))
	}
	return nil
}

// handshake runs the TLS handshake of tc within the handshake timeout, and reports whether it
// succeeded. A client refused by the client certificate checks is refused here, before any of
// its data is read.
func (l *Listener) handshake(tc *tls.Conn, source netip.Addr, port uint16) bool {
	timeout := l.opts.HandshakeTimeout
	l.setReadDeadline(tc, timeout)
	tc.SetWriteDeadline(time.Now().Add(timeout))
	err := tc.Handshake()
	// Later writes (alerts, key updates) must not fail on a past deadline.
	tc.SetWriteDeadline(time.Time{})
	if err == nil {
		return true
	}
	if closedQuietly(err) {
		l.log.Debug("connection closed before the TLS handshake", "source", source, "port", port)
		return false
	}
	l.refuse(handshakeRefusal(err), source, port, err)
	return false
}

// closedQuietly reports whether err means that the client closed the connection before sending
// anything, as TCP health checks and port scanners do: no reason to warn.
func closedQuietly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// handshakeRefusal returns the reason a handshake failed with err, a label value of the
// refusal counter.
func handshakeRefusal(err error) string {
	var unverified *tls.CertificateVerificationError
	switch {
	case errors.Is(err, errNoClientCertificate):
		return reasonNoClientCert
	case errors.Is(err, errClientNotAllowed):
		return reasonClientNotAllowed
	case errors.As(err, &unverified):
		return reasonUntrustedClient
	default:
		return reasonHandshake
	}
}

// refuse counts a connection closed before any of its data was accepted and logs why, at a
// limited rate for each reason.
func (l *Listener) refuse(reason string, source netip.Addr, port uint16, err error) {
	l.m.refused(reason)
	l.warn.Warn("connection refused: "+reason, "source", source, "port", port, "error", err)
}

// logCertificate logs the certificate in use and records its expiry; for a self-signed one, a
// warning with the fingerprint clients must pin.
func (l *Listener) logCertificate() {
	leaf := l.certs.Leaf()
	l.m.certificate(leaf.NotAfter)
	if l.certs.SelfSigned() {
		l.log.Warn("no --cert and --key: TLS listeners use a self-signed certificate made at start; clients must trust its fingerprint",
			"sha256", certs.Fingerprint(leaf), "names", strings.Join(append(leaf.DNSNames, ipStrings(leaf.IPAddresses)...), " "),
			"expires", leaf.NotAfter.UTC())
		return
	}
	l.log.Info("TLS certificate", "file", l.opts.CertFile, "subject", leaf.Subject.String(),
		"sha256", certs.Fingerprint(leaf), "expires", leaf.NotAfter.UTC())
}

func ipStrings(ips []net.IP) []string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return s
}

// watchCertificate reloads the certificate when Options.Reload delivers a value or its files
// change, until ctx is done.
func (l *Listener) watchCertificate(ctx context.Context) {
	tick := time.NewTicker(l.opts.CertPollInterval)
	defer tick.Stop()
	reload := l.opts.Reload
	for {
		select {
		case <-ctx.Done():
			return
		case sig, ok := <-reload:
			if !ok {
				reload = nil // closed: only file changes reload from now on
				continue
			}
			l.reloadCertificate("signal " + sig.String())
		case <-tick.C:
			if l.certs.Changed() {
				l.reloadCertificate("files changed")
			}
		}
	}
}

// reloadCertificate reads the certificate files again. Handshakes from now on use the new
// certificate; open connections keep theirs. A certificate that does not load leaves the old
// one in place.
func (l *Listener) reloadCertificate(trigger string) {
	if l.certs.SelfSigned() {
		l.log.Info("TLS certificate not reloaded: it is self-signed; give --cert and --key to use files", "trigger", trigger)
		return
	}
	leaf, err := l.certs.Reload()
	if err != nil {
		l.m.reloaded(false)
		old := l.certs.Leaf()
		l.log.Error("TLS certificate not reloaded: keeping the one in use", "trigger", trigger, "error", err,
			"in_use_sha256", certs.Fingerprint(old), "in_use_expires", old.NotAfter.UTC())
		return
	}
	l.m.reloaded(true)
	l.m.certificate(leaf.NotAfter)
	l.log.Info("TLS certificate reloaded", "trigger", trigger, "subject", leaf.Subject.String(),
		"sha256", certs.Fingerprint(leaf), "expires", leaf.NotAfter.UTC())
}
