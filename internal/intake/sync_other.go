//go:build !linux

package intake

import "os"

// datasync flushes f to stable storage; fdatasync(2) is Linux's, elsewhere it is fsync.
func datasync(f *os.File) error { return f.Sync() }

// directFlag is 0: direct I/O is used on Linux only, elsewhere the page cache.
const directFlag = 0
