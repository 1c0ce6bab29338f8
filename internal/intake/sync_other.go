//go:build !linux

package intake

import "os"

// datasync flushes f to stable storage; fdatasync(2) is Linux's, elsewhere it is fsync.
func datasync(f *os.File) error { return f.Sync() }
