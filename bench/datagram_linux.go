package bench

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of sendmmsg(2), which golang.org/x/sys/unix does not declare.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// datagramWriter sends batches of datagrams on a connected UDP socket with sendmmsg(2): one
// system call per batch instead of one per datagram. On this machine's virtual CPUs a system
// call costs microseconds, and a UDP load sent a datagram at a time took more CPU than the
// receiver it measured.
type datagramWriter struct {
	raw  syscall.RawConn
	iovs []unix.Iovec
	hdrs []mmsghdr
}

func newDatagramWriter(c *net.UDPConn) (*datagramWriter, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("bench: UDP socket: %w", err)
	}
	return &datagramWriter{raw: raw}, nil
}

// write sends each of msgs as a datagram and returns how many were sent. A datagram the kernel
// refuses because an earlier one drew an ICMP port unreachable counts as sent: it is lost, as
// UDP loses it.
func (w *datagramWriter) write(msgs [][]byte) (int, error) {
	w.iovs, w.hdrs = w.iovs[:0], w.hdrs[:0]
	for _, m := range msgs {
		w.iovs = append(w.iovs, unix.Iovec{Base: unsafe.SliceData(m)})
		w.iovs[len(w.iovs)-1].SetLen(len(m))
	}
	for i := range w.iovs {
		h := mmsghdr{}
		h.hdr.Iov = &w.iovs[i]
		h.hdr.SetIovlen(1)
		w.hdrs = append(w.hdrs, h)
	}
	sent := 0
	var sendErr error
	err := w.raw.Write(func(fd uintptr) bool {
		for sent < len(w.hdrs) {
			n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdrs[sent])),
				uintptr(len(w.hdrs)-sent), 0, 0, 0)
			switch {
			case errno == unix.EAGAIN:
				return false // wait until the socket can take more
			case errno == unix.EINTR:
			case errors.Is(errno, unix.ECONNREFUSED):
				sent++
			case errno != 0:
				sendErr = errno
				return true
			default:
				sent += int(n)
			}
		}
		return true
	})
	if err == nil {
		err = sendErr
	}
	return sent, err
}
