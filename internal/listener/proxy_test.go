package listener

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/e2e"
	"github.com/kinesyslog/kinesyslog/internal/ratelog"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// header returns the PROXY header of version for a TCP connection from src to dst.
func header(t testing.TB, version byte, src, dst string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	var b bytes.Buffer
	if _, err := h.WriteTo(&b); err != nil {
		t.Fatalf("write PROXY header: %v", err)
	}
	return b.Bytes()
}

// localHeader returns a v2 LOCAL header, as load balancers send for health checks.
func localHeader(t testing.TB) []byte {
	t.Helper()
	h := &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
	var b bytes.Buffer
	if _, err := h.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withTLV returns a v2 header from src to dst carrying a TLV of n bytes, longer than the
// listener's header buffer.
func withTLV(t testing.TB, src, dst string, n int) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	if err := h.SetTLVs([]proxyproto.TLV{{Type: proxyproto.PP2_TYPE_MIN_CUSTOM, Value: bytes.Repeat([]byte{'x'}, n)}}); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := h.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawV2 builds by hand a PROXY v2 header of a TCP4 connection from 198.51.100.7:40000 to
// 192.0.2.1:514 followed by tlvs, the raw TLV bytes. With crc at offset n >= 0 of tlvs (the start
// of a CRC32C value), it fills in the checksum of the whole header there, as section 2.2.5 of
// the specification has senders do.
func rawV2(tlvs []byte, crc int) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11")
	b = binary.BigEndian.AppendUint16(b, uint16(12+len(tlvs)))
	b = append(b, 198, 51, 100, 7, 192, 0, 2, 1)
	b = binary.BigEndian.AppendUint16(b, 40000)
	b = binary.BigEndian.AppendUint16(b, 514)
	start := len(b)
	b = append(b, tlvs...)
	if crc >= 0 {
		clear(b[start+crc : start+crc+4])
		binary.BigEndian.PutUint32(b[start+crc:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	}
	return b
}

// tlv returns the bytes of one TLV.
func tlv(typ proxyproto.PP2Type, value string) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{byte(typ)}, uint16(len(value))), value...)
}

