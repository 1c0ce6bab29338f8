package relp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchSink takes messages and answers each Commit as stored at once: the session's own work,
// without a log behind it.
type benchSink struct{ messages, bytes int }

func (s *benchSink) Add(msg []byte, _ time.Time, _ bool) {
	s.messages++
	s.bytes += len(msg)
}

func (s *benchSink) Commit() (Durable, error) { return stored{}, nil }

// stored is a Durable that is stored already.
type stored struct{}

func (stored) Wait(context.Context) error { return nil }

// benchWindow and benchFramesPerWrite are librelp's window and about how many of the bench's
// 200-byte frames one read of the relay takes under its RELP load (BENCHMARKS.md, session 10).
const (
	benchWindow         = 128
	benchFramesPerWrite = 10
)

// BenchmarkServer runs one session over loopback TCP: a client writes b.N syslog frames of 200
// bytes, benchFramesPerWrite per write, within a window of benchWindow, and counts the answers.
func BenchmarkServer(b *testing.B) {
	srv, err := NewServer(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	sink := &benchSink{}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		srv.Serve(context.Background(), conn, sink)
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, rawOpen); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(c)
	if _, err := NewReader(br, 1<<20).ReadFrame(); err != nil {
		b.Fatalf("answer to open: %v", err)
	}

	// acked counts the answers read; window is signalled at each read of them.
	var (
		mu     sync.Mutex
		acked  int
		window = make(chan struct{}, 1)
	)
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := br.Read(buf)
			mu.Lock()
			acked += bytes.Count(buf[:n], []byte{'\n'})
			mu.Unlock()
			select {
			case window <- struct{}{}:
			default:
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	msg := strings.Repeat("x", 200)
	var out []byte
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		n := min(benchFramesPerWrite, b.N-sent)
		for {
			mu.Lock()
			room := benchWindow - (sent - acked)
			mu.Unlock()
			if room >= n {
				break
			}
			<-window
		}
		out = out[:0]
		for i := range n {
			out = AppendFrame(out, Frame{Txnr: (sent+i)%MaxTxnr + 2, Command: CmdSyslog, Data: []byte(msg)})
		}
		if _, err := c.Write(out); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	for {
		mu.Lock()
		done := acked >= b.N
		mu.Unlock()
		if done {
			break
		}
		select {
		case <-window:
		case err := <-readErr:
			b.Fatalf("after %d answers: %v", acked, err)
		case <-time.After(testTimeout):
			b.Fatalf("%d of %d answers after %v", acked, b.N, testTimeout)
		}
	}
	b.StopTimer()
	if _, err := fmt.Fprintf(c, "%d close 0\n", b.N%MaxTxnr+2); err != nil {
		b.Fatal(err)
	}
	<-readErr
}
