//go:build !linux

package listener

import "syscall"

// reusePortSupported reports whether several UDP sockets can share a port with the kernel
// spreading senders over them; elsewhere than on Linux, SO_REUSEPORT does not balance datagrams,
// so every reader of a port shares one socket.
const reusePortSupported = false

// reusePort is never called where reusePortSupported is false.
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
