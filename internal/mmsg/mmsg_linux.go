package mmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// header is struct mmsghdr of recvmmsg(2) and sendmmsg(2), which golang.org/x/sys/unix does not
// declare; Go pads it to the alignment of unix.Msghdr, as C does.
type header struct {
	msg unix.Msghdr
	len uint32
}

// Reader reads datagrams from a UDP socket a batch at a time, into buffers it reuses.
type Reader struct {
	raw   syscall.RawConn
	hdrs  []header
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // room for either family's address
	bufs  [][]byte
	recv  func(fd uintptr) bool // r.receive, bound once so that reads do not allocate
	n     int
	errno syscall.Errno
}

// NewReader returns a Reader of c that reads up to batch datagrams per call, each of up to
// size bytes.
func NewReader(c *net.UDPConn, batch, size int) (*Reader, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("mmsg: UDP socket: %w", err)
	}
	r := &Reader{
		raw:   raw,
		hdrs:  make([]header, batch),
		iovs:  make([]unix.Iovec, batch),
		names: make([]unix.RawSockaddrInet6, batch),
		bufs:  make([][]byte, batch),
	}
	for i := range r.hdrs {
		r.bufs[i] = make([]byte, size)
		r.iovs[i].Base = unsafe.SliceData(r.bufs[i])
		r.iovs[i].SetLen(size)
		h := &r.hdrs[i].msg
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	r.recv = r.receive
	return r, nil
}

// Read waits until the socket has datagrams and reads as many as it holds, up to the batch
// size; Datagram returns each until the next Read. It returns an error wrapping net.ErrClosed
// once the socket is closed, and os.ErrDeadlineExceeded once its read deadline has passed.
func (r *Reader) Read() (int, error) {
	for i := range r.hdrs {
		r.hdrs[i].msg.Namelen = unix.SizeofSockaddrInet6
	}
	r.n, r.errno = 0, 0
	if err := r.raw.Read(r.recv); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", r.errno)
	}
	return r.n, nil
}

// receive is the raw read: it reports false to wait for the socket to become readable.
func (r *Reader) receive(fd uintptr) bool {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])),
			uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			r.n = int(n)
			return true
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			r.errno = errno
			return true
		}
	}
}

// Datagram returns the payload and the sender of datagram i of the last Read. The payload is
// valid until the next Read.
func (r *Reader) Datagram(i int) ([]byte, netip.AddrPort) {
	h := &r.hdrs[i]
	return r.bufs[i][:h.len], sender(&r.names[i], h.msg.Namelen)
}

// sender decodes the address recvmmsg wrote, which holds the port in network byte order.
func sender(sa *unix.RawSockaddrInet6, size uint32) netip.AddrPort {
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	switch {
	case sa.Family == unix.AF_INET6 && size >= unix.SizeofSockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
	case sa.Family == unix.AF_INET && size >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	}
	return netip.AddrPort{}
}

// Writer sends batches of datagrams on a connected UDP socket.
//
// A run of datagrams of one size goes to the kernel as one message with UDP_SEGMENT
// (generic segmentation offload, Linux 4.18): the kernel splits it into the same datagrams,
// which the receiver reads one by one as before, but routes, queues and hands on to the
// loopback device once per run instead of once per datagram. On loopback that was most of the
// load generator's CPU, which shares the machine with the relay it measures.
type Writer struct {
	raw   syscall.RawConn
	iovs  []unix.Iovec
	hdrs  []header
	cmsgs []byte // one UDP_SEGMENT control message per header, at cmsgSpace strides
	runs  []int  // datagrams in each header
	gso   bool   // the socket takes UDP_SEGMENT; cleared when the kernel refuses it
}

// Bounds of one UDP_SEGMENT message: the kernel's UDP_MAX_SEGMENTS, and the largest UDP payload
// over IPv4.
const (
	maxSegments    = 64
	maxSegmentsLen = 65_507
)

// cmsgSpace is the room of one UDP_SEGMENT control message, whose data is a uint16.
var cmsgSpace = unix.CmsgSpace(2)

// NewWriter returns a Writer of c, which must be connected.
func NewWriter(c *net.UDPConn) (*Writer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("mmsg: UDP socket: %w", err)
	}
	return &Writer{raw: raw, gso: true}, nil
}

// Write sends each of msgs as a datagram and returns how many were sent. A datagram the kernel
// refuses because an earlier one drew an ICMP port unreachable counts as sent: it is lost, as
// UDP loses it.
func (w *Writer) Write(msgs [][]byte) (int, error) {
	sent := 0
	for sent < len(msgs) {
		n, err := w.write(msgs[sent:])
		sent += n
		if err == nil {
			return sent, nil
		}
		if !w.gso || !(errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOPROTOOPT)) {
			return sent, err
		}
		w.gso = false // segmentation is not to be had here: send the rest a datagram each
	}
	return sent, nil
}

// write sends msgs in as few messages as the runs of one size allow and returns the datagrams
// sent.
func (w *Writer) write(msgs [][]byte) (int, error) {
	w.iovs, w.runs = w.iovs[:0], w.runs[:0]
	for i := 0; i < len(msgs); {
		run, size := 1, len(msgs[i])
		if w.gso && size > 0 {
			for i+run < len(msgs) && run < maxSegments && len(msgs[i+run]) == size && (run+1)*size <= maxSegmentsLen {
				run++
			}
		}
		for _, m := range msgs[i : i+run] {
			w.iovs = append(w.iovs, unix.Iovec{Base: unsafe.SliceData(m)})
			w.iovs[len(w.iovs)-1].SetLen(len(m))
		}
		w.runs = append(w.runs, run)
		i += run
	}
	if need := len(w.runs) * cmsgSpace; len(w.cmsgs) < need {
		w.cmsgs = make([]byte, need)
	}
	w.hdrs = w.hdrs[:0]
	iov := 0
	for i, run := range w.runs {
		h := header{}
		h.msg.Iov = &w.iovs[iov]
		h.msg.SetIovlen(run)
		if run > 1 {
			cmsg := w.cmsgs[i*cmsgSpace : (i+1)*cmsgSpace]
			c := (*unix.Cmsghdr)(unsafe.Pointer(&cmsg[0]))
			c.Level, c.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			c.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(cmsg[unix.CmsgLen(0):], uint16(w.iovs[iov].Len))
			h.msg.Control = &cmsg[0]
			h.msg.SetControllen(cmsgSpace)
		}
		w.hdrs = append(w.hdrs, h)
		iov += run
	}
	sentHdrs, sent := 0, 0
	var sendErr error
	err := w.raw.Write(func(fd uintptr) bool {
		for sentHdrs < len(w.hdrs) {
			n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdrs[sentHdrs])),
				uintptr(len(w.hdrs)-sentHdrs), 0, 0, 0)
			switch {
			case errno == unix.EAGAIN:
				return false // wait until the socket can take more
			case errno == unix.EINTR:
			case errors.Is(errno, unix.ECONNREFUSED):
				sent += w.runs[sentHdrs]
				sentHdrs++
			case errno != 0:
				sendErr = os.NewSyscallError("sendmmsg", errno)
				return true
			default:
				for _, run := range w.runs[sentHdrs : sentHdrs+int(n)] {
					sent += run
				}
				sentHdrs += int(n)
			}
		}
		return true
	})
	if err == nil {
		err = sendErr
	}
	return sent, err
}
