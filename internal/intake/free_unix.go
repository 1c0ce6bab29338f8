//go:build unix

package intake

import (
	"os"
	"syscall"
)

// freeBytes returns the bytes of f's file system that an unprivileged writer may still use.
func freeBytes(f *os.File) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
