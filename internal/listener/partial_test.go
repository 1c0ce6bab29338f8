package listener

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

func dialTCP(t *testing.T, s *server) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestCompleteMessagesBeforeAPartialFrame sends complete messages and the start of the next, then
// pauses: the complete ones must be committed and counted while the sender pauses, not held
// until the frame is finished.
func TestCompleteMessagesBeforeAPartialFrame(t *testing.T) {
	tests := []struct {
		name, first, rest string
		want              []string
	}{
		{name: "LF", first: "<13>one\n<13>two\n<13>thr", rest: "ee\n", want: []string{"<13>one", "<13>two", "<13>three"}},
		{name: "octet counting", first: "7 <13>one7 <13>two9 <13>t", rest: "hree", want: []string{"<13>one", "<13>two", "<13>three"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{TCPPorts: []int{testenv.FreePort(t)}})
			conn := dialTCP(t, s)
			fmt.Fprint(conn, tt.first)
			// The sender pauses here; the deadline of testenv.Eventually is far longer than the relay needs.
			msgs := s.waitMessages(t, 2)
			if got := testenv.Metric(t, s.reg, "kinesyslog_messages_received_total"); got != 2 {
				t.Errorf("kinesyslog_messages_received_total = %v during the pause, want 2", got)
			}
			fmt.Fprint(conn, tt.rest)
			conn.Close()
			msgs = s.waitMessages(t, 3)
			var got []string
			for _, m := range msgs {
				got = append(got, m.Msg)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("messages %q, want %q", got, tt.want)
			}
			if n := testenv.Metric(t, s.reg, "kinesyslog_messages_incomplete_total"); n != 0 {
				t.Errorf("kinesyslog_messages_incomplete_total = %v, want 0", n)
			}
		})
	}
}

// TestStraddlingSenderStaysConnected writes every 300 ms, each write ending inside a frame, to a
// listener with a 1 s idle timeout: the sender never goes quiet, so it must stay connected and
// lose nothing.
func TestStraddlingSenderStaysConnected(t *testing.T) {
	s := start(t, Options{TCPPorts: []int{testenv.FreePort(t)}, IdleTimeout: time.Second})
	conn := dialTCP(t, s)
	const writes = 8 // 2.4 s: more than twice the idle timeout
	var want []string
	var stream bytes.Buffer
	for i := range writes + 1 {
		msg := fmt.Sprintf("<13>message %d", i)
		want = append(want, msg)
		stream.WriteString(msg + "\n")
	}
	data := stream.Bytes()
	chunk := len(data)/writes + 3 // never a multiple of a message's length: each write straddles
	for i := 0; i < len(data); i += chunk {
		if i > 0 {
			time.Sleep(300 * time.Millisecond) // the sender's pace, not a synchronisation
		}
		if _, err := conn.Write(data[i:min(i+chunk, len(data))]); err != nil {
			t.Fatalf("write %d: %v", i/chunk, err)
		}
	}
	msgs := s.waitMessages(t, len(want))
	if s.open() != 1 {
		t.Errorf("%d connections open after the last write, want the sender's", s.open())
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Msg)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("messages %q, want %q", got, want)
	}
}

// TestIncompleteMessage cuts frames off by EOF and by the idle timeout: what arrived is delivered
// and counted as incomplete.
func TestIncompleteMessage(t *testing.T) {
	tests := []struct {
		name, send string
		closeConn  bool
		want       []string
	}{
		{name: "octet-counted frame at EOF", send: "7 <13>one20 <13>cut", closeConn: true, want: []string{"<13>one", "<13>cut"}},
		{name: "line at the idle timeout", send: "<13>one\n<13>cut", want: []string{"<13>one", "<13>cut"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{TCPPorts: []int{testenv.FreePort(t)}, IdleTimeout: 500 * time.Millisecond})
			conn := dialTCP(t, s)
			fmt.Fprint(conn, tt.send)
			if tt.closeConn {
				conn.Close()
			}
			msgs := s.waitMessages(t, len(tt.want))
			testenv.Eventually(t, "an incomplete message counted", func() bool {
				return testenv.Metric(t, s.reg, "kinesyslog_messages_incomplete_total") == 1
			})
			var got []string
			for _, m := range msgs {
				got = append(got, m.Msg)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("messages %q, want %q", got, tt.want)
			}
		})
	}
}
