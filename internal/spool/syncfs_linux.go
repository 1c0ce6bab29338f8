package spool

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS makes every file written in the file system of dir durable with one syncfs(2): one
// journal commit and one cache flush for a whole group of records, where an fsync per file costs
// one of each per file. It also writes back what other programs left dirty in that file system,
// which is why the spool belongs on a file system of its own on busy hosts; since Linux 5.8 it
// reports the file system's write-back errors, ours among them.
func syncFS(dir *os.File) error {
	var err error
	raw, cerr := dir.SyscallConn()
	if cerr != nil {
		return cerr
	}
	if cerr := raw.Control(func(fd uintptr) { err = unix.Syncfs(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}
