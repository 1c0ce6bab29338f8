package firehosetest

import (
	"net"
	"sync"
	"time"
)

// linkChunk is the most one read takes from the link at a time, so that connections sharing it
// take turns at a fine grain, as packets of different connections do on a real link.
const linkChunk = 16 << 10

// A link is an uplink shared by every connection to the server: what clients send reaches the
// server at rate bytes per second in all. Bytes a client sent that the link has not carried yet
// wait in the sockets' buffers, as they wait in a router's queue: a client that gives up on a call
// after it wrote the whole request may still have it carried out.
type link struct {
	rate float64 // bytes per second
	done <-chan struct{}

	mu   sync.Mutex
	next time.Time // when the link has carried every byte read so far
}

// carry waits until the link has carried n more bytes, or the server closes.
func (l *link) carry(n int) {
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		// An idle link saves up no capacity.
		l.next = now
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	wait := l.next.Sub(now)
	l.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.done:
	}
}

// linkListener accepts connections whose reads go through a link.
type linkListener struct {
	net.Listener
	link *link
}

func (ln linkListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return linkConn{c, ln.link}, nil
}

// linkConn is a connection whose reads go through a link.
type linkConn struct {
	net.Conn
	link *link
}

func (c linkConn) Read(p []byte) (int, error) {
	if len(p) > linkChunk {
		p = p[:linkChunk]
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.link.carry(n)
	}
	return n, err
}
