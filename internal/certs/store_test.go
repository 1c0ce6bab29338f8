package certs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/certs"
	"github.com/kinesyslog/kinesyslog/internal/e2e"
)

func TestStoreReload(t *testing.T) {
	pki := e2e.NewPKI(t, "test CA")
	first := pki.Issue(t, e2e.CertOptions{CommonName: "first", Hosts: []string{"localhost"}})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	mtime := time.Now().Add(-time.Hour)
	first.Install(t, certFile, keyFile, mtime)

	s, err := certs.Open(certFile, keyFile)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got, _ := s.GetCertificate(nil); got.Leaf.Subject.CommonName != "first" {
		t.Fatalf("GetCertificate: CN %q, want first", got.Leaf.Subject.CommonName)
	}
	if s.Changed() {
		t.Fatal("Changed() = true right after Open")
	}

	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := pki.Issue(t, e2e.CertOptions{CommonName: "second", Hosts: []string{"localhost"}})
	other := pki.Issue(t, e2e.CertOptions{CommonName: "other"})
	expired := pki.Issue(t, e2e.CertOptions{CommonName: "expired", Expired: true})
	steps := []struct {
		name    string
		replace func(mtime time.Time)
		wantErr error // nil: any error; checked with errors.Is when set
		wantCN  string
		fails   bool
	}{
		{name: "garbage certificate", fails: true, wantCN: "first", replace: func(m time.Time) {
			(&e2e.Cert{CertFile: garbage, KeyFile: first.KeyFile}).Install(t, certFile, keyFile, m)
		}},
		{name: "key of another certificate", fails: true, wantCN: "first", replace: func(m time.Time) {
			(&e2e.Cert{CertFile: second.CertFile, KeyFile: other.KeyFile}).Install(t, certFile, keyFile, m)
		}},
		{name: "expired", fails: true, wantErr: certs.ErrExpired, wantCN: "first", replace: func(m time.Time) {
			expired.Install(t, certFile, keyFile, m)
		}},
		{name: "key file removed", fails: true, wantErr: fs.ErrNotExist, wantCN: "first", replace: func(time.Time) {
			if err := os.Remove(keyFile); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "valid new certificate", wantCN: "second", replace: func(m time.Time) {
			second.Install(t, certFile, keyFile, m)
		}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			mtime = mtime.Add(time.Minute)
			step.replace(mtime)
			if !s.Changed() {
				t.Error("Changed() = false after the files changed")
			}
			leaf, err := s.Reload()
			switch {
			case step.fails && err == nil:
				t.Errorf("Reload() = %v, nil; want an error", leaf.Subject.CommonName)
			case step.fails && step.wantErr != nil && !errors.Is(err, step.wantErr):
				t.Errorf("Reload() error %v, want %v", err, step.wantErr)
			case !step.fails && err != nil:
				t.Errorf("Reload(): %v", err)
			case !step.fails && leaf.Subject.CommonName != step.wantCN:
				t.Errorf("Reload() = %q, want %q", leaf.Subject.CommonName, step.wantCN)
			}
			if got := s.Leaf().Subject.CommonName; got != step.wantCN {
				t.Errorf("certificate in use %q, want %q", got, step.wantCN)
			}
			if s.Changed() {
				t.Error("Changed() = true after a reload of unchanged files")
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	pki := e2e.NewPKI(t, "test CA")
	good := pki.Issue(t, e2e.CertOptions{CommonName: "good"})
	expired := pki.Issue(t, e2e.CertOptions{CommonName: "expired", Expired: true})
	tests := []struct {
		name              string
		certFile, keyFile string
		want              error
	}{
		{"missing certificate", filepath.Join(t.TempDir(), "none"), good.KeyFile, fs.ErrNotExist},
		{"expired", expired.CertFile, expired.KeyFile, certs.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := certs.Open(tt.certFile, tt.keyFile); !errors.Is(err, tt.want) {
				t.Errorf("Open(%s, %s) error %v, want %v", tt.certFile, tt.keyFile, err, tt.want)
			}
		})
	}
}

func TestSelfSigned(t *testing.T) {
	now := time.Now()
	s, err := certs.SelfSigned([]string{"localhost", "relay.example", "127.0.0.1", "::1"}, now)
	if err != nil {
		t.Fatalf("SelfSigned: %v", err)
	}
	leaf := s.Leaf()
	if key, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || key.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if !s.SelfSigned() || s.Changed() {
		t.Errorf("SelfSigned() = %v, Changed() = %v; want true, false", s.SelfSigned(), s.Changed())
	}
	if again, err := s.Reload(); err != nil || again != leaf {
		t.Errorf("Reload() = %v, %v; want the same certificate", again, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	for _, host := range []string{"localhost", "relay.example", "127.0.0.1", "::1"} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: pool}); err == nil {
		t.Error("certificate verifies for a host it does not name")
	}
	// X.509 times have a resolution of one second.
	if want := now.Add(certs.SelfSignedLifetime).Truncate(time.Second); !leaf.NotAfter.Equal(want) {
		t.Errorf("valid until %v, want %v", leaf.NotAfter, want)
	}
	cert, _ := s.GetCertificate(nil)
	if key, ok := cert.PrivateKey.(*ecdsa.PrivateKey); !ok || !key.PublicKey.Equal(leaf.PublicKey) {
		t.Error("GetCertificate: private key does not match the certificate")
	}
}

func TestFingerprint(t *testing.T) {
	s, err := certs.SelfSigned([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fp := certs.Fingerprint(s.Leaf())
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("Fingerprint() = %q, want 32 colon-separated upper-case hex bytes", fp)
	}
	sum := sha256.Sum256(s.Leaf().Raw)
	if want := strings.ToUpper(hex.EncodeToString(sum[:])); strings.ReplaceAll(fp, ":", "") != want {
		t.Errorf("Fingerprint() = %q, want the SHA-256 of the DER certificate, %s", fp, want)
	}
	other, err := certs.SelfSigned([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if certs.Fingerprint(other.Leaf()) == fp {
		t.Error("two certificates have the same fingerprint")
	}
}
