package relp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// countingConn counts the Writes and SetDeadlines of a Client's connection.
type countingConn struct {
	net.Conn
	mu                sync.Mutex
	writes, deadlines int
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *countingConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadlines++
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *countingConn) counts() (writes, deadlines int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.deadlines
}

// groupServer answers a client over conn as a server that answers in groups does: it reads
// group syslog frames, then writes their answers in one write, from a goroutine of its own so
// that it reads on meanwhile (net.Pipe has no buffer). It answers open and close at once and
// returns the number of syslog frames it read.
func groupServer(conn net.Conn, group int) (int, error) {
	writes := make(chan []byte, 1024)
	written := make(chan error, 1)
	go func() {
		var err error
		for b := range writes {
			if err == nil {
				_, err = conn.Write(b)
			}
		}
		written <- err
	}()
	n, err := readGroups(conn, group, writes)
	close(writes)
	return n, errors.Join(err, <-written)
}

func readGroups(conn net.Conn, group int, writes chan<- []byte) (int, error) {
	r := NewReader(conn, 1<<16)
	var answers []byte
	n := 0
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return n, err
		}
		switch f.Command {
		case CmdOpen:
			answers = AppendFrame(answers, Frame{Txnr: f.Txnr, Command: CmdRsp, Data: []byte("200 OK\n" + offerCommands + "=" + CmdSyslog)})
		case CmdClose:
			answers = AppendFrame(answers, Frame{Txnr: f.Txnr, Command: CmdRsp})
		default:
			n++
			answers = AppendFrame(answers, Frame{Txnr: f.Txnr, Command: CmdRsp, Data: []byte("200 OK")})
			if n%group != 0 {
				continue
			}
		}
		writes <- answers
		answers = nil
		if f.Command == CmdClose {
			return n, nil
		}
	}
}

// TestClientWritesWhatTheWindowFrees: a server that answers a window's worth of frames at once
// opens the window by all of them, and the client writes the frames sent into it together: one
// write per window, not one per frame, and one deadline for the session's context, not one per
// blocking Send. Over net.Pipe a server's write is read whole, so the counts are exact.
func TestClientWritesWhatTheWindowFrees(t *testing.T) {
	const (
		window   = 16
		messages = 10 * window
	)
	for _, tt := range []struct {
		name  string
		group int
		// The client's writes: open; the first window at the 17th Send, then one for each
		// group answered, at Sends 17+group*k; the rest by Close, then close.
		wantWrites int
	}{
		{name: "answered a window at once", group: window, wantWrites: 1 + 9 + 1 + 1},
		{name: "answered half a window at once", group: window / 2, wantWrites: 1 + 18 + 1 + 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			client, server := net.Pipe()
			served := make(chan error, 1)
			var read int
			go func() {
				var err error
				read, err = groupServer(server, tt.group)
				served <- err
			}()
			conn := &countingConn{Conn: client}
			answered := 0
			c, err := NewClient(ctx, conn, ClientOptions{Window: window, OnResponse: func(msg []byte, err error) {
				if want := fmt.Sprintf("m%d", answered); err != nil || string(msg) != want {
					t.Errorf("OnResponse(%q, %v), want (%q, nil)", msg, err, want)
				}
				answered++
			}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range messages {
				if err := c.Send(ctx, fmt.Appendf(nil, "m%d", i)); err != nil {
					t.Fatalf("Send %d: %v", i, err)
				}
			}
			if err := c.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := <-served; err != nil {
				t.Fatalf("server: %v", err)
			}
			if read != messages || answered != messages {
				t.Errorf("server read %d frames, client had %d answered; want %d", read, answered, messages)
			}
			writes, deadlines := conn.counts()
			if writes != tt.wantWrites {
				t.Errorf("client wrote %d times, want %d", writes, tt.wantWrites)
			}
			// The context's deadline, set once; none is set back when the client is done with
			// it (the connection is closed).
			if deadlines != 1 {
				t.Errorf("client set the deadline %d times, want 1", deadlines)
			}
		})
	}
}

// TestClientContexts: a blocked Send ends when its context does, and a context that ends
// between calls does not break the next call given another context.
func TestClientContexts(t *testing.T) {
	t.Run("cancelled while waiting for the window", func(t *testing.T) {
		client, server := net.Pipe()
		defer server.Close()
		go func() {
			// Answers open, then reads and never answers.
			r := NewReader(server, 1<<16)
			f, err := r.ReadFrame()
			if err != nil {
				return
			}
			server.Write(AppendFrame(nil, Frame{Txnr: f.Txnr, Command: CmdRsp, Data: []byte("200 OK\n" + offerCommands + "=" + CmdSyslog)}))
			for {
				if _, err := r.ReadFrame(); err != nil {
					return
				}
			}
		}()
		ctx, cancel := context.WithCancel(context.Background())
		c, err := NewClient(ctx, client, ClientOptions{Window: 2})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			for {
				if err := c.Send(ctx, []byte("m")); err != nil {
					done <- err
					return
				}
			}
		}()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Send after cancel = %v, want a deadline error", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("Send still blocked after its context was cancelled")
		}
		if got := len(c.Unacknowledged()); got != 2 {
			t.Errorf("Unacknowledged() has %d messages, want 2", got)
		}
		c.Close(context.Background())
	})
	t.Run("ended between calls", func(t *testing.T) {
		client, server := net.Pipe()
		served := make(chan error, 1)
		go func() {
			_, err := groupServer(server, 1)
			served <- err
		}()
		first, cancel := context.WithCancel(context.Background())
		c, err := NewClient(first, client, ClientOptions{Window: 2})
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if err := c.Send(first, []byte("m")); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Flush(first); err != nil {
			t.Fatal(err)
		}
		cancel()
		// The first context's end sets the connection's deadline to the past; the next call
		// must neither see that deadline nor have its own overwritten by it.
		second, cancel2 := context.WithTimeout(context.Background(), testTimeout)
		defer cancel2()
		for range 5 {
			if err := c.Send(second, []byte("m")); err != nil {
				t.Fatalf("Send with a new context: %v", err)
			}
		}
		if err := c.Close(second); err != nil {
			t.Fatalf("Close with a new context: %v", err)
		}
		if err := <-served; err != nil {
			t.Fatalf("server: %v", err)
		}
	})
}
