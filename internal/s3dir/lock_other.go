//go:build !unix

package s3dir

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates the lock file without locking it: this system has no flock(2), so two sinks on
// one directory are not detected.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, fmt.Errorf("s3dir: lock %s: %w", dir, err)
	}
	return f, nil
}
