//go:build unix

package s3dir_test

import (
	"errors"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/s3dir"
)

func TestOpenRefusesDirectoryInUse(t *testing.T) {
	dir := t.TempDir()
	s := open(t, s3dir.Options{Dir: dir})
	if other, err := s3dir.Open(s3dir.Options{Dir: dir}); !errors.Is(err, s3dir.ErrLocked) {
		t.Errorf("second Open = %v, want %v", err, s3dir.ErrLocked)
		if err == nil {
			closeDest(t, other)
		}
	}
	closeDest(t, s)
	closeDest(t, open(t, s3dir.Options{Dir: dir}))
}
