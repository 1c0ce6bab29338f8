//go:build unix

package dirlock_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/dirlock"
)

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	f, err := dirlock.Lock(path, 0o600)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if g, err := dirlock.Lock(path, 0o600); !errors.Is(err, dirlock.ErrLocked) {
		t.Errorf("second Lock = %v, want %v", err, dirlock.ErrLocked)
		if err == nil {
			g.Close()
		}
	}
	f.Close()
	g, err := dirlock.Lock(path, 0o600)
	if err != nil {
		t.Fatalf("Lock after the first was released: %v", err)
	}
	g.Close()
}
