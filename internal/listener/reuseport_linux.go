package listener

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSupported reports that several UDP sockets can share a port, the kernel spreading
// senders over them by their address (SO_REUSEPORT, Linux 3.9).
const reusePortSupported = true

// reusePort is a net.ListenConfig.Control that sets SO_REUSEPORT. Linux lets a socket join the
// port if every socket bound to it set the option and belongs to the same user: a second relay
// of that user would join in silence, so listenUDP probes the port without the option first.
func reusePort(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}
