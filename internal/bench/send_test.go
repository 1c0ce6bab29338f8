package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/e2e"
	"github.com/kinesyslog/kinesyslog/internal/framing"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// collector receives messages as a relay would and checks them with a Verifier once the load is
// sent.
type collector struct {
	mu   sync.Mutex
	msgs [][]byte
	wg   sync.WaitGroup
}

func (c *collector) add(msg []byte) {
	c.mu.Lock()
	c.msgs = append(c.msgs, bytes.Clone(msg))
	c.mu.Unlock()
}

// serveStreams accepts connections on ln and frames what they send.
func (c *collector) serveStreams(ln net.Listener) {
	c.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.wg.Go(func() {
				defer conn.Close()
				sc := framing.NewScanner(conn, 0)
				for sc.Scan() {
					c.add(sc.Message())
				}
			})
		}
	})
}

// serveDatagrams reads pc until it is closed.
func (c *collector) serveDatagrams(pc net.PacketConn) {
	c.wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			c.add(buf[:n])
		}
	})
}

func TestSend(t *testing.T) {
	pki := e2e.NewPKI(t, "bench test CA")
	cert := pki.Issue(t, e2e.CertOptions{CommonName: "receiver", Hosts: []string{"127.0.0.1"}})
	tests := []struct {
		name    string
		network string
		framing Framing
		format  Format
		streams int
		count   int
		rate    int
	}{
		{name: "tcp octet counting", network: TCP, framing: OctetCounting, format: RFC5424, streams: 3, count: 20_000},
		{name: "tcp lf", network: TCP, framing: LF, format: RFC3164, streams: 64, count: 10_000},
		{name: "tls", network: TLS, framing: OctetCounting, format: RFC5424, streams: 2, count: 5_000},
		{name: "udp", network: UDP, format: RFC5424, streams: 4, count: 400, rate: 20_000},
		{name: "paced tcp", network: TCP, framing: LF, format: RFC5424, streams: 2, count: 300, rate: 10_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{}
			var address string
			var closeAll func()
			switch tt.network {
			case UDP:
				pc, err := net.ListenPacket("udp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				pc.(*net.UDPConn).SetReadBuffer(4 << 20)
				c.serveDatagrams(pc)
				address, closeAll = pc.LocalAddr().String(), func() { pc.Close() }
			default:
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				if tt.network == TLS {
					ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert.TLS}})
				}
				c.serveStreams(ln)
				address, closeAll = ln.Addr().String(), func() { ln.Close() }
			}
			load := Load{
				Network: tt.network, Address: address, Framing: tt.framing, Streams: tt.streams,
				Count: tt.count, Rate: tt.rate,
				Generator: Generator{Run: 9, Format: tt.format, MinBytes: 100, MaxBytes: 2048, Base: testBase},
			}
			sent, err := Send(context.Background(), load)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if sent.Total() != tt.count || len(sent.Counts) != tt.streams {
				t.Fatalf("Send sent %v (%d), want %d over %d streams", sent.Counts, sent.Total(), tt.count, tt.streams)
			}
			v := NewVerifier(load.Generator, sent.Counts)
			// TCP senders close their connections when done: wait until the collector has read
			// them all. UDP has no end: wait until every datagram is in, or give up and let the
			// report say what is missing.
			deadline := time.Now().Add(30 * time.Second)
			for tt.network == UDP && time.Now().Before(deadline) {
				c.mu.Lock()
				n := len(c.msgs)
				c.mu.Unlock()
				if n >= tt.count {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			closeAll()
			c.wg.Wait()
			var total int64
			for _, m := range c.msgs {
				v.Message(m)
				total += int64(len(m))
			}
			if r := v.Report(); !r.OK() {
				t.Errorf("receiver got: %v", r)
			}
			if total != sent.Bytes {
				t.Errorf("receiver got %d bytes, Send says it sent %d", total, sent.Bytes)
			}
		})
	}
}

func TestSendDuration(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	c.serveStreams(ln)
	load := Load{
		Network: TCP, Address: ln.Addr().String(), Framing: LF, Streams: 2, Duration: 50 * time.Millisecond, Rate: 2000,
		Generator: Generator{Run: 9, Format: RFC5424, MinBytes: 200, MaxBytes: 200, Base: testBase},
	}
	sent, err := Send(context.Background(), load)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	c.wg.Wait()
	v := NewVerifier(load.Generator, sent.Counts)
	for _, m := range c.msgs {
		v.Message(m)
	}
	if r := v.Report(); !r.OK() || r.Expected == 0 {
		t.Errorf("duration load: %v", r)
	}
}

func TestSendErrors(t *testing.T) {
	gen := Generator{Run: 1, Format: RFC5424, MinBytes: 200, MaxBytes: 200, Base: testBase}
	closed := testenv.FreePort(t)
	tests := []struct {
		name string
		load Load
	}{
		{name: "network", load: Load{Network: "sctp", Streams: 1, Count: 1, Generator: gen}},
		{name: "framing", load: Load{Network: TCP, Framing: "cr", Streams: 1, Count: 1, Generator: gen}},
		{name: "streams", load: Load{Network: UDP, Count: 1, Generator: gen}},
		{name: "no count or duration", load: Load{Network: UDP, Streams: 1, Generator: gen}},
		{name: "generator", load: Load{Network: UDP, Streams: 1, Count: 1}},
		{name: "nobody listens", load: Load{Network: TCP, Framing: LF, Address: loopback(closed), Streams: 1, Count: 1, Generator: gen}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Send(context.Background(), tt.load); err == nil {
				t.Errorf("Send(%+v) = nil, want an error", tt.load)
			}
		})
	}
}

func TestSendCanceled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := &collector{}
	c.serveStreams(ln)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	load := Load{
		Network: TCP, Address: ln.Addr().String(), Framing: LF, Streams: 1, Count: 1_000_000,
		Generator: Generator{Run: 1, Format: RFC5424, MinBytes: 200, MaxBytes: 200, Base: testBase},
	}
	if _, err := Send(ctx, load); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a canceled context = %v, want context.Canceled", err)
	}
}

func TestShareAndPacer(t *testing.T) {
	total := 0
	for i := range 7 {
		total += share(100, 7, i)
	}
	if total != 100 || share(100, 7, 0) != 15 || share(100, 7, 6) != 14 {
		t.Errorf("share(100, 7, i) sums to %d, first %d, last %d; want 100, 15, 14", total, share(100, 7, 0), share(100, 7, 6))
	}
	start := time.Now()
	p := pacer{start: start, perSecond: 1000}
	for _, tt := range []struct {
		after time.Duration
		want  int
	}{{0, 1}, {time.Millisecond, 2}, {time.Second, 1001}} {
		if got := p.due(start.Add(tt.after)); got != tt.want {
			t.Errorf("due after %v = %d, want %d", tt.after, got, tt.want)
		}
	}
}
