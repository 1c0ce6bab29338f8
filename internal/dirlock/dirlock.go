// Package dirlock keeps two processes from using one directory at once: the spool, the intake
// log and a local output directory each hold a lock file in their directory for as long as they
// are open.
package dirlock

import "errors"

// ErrLocked is returned by Lock when another open file description holds the lock: another
// relay, or another stage of this one, uses the directory.
var ErrLocked = errors.New("dirlock: locked by another process")
