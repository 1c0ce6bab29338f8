//go:build !linux

package mmsg

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// Reader reads datagrams from a UDP socket one system call each where recvmmsg(2) does not
// exist.
type Reader struct {
	c    *net.UDPConn
	buf  []byte
	n    int
	from netip.AddrPort
}

// NewReader returns a Reader of c that reads datagrams of up to size bytes; batch is ignored.
func NewReader(c *net.UDPConn, batch, size int) (*Reader, error) {
	return &Reader{c: c, buf: make([]byte, size)}, nil
}

// Read waits for a datagram and reads it; Datagram(0) returns it until the next Read.
func (r *Reader) Read() (int, error) {
	var err error
	r.n, r.from, err = r.c.ReadFromUDPAddrPort(r.buf)
	if err != nil {
		return 0, err
	}
	return 1, nil
}

// Datagram returns the payload and the sender of the datagram of the last Read.
func (r *Reader) Datagram(int) ([]byte, netip.AddrPort) { return r.buf[:r.n], r.from }

// Writer sends datagrams one system call each where sendmmsg(2) does not exist.
type Writer struct{ c *net.UDPConn }

// NewWriter returns a Writer of c, which must be connected.
func NewWriter(c *net.UDPConn) (*Writer, error) { return &Writer{c: c}, nil }

// Write sends each of msgs as a datagram and returns how many were sent. A datagram refused
// because an earlier one drew an ICMP port unreachable counts as sent: it is lost, as UDP loses
// it.
func (w *Writer) Write(msgs [][]byte) (int, error) {
	for i, m := range msgs {
		if _, err := w.c.Write(m); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return i, err
		}
	}
	return len(msgs), nil
}