// TestProxyProtocol sends PROXY headers, good and bad, to a TCP port configured for them.
func TestProxyProtocol(t *testing.T) {
	const msg = "<13>1 - host app - - - behind a proxy\n"
	v2 := header(t, 2, "198.51.100.7:40000", "192.0.2.1:514")
	// What an AWS NLB sends: its VPC endpoint TLV (type 0xEA, subtype 0x01), and a checksum.
	vpce := tlv(proxyproto.PP2_TYPE_MIN_CUSTOM+0x0a, "\x01vpce-08d2bf15fac5001c9")
	crc := tlv(proxyproto.PP2_TYPE_CRC32C, "\x00\x00\x00\x00")
	withCRC := append(bytes.Clone(vpce), crc...)
	badCRC := rawV2(withCRC, len(vpce)+3)
	badCRC[len(badCRC)-1] ^= 1
	tests := []struct {
		name        string
		writes      [][]byte // each written separately
		wantSource  string   // "" when nothing must be delivered
		wantRefused int
	}{
		{name: "v1 TCP4", writes: [][]byte{header(t, 1, "203.0.113.7:40000", "192.0.2.1:514"), []byte(msg)}, wantSource: "203.0.113.7"},
		{name: "v1 TCP6", writes: [][]byte{header(t, 1, "[2001:db8::7]:40000", "[2001:db8::1]:514"), []byte(msg)}, wantSource: "2001:db8::7"},
		{name: "v2 TCP4", writes: [][]byte{v2, []byte(msg)}, wantSource: "198.51.100.7"},
		{name: "v2 TCP6", writes: [][]byte{header(t, 2, "[2001:db8::9]:40000", "[2001:db8::1]:514"), []byte(msg)}, wantSource: "2001:db8::9"},
		{name: "v2 IPv4-mapped source", writes: [][]byte{header(t, 2, "[::ffff:198.51.100.8]:40000", "[2001:db8::1]:514"), []byte(msg)}, wantSource: "198.51.100.8"},
		{name: "header and message in one write", writes: [][]byte{append(bytes.Clone(v2), msg...)}, wantSource: "198.51.100.7"},
		{name: "header split in two writes", writes: [][]byte{v2[:7], v2[7:], []byte(msg)}, wantSource: "198.51.100.7"},
		{name: "v2 with a TLV longer than the buffer", writes: [][]byte{withTLV(t, "198.51.100.7:1", "192.0.2.1:514", 1000), []byte(msg)}, wantSource: "198.51.100.7"},
		{name: "v2 hand-built", writes: [][]byte{rawV2(nil, -1), []byte(msg)}, wantSource: "198.51.100.7"},
		{name: "v2 with TLVs of an AWS NLB", writes: [][]byte{rawV2(withCRC, len(vpce)+3), []byte(msg)}, wantSource: "198.51.100.7"},
		{name: "v2 with a CRC32C first", writes: [][]byte{rawV2(append(bytes.Clone(crc), vpce...), 3), []byte(msg)}, wantSource: "198.51.100.7"},
		{name: "v2 with a wrong CRC32C", writes: [][]byte{badCRC, []byte(msg)}, wantRefused: 1},
		{name: "v2 with a CRC32C of 3 bytes", writes: [][]byte{rawV2(tlv(proxyproto.PP2_TYPE_CRC32C, "abc"), -1), []byte(msg)}, wantRefused: 1},
		{name: "v2 with a TLV longer than the header", writes: [][]byte{rawV2(tlv(proxyproto.PP2_TYPE_MIN_CUSTOM, "abc")[:5], -1), []byte(msg)}, wantRefused: 1},
		{name: "v2 with a TLV cut in its length", writes: [][]byte{rawV2(append(bytes.Clone(vpce), 0xe0, 0), -1), []byte(msg)}, wantRefused: 1},
		{name: "v2 LOCAL is closed quietly", writes: [][]byte{localHeader(t), []byte(msg)}},
		{name: "v1 UNKNOWN is closed quietly", writes: [][]byte{[]byte("PROXY UNKNOWN\r\n"), []byte(msg)}},
		{name: "no header", writes: [][]byte{[]byte(msg)}, wantRefused: 1},
		{name: "malformed v1", writes: [][]byte{[]byte("PROXY TCP4 nonsense\r\n"), []byte(msg)}, wantRefused: 1},
		{name: "v1 without CRLF", writes: [][]byte{[]byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 514\n"), []byte(msg)}, wantRefused: 1},
		{name: "v2 UDP addresses", writes: [][]byte{udpHeader(t), []byte(msg)}, wantRefused: 1},
		{name: "closed at once", writes: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := testenv.FreePort(t)
			s := start(t, Options{TCPPorts: []int{port}, ProxyProtocolPorts: []int{port}})
			conn, err := net.Dial("tcp", s.Addrs()[0].String())
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.writes {
				if _, err := conn.Write(w); err != nil {
					t.Fatal(err)
				}
			}
			if tt.wantSource == "" {
				if tt.writes != nil {
					waitClosed(t, conn)
				}
				conn.Close()
				testenv.Eventually(t, "connection closed", func() bool {
					return s.open() == 0 && testutil.ToFloat64(s.m.connsTotal) == 1
				})
				if got := s.refused(reasonProxyHeader); got != tt.wantRefused {
					t.Errorf("refused %d, want %d", got, tt.wantRefused)
				}
				if n := s.sink.opened(); n != 0 {
					t.Errorf("%d streams opened, want none", n)
				}
				return
			}
			conn.Close()
			want := []got{{netip.MustParseAddr(tt.wantSource), uint16(port), msg[:len(msg)-1]}}
			if diff := cmp.Diff(want, s.waitMessages(t, 1), cmpGot); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

func udpHeader(t *testing.T) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(2, &net.UDPAddr{IP: net.ParseIP("198.51.100.7"), Port: 1},
		&net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 514})
	var b bytes.Buffer
	if _, err := h.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestProxyHeaderTimeout checks that a client that sends no header, or half of one, is refused
// once the header timeout passes.
func TestProxyHeaderTimeout(t *testing.T) {
	for _, send := range [][]byte{nil, []byte("PROXY TCP4 203.0.113.7"), header(t, 2, "198.51.100.7:1", "192.0.2.1:514")[:20]} {
		t.Run(fmt.Sprintf("%q", send), func(t *testing.T) {
			port := testenv.FreePort(t)
			s := start(t, Options{TCPPorts: []int{port}, ProxyProtocolPorts: []int{port}, ProxyHeaderTimeout: 50 * time.Millisecond})
			conn, err := net.Dial("tcp", s.Addrs()[0].String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write(send)
			waitClosed(t, conn)
			testenv.Eventually(t, "refusal counted", func() bool { return s.refused(reasonProxyHeader) == 1 })
		})
	}
}

// TestProxyHeaderOnPlainPort checks that a port not configured for the PROXY protocol treats a
// header as message data: the sender's address stays the socket's.
func TestProxyHeaderOnPlainPort(t *testing.T) {
	plain, proxied := testenv.FreePort(t), testenv.FreePort(t)
	s := start(t, Options{TCPPorts: []int{plain, proxied}, ProxyProtocolPorts: []int{proxied}})
	conn, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "PROXY TCP4 203.0.113.7 192.0.2.1 40000 514\r\n<13>spoofed?\n")
	conn.Close()
	want := []got{
		{loopback, uint16(plain), "PROXY TCP4 203.0.113.7 192.0.2.1 40000 514"},
		{loopback, uint16(plain), "<13>spoofed?"},
	}
	if diff := cmp.Diff(want, s.waitMessages(t, 2), cmpGot); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// TestProxyThenTLS sends the PROXY header before the TLS handshake, as HAProxy and the AWS NLB
// do, on a TLS port configured for both.
func TestProxyThenTLS(t *testing.T) {
	pki := e2e.NewPKI(t, "CA")
	server := pki.Issue(t, e2e.CertOptions{CommonName: "localhost", Hosts: []string{"localhost"}})
	client := pki.Issue(t, e2e.CertOptions{CommonName: "web-1", Client: true})
	port := testenv.FreePort(t)
	s := start(t, Options{TLSPorts: []int{port}, ProxyProtocolPorts: []int{port}, CertFile: server.CertFile,
		KeyFile: server.KeyFile, ClientCAFile: pki.CAFile, ClientAllow: []string{"web-*"}})
	raw, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Write(header(t, 2, "198.51.100.7:40000", "192.0.2.1:6514")); err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, pki.ClientConfig(client))
	const msg = "<13>1 - host app - - - proxied TLS"
	fmt.Fprintf(conn, "%d %s", len(msg), msg)
	conn.Close()
	want := []got{{netip.MustParseAddr("198.51.100.7"), uint16(port), msg}}
	if diff := cmp.Diff(want, s.waitMessages(t, 1), cmpGot); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// FuzzReadProxyHeader feeds arbitrary bytes to a PROXY port's opening step. It must not panic;
// when it accepts a connection, the sender's address must be valid and what is read after the
// header must be the input's tail, byte for byte.
func FuzzReadProxyHeader(f *testing.F) {
	f.Add(append(header(f, 1, "203.0.113.7:40000", "192.0.2.1:514"), "<13>msg\n"...))
	f.Add(append(header(f, 2, "[2001:db8::7]:40000", "[2001:db8::1]:514"), "<13>msg\n"...))
	f.Add(withTLV(f, "198.51.100.7:1", "192.0.2.1:514", 300))
	f.Add(rawV2(append(tlv(proxyproto.PP2_TYPE_NOOP, "pad"), tlv(proxyproto.PP2_TYPE_CRC32C, "\x00\x00\x00\x00")...), 9))
	f.Add(localHeader(f))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("<13>no header\n"))
	discard := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte) {
		l := &Listener{
			opts:  Options{ProxyHeaderTimeout: time.Second},
			log:   discard,
			warn:  ratelog.New(discard, 0),
			m:     newMetrics(nil),
			conns: map[net.Conn]struct{}{},
		}
		client, server := net.Pipe()
		defer server.Close()
		go func() {
			client.Write(data)
			client.Close()
		}()
		conn, source, ok := l.readProxyHeader(server, 514)
		if !ok {
			return
		}
		if !source.IsValid() {
			t.Fatalf("accepted with an invalid source address from %q", data)
		}
		rest, err := io.ReadAll(conn)
		if err != nil {
			t.Fatalf("read after the header: %v", err)
		}
		if !bytes.HasSuffix(data, rest) || len(rest) == len(data) {
			t.Fatalf("read %q after the header of %q, want a proper tail of it", rest, data)
		}
	})
}
