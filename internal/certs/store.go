package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SelfSignedLifetime is how long a self-signed certificate is valid. It lives only as long as
// the process that made it, so its lifetime matters only to clients that check it; a year
// outlasts any uptime worth planning for.
const SelfSignedLifetime = 365 * 24 * time.Hour

var (
	// ErrExpired reports a certificate whose validity period has ended.
	ErrExpired = errors.New("certs: certificate has expired")
	// ErrNoCertificate reports a PEM file that holds no certificate.
	ErrNoCertificate = errors.New("certs: no certificate in PEM file")
)

// Store holds the server certificate of the TLS listeners. Its methods are safe for concurrent
// use; the zero value is not usable, use Open or SelfSigned.
type Store struct {
	certFile, keyFile string // empty for a self-signed certificate
	cert              atomic.Pointer[tls.Certificate]

	mu   sync.Mutex
	seen stamp // the files as they were when last read
}

// Open loads the PEM certificate chain in certFile and its private key in keyFile.
func Open(certFile, keyFile string) (*Store, error) {
	s := &Store{certFile: certFile, keyFile: keyFile}
	if _, err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// SelfSigned makes a Store of a new self-signed certificate for hosts (DNS names or IP
// addresses), valid from an hour before now, for clock skew, for SelfSignedLifetime. Its key is
// ECDSA P-256, which every TLS 1.2 and 1.3 client supports and which takes a millisecond to make.
func SelfSigned(hosts []string, now time.Time) (*Store, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate key: %w", err)
	}
	// A nil SerialNumber makes x509 pick a random one as RFC 5280 section 4.1.2.2 asks.
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "kinesyslog self-signed"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(SelfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip, err := netip.ParseAddr(h); err == nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certs: make self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse self-signed certificate: %w", err)
	}
	s := &Store{}
	s.cert.Store(&tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf})
	return s, nil
}

// GetCertificate returns the current certificate; it is the tls.Config field of that name.
func (s *Store) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cert.Load(), nil
}

// Leaf returns the current certificate, parsed.
func (s *Store) Leaf() *x509.Certificate { return s.cert.Load().Leaf }

// SelfSigned reports whether the certificate was made by SelfSigned, and so has no files to
// reload.
func (s *Store) SelfSigned() bool { return s.certFile == "" }

// Changed reports whether the size or modification time of either file differs from when the
// files were last read, so that watching them costs two stat calls per poll. A file that cannot
// be read counts as changed once, when it becomes unreadable.
func (s *Store) Changed() bool {
	if s.SelfSigned() {
		return false
	}
	now := statFiles(s.certFile, s.keyFile)
	s.mu.Lock()
	defer s.mu.Unlock()
	return now != s.seen
}

// Reload reads the files again and, if they hold a valid certificate chain and the matching key,
// makes it the certificate GetCertificate returns; it returns the new certificate. On error the
// certificate in use stays. For a self-signed Store there is nothing to read: it returns the
// current certificate.
func (s *Store) Reload() (*x509.Certificate, error) {
	if s.SelfSigned() {
		return s.Leaf(), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Stamped before reading, so that a write landing during the read shows as a change at the
	// next poll instead of being missed.
	s.seen = statFiles(s.certFile, s.keyFile)
	cert, err := load(s.certFile, s.keyFile, time.Now())
	if err != nil {
		return nil, err
	}
	s.cert.Store(cert)
	return cert.Leaf, nil
}

func load(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: load %s and %s: %w", certFile, keyFile, err)
	}
	if now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("certs: %s: %w on %s", certFile, ErrExpired, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// Fingerprint returns the SHA-256 digest of cert's DER encoding as colon-separated upper-case
// hex, as `openssl x509 -fingerprint -sha256` prints it, so that an operator can compare the two.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// fileState is what Changed compares: enough to notice a rewrite or a rename over the file.
type fileState struct {
	size, modNanos int64
	unreadable     bool
}

type stamp [2]fileState

func statFiles(certFile, keyFile string) stamp {
	var st stamp
	for i, name := range []string{certFile, keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			st[i].unreadable = true
			continue
		}
		st[i] = fileState{size: fi.Size(), modNanos: fi.ModTime().UnixNano()}
	}
	return st
}
