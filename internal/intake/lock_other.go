//go:build !unix

package intake

import "os"

// lockDir opens the lock file without locking it: flock is a Unix call, and kinesyslog runs as a
// service on Unix. On other systems the operator must not share an intake directory.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, filePerm)
}
