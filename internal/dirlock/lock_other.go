//go:build !unix

package dirlock

import "os"

// Lock opens the lock file at path without locking it: flock is a Unix call, and kinesyslog runs
// as a service on Unix. On other systems the operator must not share a directory.
func Lock(path string, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, perm)
}
