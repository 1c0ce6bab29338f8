package listener

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"net/netip"

	"github.com/pires/go-proxyproto"
)

// proxyHeaderBufferBytes holds a whole PROXY v1 line (at most 107 bytes, section 2.1 of the
// PROXY protocol specification), which go-proxyproto needs buffered at once; v2 headers are
// read through it in pieces. It stays small because it lives as long as the connection.
const proxyHeaderBufferBytes = 256

// Reasons to refuse a PROXY header that go-proxyproto's Read accepts.
var (
	errProxyNoAddress = errors.New("listener: PROXY header carries no TCP source address")
	errProxyTLV       = errors.New("listener: PROXY v2 header has malformed TLVs")
	errProxyCRC       = errors.New("listener: PROXY v2 header fails its CRC32C check")
)

// castagnoli is the CRC32C table of the PP2_TYPE_CRC32C TLV (section 2.2.5 of the PROXY protocol
// specification; RFC 4960 appendix B).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Lengths in a PROXY v2 header (section 2.2 of the specification).
const (
	proxyV2FixedBytes = 16 // signature, version and command, family, length
	proxyV2TCP4Bytes  = 12 // source and destination addresses and ports
	proxyV2TCP6Bytes  = 36
	crc32cBytes       = 4 // the value of a PP2_TYPE_CRC32C TLV
)

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
	if err := checkTLVs(hdr); err != nil {
		l.refuse(reasonProxyHeader, peer, port, err)
		return nil, netip.Addr{}, false
	}
	return &bufferedConn{Conn: conn, r: br}, src.AddrPort().Addr().Unmap(), true
}

// checkTLVs checks what go-proxyproto's Read leaves unchecked in a v2 header: that its TLVs fill
// the header exactly, none running past its end, and that a CRC32C TLV holds the checksum of
// the whole header computed with that TLV's value zeroed (section 2.2.5: "If it is not, the
// receiver MUST treat the TCP connection providing the header as invalid"). An AWS NLB sends
// both kinds. A v1 header has no TLVs. hdr must carry TCP addresses.
func checkTLVs(hdr *proxyproto.Header) error {
	if hdr.Version != 2 {
		return nil
	}
	if _, err := hdr.TLVs(); err != nil {
		return fmt.Errorf("%w: %w", errProxyTLV, err)
	}
	// A TCP header formats back to the bytes it was read from: the signature, 4 bytes of version,
	// command, family and length, fixed-size addresses, then the TLVs as received.
	raw, err := hdr.Format()
	if err != nil {
		return fmt.Errorf("%w: %w", errProxyTLV, err)
	}
	at := proxyV2FixedBytes + proxyV2TCP4Bytes
	if hdr.TransportProtocol.IsIPv6() {
		at = proxyV2FixedBytes + proxyV2TCP6Bytes
	}
	for at+3 <= len(raw) {
		typ, n := proxyproto.PP2Type(raw[at]), int(binary.BigEndian.Uint16(raw[at+1:]))
		value := raw[at+3 : at+3+n] // TLVs above checked that it lies within raw
		at += 3 + n
		if typ != proxyproto.PP2_TYPE_CRC32C {
			continue
		}
		if n != crc32cBytes {
			return fmt.Errorf("%w: a CRC32C TLV of %d bytes, want %d", errProxyTLV, n, crc32cBytes)
		}
		sent := binary.BigEndian.Uint32(value)
		clear(value) // raw is a copy of the header: zeroing the field costs no other copy
		if sum := crc32.Checksum(raw, castagnoli); sum != sent {
			return fmt.Errorf("%w: checksum %#08x, header sums to %#08x", errProxyCRC, sent, sum)
		}
		return nil
	}
	return nil
}

// bufferedConn is a connection whose first bytes after the PROXY header may already be in r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
