package certs

import (
	"crypto/x509"
	"fmt"
	"os"
	"path"
)

// LoadPool reads a PEM bundle of CA certificates, the --client-ca file.
func LoadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("certs: read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("certs: CA bundle %s: %w", file, ErrNoCertificate)
	}
	return pool, nil
}

// Identities returns the names cert is known by: its subject common name, then its DNS names,
// then its URIs, leaving out what is empty.
func Identities(cert *x509.Certificate) []string {
	ids := make([]string, 0, 1+len(cert.DNSNames)+len(cert.URIs))
	if cert.Subject.CommonName != "" {
		ids = append(ids, cert.Subject.CommonName)
	}
	ids = append(ids, cert.DNSNames...)
	for _, u := range cert.URIs {
		ids = append(ids, u.String())
	}
	return ids
}

// Match reports whether one of the identities of cert matches one of patterns, in path.Match
// syntax: "*" matches any run of characters but "/", so "*.example.com" matches
// "a.example.com" and "spiffe://example.org/*" matches "spiffe://example.org/web" but not
// "spiffe://example.org/ns/web". A malformed pattern matches nothing.
func Match(cert *x509.Certificate, patterns []string) bool {
	for _, id := range Identities(cert) {
		for _, p := range patterns {
			if ok, _ := path.Match(p, id); ok {
				return true
			}
		}
	}
	return false
}
