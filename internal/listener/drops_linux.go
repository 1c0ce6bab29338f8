package listener

import (
	"net"
	"syscall"

	"github.com/prometheus/procfs"
)

// socketInode returns the inode number that identifies c's socket in /proc/net/udp.
func socketInode(c *net.UDPConn) (uint64, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var st syscall.Stat_t
	var statErr error
	if err := raw.Control(func(fd uintptr) { statErr = syscall.Fstat(int(fd), &st) }); err != nil || statErr != nil {
		return 0, false
	}
	return st.Ino, true
}

// kernelDrops returns how many datagrams the kernel dropped for the sockets of inodes since they
// were opened, from its per-socket counters in /proc/net/udp and /proc/net/udp6; false when they
// cannot be read.
func kernelDrops(inodes map[uint64]bool) (uint64, bool) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return 0, false
	}
	var drops uint64
	read := false
	for _, lines := range []func() (procfs.NetUDP, error){fs.NetUDP, fs.NetUDP6} {
		sockets, err := lines()
		if err != nil {
			continue // no IPv6, say
		}
		read = true
		for _, s := range sockets {
			if inodes[s.Inode] && s.Drops != nil {
				drops += *s.Drops
			}
		}
	}
	return drops, read
}
