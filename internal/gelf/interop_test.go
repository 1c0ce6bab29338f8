package gelf

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	gogelf "github.com/Graylog2/go-gelf/gelf"
	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/framing"
)

// The interop tests send with Graylog's own Go client (the library Docker's gelf log driver
// uses) over real sockets on loopback, and check what the Assembler and the Stamper make of it.

// interopMessage returns a GELF message whose full_message has about fullBytes bytes of
// incompressible text, so that a large one is chunked even when compressed.
func interopMessage(seq int, fullBytes int, stamp float64) *gogelf.Message {
	rng := rand.New(rand.NewPCG(uint64(seq), uint64(fullBytes)))
	raw := make([]byte, fullBytes*3/4)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	return &gogelf.Message{
		Version:  "1.1",
		Host:     "interop.example.org",
		Short:    "message " + strings.Repeat("x", seq),
		Full:     base64.StdEncoding.EncodeToString(raw),
		TimeUnix: stamp,
		Level:    gogelf.LOG_WARNING,
		Facility: "interop",
		Extra:    map[string]any{"_seq": seq, "_nested": map[string]any{"timestamp": 1}},
	}
}

// checkDecoded compares a received message with the one sent, and its stamp with wantStamp.
func checkDecoded(t *testing.T, got []byte, sent *gogelf.Message, wantStamp time.Time) {
	t.Helper()
	var m gogelf.Message
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatalf("received message is not GELF JSON: %v (%.100q)", err, got)
	}
	// JSON numbers decode as float64.
	want := *sent
	want.Extra = map[string]any{"_seq": float64(sent.Extra["_seq"].(int)), "_nested": map[string]any{"timestamp": float64(1)}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("received message differs from the one sent (-sent +received):\n%s", diff)
	}
	s := NewStamper(StamperOptions{})
	if ts, _ := s.Stamp(nil, got, received, "127.0.0.1"); !ts.Equal(wantStamp) {
		t.Errorf("Stamp = %v, want %v", ts.UTC(), wantStamp.UTC())
	}
}

func TestInteropUDP(t *testing.T) {
	const stamp = 1700000000.123456
	wantStamp := time.Unix(1700000000, 123456000)
	tests := []struct {
		name        string
		compression gogelf.CompressType
		fullBytes   int
		minChunks   int // least datagrams the message must take
	}{
		{name: "gzip", compression: gogelf.CompressGzip, fullBytes: 200, minChunks: 1},
		{name: "zlib", compression: gogelf.CompressZlib, fullBytes: 200, minChunks: 1},
		{name: "none", compression: gogelf.CompressNone, fullBytes: 200, minChunks: 1},
		{name: "gzip chunked", compression: gogelf.CompressGzip, fullBytes: 60_000, minChunks: 30},
		{name: "zlib chunked", compression: gogelf.CompressZlib, fullBytes: 60_000, minChunks: 30},
		{name: "none chunked", compression: gogelf.CompressNone, fullBytes: 170_000, minChunks: 120},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The client sends every chunk at once: keep them all in the socket's buffer.
			if err := conn.SetReadBuffer(4 << 20); err != nil {
				t.Fatal(err)
			}
			w, err := gogelf.NewUDPWriter(conn.LocalAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			w.CompressionType = tt.compression

			sent := interopMessage(i, tt.fullBytes, stamp)
			if err := w.WriteMessage(sent); err != nil {
				t.Fatalf("go-gelf WriteMessage: %v", err)
			}

			a := NewAssembler(Options{MaxMessageBytes: 1 << 20}) // 120 chunks of plain JSON are longer than the default
			buf := make([]byte, 65536)
			if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			for datagrams := 1; ; datagrams++ {
				n, src, err := conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("after %d datagrams: %v", datagrams-1, err)
				}
				msg, err := a.Add(src, buf[:n], time.Now(), nil)
				if err != nil {
					t.Fatalf("Add(datagram %d): %v", datagrams, err)
				}
				if msg == nil {
					continue
				}
				if datagrams < tt.minChunks {
					t.Errorf("message came in %d datagrams, want at least %d", datagrams, tt.minChunks)
				}
				checkDecoded(t, msg, sent, wantStamp)
				return
			}
		})
	}
}

func TestInteropTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w, err := gogelf.NewTCPWriter(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	stamps := []struct {
		sent float64
		want time.Time
	}{
		{1700000000, time.Unix(1700000000, 0)},
		{1700000000.5, time.Unix(1700000000, 500000000)},
		{1385053862.3072, time.Unix(1385053862, 307200000)},
		{1771708070.239, time.Unix(1771708070, 239000000)},
	}
	var sent []*gogelf.Message
	for i, s := range stamps {
		m := interopMessage(i, 100<<i*i, s.sent)
		sent = append(sent, m)
		if err := w.WriteMessage(m); err != nil {
			t.Fatalf("go-gelf WriteMessage: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	sc := framing.NewScanner(conn, DefaultMaxMessageBytes)
	for i := range stamps {
		if !sc.Scan() {
			t.Fatalf("message %d: stream ended: %v", i, sc.Err())
		}
		checkDecoded(t, sc.Message(), sent[i], stamps[i].want)
	}
	if sc.Scan() {
		t.Errorf("unexpected message after the last: %.100q", sc.Message())
	}
}
