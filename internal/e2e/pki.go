package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// PKI is a certificate authority made for one test: a CA certificate and the certificates it
// issues, in memory for Go clients and as PEM files for the relay and real clients. Keys are
// ECDSA P-256, which every TLS library the tests drive accepts.
type PKI struct {
	// CA is the authority's certificate; CAFile holds it as PEM, Pool holds it for crypto/tls.
	CA     *x509.Certificate
	CAFile string
	Pool   *x509.CertPool

	dir   string
	caKey crypto.Signer
}

// Cert is a certificate issued by a PKI, with its key.
type Cert struct {
	TLS      tls.Certificate // for crypto/tls; TLS.Leaf is set
	CertFile string          // PEM certificate
	KeyFile  string          // PEM private key, PKCS #8
}

// CertOptions says what to put in a certificate.
type CertOptions struct {
	CommonName string
	Hosts      []string // DNS names or IP addresses, as subject alternative names
	URIs       []string // URI subject alternative names
	Client     bool     // client authentication instead of server authentication
	Expired    bool     // validity ended a day ago
}

// NewPKI makes a CA called name, writing its files under a directory of tb's.
func NewPKI(tb testing.TB, name string) *PKI {
	tb.Helper()
	key := newKey(tb)
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatalf("make CA %s: %v", name, err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	p := &PKI{CA: ca, Pool: x509.NewCertPool(), dir: tb.TempDir(), caKey: key}
	p.Pool.AddCert(ca)
	p.CAFile = p.write(tb, safeName(name)+"-ca", "CERTIFICATE", der)
	return p
}

// Issue makes a certificate signed by the CA and writes it and its key to new files whose names
// start with opts.CommonName.
func (p *PKI) Issue(tb testing.TB, opts CertOptions) *Cert {
	tb.Helper()
	key := newKey(tb)
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: opts.CommonName},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if opts.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if opts.Expired {
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	}
	for _, h := range opts.Hosts {
		if ip, err := netip.ParseAddr(h); err == nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	for _, s := range opts.URIs {
		u, err := url.Parse(s)
		if err != nil {
			tb.Fatalf("URI SAN %q: %v", s, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, key.Public(), p.caKey)
	if err != nil {
		tb.Fatalf("issue %s: %v", opts.CommonName, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	base := safeName(opts.CommonName)
	return &Cert{
		TLS:      tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		CertFile: p.write(tb, base, "CERTIFICATE", der),
		KeyFile:  p.write(tb, base+"-key", "PRIVATE KEY", pkcs8),
	}
}

// ClientConfig returns a TLS client configuration for the server name localhost that trusts
// the CA and presents cert, if any, whatever CAs the server asks for: with Certificates instead,
// crypto/tls would send nothing rather than a certificate of a CA the server does not name, and
// tests could not show that the server refuses it.
func (p *PKI) ClientConfig(cert *Cert) *tls.Config {
	cfg := &tls.Config{RootCAs: p.Pool, ServerName: "localhost"}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert.TLS, nil
		}
	}
	return cfg
}

// write writes der as PEM to a new file whose name starts with prefix, so that certificates
// with the same name do not overwrite each other.
func (p *PKI) write(tb testing.TB, prefix, blockType string, der []byte) string {
	tb.Helper()
	f, err := os.CreateTemp(p.dir, prefix+"-*.pem")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pem.Encode(f, &pem.Block{Type: blockType, Bytes: der}); err != nil {
		tb.Fatal(err)
	}
	return f.Name()
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// safeName turns a common name into a file name.
func safeName(name string) string {
	if name == "" {
		return "unnamed"
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == ':' || r == '*' {
			return '_'
		}
		return r
	}, name)
}

// Install copies the certificate and key files to certFile and keyFile and gives both the
// modification time mtime, so that a watcher polling the files sees the change even within the
// file system's clock resolution.
func (c *Cert) Install(tb testing.TB, certFile, keyFile string, mtime time.Time) {
	tb.Helper()
	for _, f := range []struct{ from, to string }{{c.CertFile, certFile}, {c.KeyFile, keyFile}} {
		data, err := os.ReadFile(f.from)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(f.to, data, 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chtimes(f.to, mtime, mtime); err != nil {
			tb.Fatal(err)
		}
	}
}
