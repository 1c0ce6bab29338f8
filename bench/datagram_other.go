//go:build !linux

package bench

import "net"

// datagramWriter sends datagrams one system call each where sendmmsg(2) does not exist.
type datagramWriter struct{ c *net.UDPConn }

func newDatagramWriter(c *net.UDPConn) (*datagramWriter, error) { return &datagramWriter{c: c}, nil }

// write sends each of msgs as a datagram and returns how many were sent. A datagram refused
// because an earlier one drew an ICMP port unreachable counts as sent: it is lost, as UDP loses
// it.
func (w *datagramWriter) write(msgs [][]byte) (int, error) {
	for i, m := range msgs {
		if _, err := w.c.Write(m); err != nil && !isRefused(err) {
			return i, err
		}
	}
	return len(msgs), nil
}
