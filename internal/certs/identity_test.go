package certs_test

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/certs"
	"github.com/kinesyslog/kinesyslog/internal/e2e"
)

func TestMatch(t *testing.T) {
	pki := e2e.NewPKI(t, "test CA")
	web := pki.Issue(t, e2e.CertOptions{
		CommonName: "web-1",
		Hosts:      []string{"web-1.prod.example.com", "10.0.0.1"},
		URIs:       []string{"spiffe://example.org/web"},
		Client:     true,
	}).TLS.Leaf
	noCN := pki.Issue(t, e2e.CertOptions{Hosts: []string{"db.example.com"}, Client: true}).TLS.Leaf

	if got, want := certs.Identities(noCN), []string{"db.example.com"}; !cmp.Equal(got, want) {
		t.Errorf("Identities(noCN) = %q, want %q", got, want)
	}
	if got, want := certs.Identities(web), []string{"web-1", "web-1.prod.example.com", "spiffe://example.org/web"}; !cmp.Equal(got, want) {
		t.Errorf("Identities(web) = %q, want %q", got, want)
	}
	tests := []struct {
		name     string
		patterns []string
		noCN     bool
		want     bool
	}{
		{name: "subject CN", patterns: []string{"web-1"}, want: true},
		{name: "CN glob", patterns: []string{"web-?"}, want: true},
		{name: "DNS SAN glob", patterns: []string{"*.prod.example.com"}, want: true},
		{name: "URI SAN", patterns: []string{"spiffe://example.org/*"}, want: true},
		{name: "second pattern", patterns: []string{"nope", "web-*"}, want: true},
		{name: "no pattern", patterns: nil, want: false},
		{name: "other domain", patterns: []string{"*.staging.example.com"}, want: false},
		{name: "star crosses dots, as path.Match does", patterns: []string{"*.example.com"}, want: true},
		{name: "star does not cross a slash", patterns: []string{"spiffe:*"}, want: false},
		{name: "IP SANs are not identities", patterns: []string{"10.0.0.1"}, want: false},
		{name: "malformed pattern", patterns: []string{"web-["}, want: false},
		{name: "DNS SAN without CN", patterns: []string{"db.*"}, noCN: true, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := web
			if tt.noCN {
				cert = noCN
			}
			if got := certs.Match(cert, tt.patterns); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", certs.Identities(cert), tt.patterns, got, tt.want)
			}
		})
	}
}

func TestLoadPool(t *testing.T) {
	pki := e2e.NewPKI(t, "test CA")
	client := pki.Issue(t, e2e.CertOptions{CommonName: "client", Client: true})
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("no certificates here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string
		want error
	}{
		{"CA bundle", pki.CAFile, nil},
		{"no certificate", empty, certs.ErrNoCertificate},
		{"missing file", filepath.Join(t.TempDir(), "none.pem"), fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := certs.LoadPool(tt.file)
			if !errors.Is(err, tt.want) {
				t.Fatalf("LoadPool(%s) error %v, want %v", tt.file, err, tt.want)
			}
			if err != nil {
				return
			}
			if _, err := client.TLS.Leaf.Verify(x509.VerifyOptions{
				Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("client certificate does not verify against the pool: %v", err)
			}
		})
	}
}
