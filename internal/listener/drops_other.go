//go:build !linux

package listener

import "net"

// socketInode is not known where there is no /proc/net/udp.
func socketInode(*net.UDPConn) (uint64, bool) { return 0, false }

// kernelDrops is not known where there is no /proc/net/udp.
func kernelDrops(map[uint64]bool) (uint64, bool) { return 0, false }
