package listener

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/pires/go-proxyproto"
)

// proxyHeaderBufferBytes holds a whole PROXY v1 line (at most 107 bytes, section 2.1 of the
// PROXY protocol specification), which go-proxyproto needs buffered at once; v2 headers are
// read through it in pieces. It stays small because it lives as long as the connection.
const proxyHeaderBufferBytes = 256

var errProxyNoAddress = errors.New("listener: PROXY header carries no TCP source address")

// readProxyHeader reads the PROXY protocol v1 or v2 header that must open conn, within the
// header timeout, and returns the connection to read the rest from and the client address the
// header gives. It returns false when the connection is done with: refused for a missing or
// invalid header; or closed quietly for a header without addresses, which load balancers send
// for health checks (v2 LOCAL; go-proxyproto reads a v1 UNKNOWN line as LOCAL too), or when the
// client closed without sending anything.
//
// The header is read with go-proxyproto's Read rather than its Listener or Conn: they would read
// it on first use, set and then clear the read deadline themselves (undoing the drain deadline
// at shutdown), and hide whether the client sent anything at all.
func (l *Listener) readProxyHeader(conn net.Conn, port uint16) (net.Conn, netip.Addr, bool) {
	peer := addrOf(conn.RemoteAddr())
	l.setReadDeadline(conn, l.opts.ProxyHeaderTimeout)
	br := bufio.NewReaderSize(conn, proxyHeaderBufferBytes)
	if _, err := br.Peek(1); err != nil {
		if closedQuietly(err) {
			l.log.Debug("connection closed before the PROXY header", "source", peer, "port", port)
		} else {
			l.refuse(reasonProxyHeader, peer, port, fmt.Errorf("read PROXY header: %w", err))
		}
		return nil, netip.Addr{}, false
	}
	hdr, err := proxyproto.Read(br)
	if err != nil {
		l.refuse(reasonProxyHeader, peer, port, err)
		return nil, netip.Addr{}, false
	}
	if hdr.Command.IsLocal() {
		l.log.Debug("PROXY LOCAL connection (health check) closed", "source", peer, "port", port)
		return nil, netip.Addr{}, false
	}
	src, _, ok := hdr.TCPAddrs()
	if !ok {
		l.refuse(reasonProxyHeader, peer, port, fmt.Errorf("%w: %v", errProxyNoAddress, hdr.SourceAddr))
		return nil, netip.Addr{}, false
	}
	return &bufferedConn{Conn: conn, r: br}, src.AddrPort().Addr().Unmap(), true
}

// bufferedConn is a connection whose first bytes after the PROXY header may already be in r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
