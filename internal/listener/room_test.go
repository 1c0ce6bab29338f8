package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// roomlessStreams is a sink that never has room: WaitRoom waits until ctx is done.
type roomlessStreams struct {
	sink
	waiting  atomic.Int64 // readers in WaitRoom
	canceled atomic.Int64 // WaitRoom calls ended by their context
}

func (s *roomlessStreams) WaitRoom(ctx context.Context) error {
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	<-ctx.Done()
	if errors.Is(ctx.Err(), context.Canceled) {
		s.canceled.Add(1)
	}
	return ctx.Err()
}

// TestWaitRoomBeforeRead runs each kind of reader (TCP, TLS, UDP, RELP) against Streams that
// have no room, with a sender's message waiting: the reader waits in WaitRoom and reads nothing,
// and shutdown ends the wait at the end of the drain, so that Run returns.
func TestWaitRoomBeforeRead(t *testing.T) {
	tests := []struct {
		name string
		opts func(port int) Options
		send func(t *testing.T, addr net.Addr)
	}{
		{"TCP", func(p int) Options { return Options{TCPPorts: []int{p}} }, func(t *testing.T, addr net.Addr) {
			fmt.Fprint(dial(t, addr), "<13>waits in the kernel\n")
		}},
		{"TLS", func(p int) Options { return Options{TLSPorts: []int{p}} }, func(t *testing.T, addr net.Addr) {
			conn, err := tls.Dial("tcp", addr.String(), &tls.Config{InsecureSkipVerify: true}) // a self-signed certificate
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			fmt.Fprint(conn, "<13>waits in the kernel\n")
		}},
		{"UDP", func(p int) Options { return Options{UDPPorts: []int{p}} }, func(t *testing.T, addr net.Addr) {
			conn, err := net.Dial("udp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			fmt.Fprint(conn, "<13>waits in the socket buffer")
		}},
		{"RELP", func(p int) Options { return Options{RELPPorts: []int{p}} }, func(t *testing.T, addr net.Addr) {
			fmt.Fprint(dial(t, addr), "1 open 85 relp_version=0\nrelp_software=test\ncommands=syslog\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts(testenv.FreePort(t))
			opts.Address, opts.Logger, opts.DrainTimeout = "127.0.0.1", testLogger(t), 50*time.Millisecond
			l, err := Listen(opts)
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			streams := &roomlessStreams{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			go func() { defer close(done); l.Run(ctx, streams) }()
			testenv.Eventually(t, "serving", func() bool { return l.Check() == nil })
			tt.send(t, l.Addrs()[0])
			testenv.Eventually(t, "a reader waiting for room", func() bool { return streams.waiting.Load() > 0 })
			if got := streams.messages(); len(got) > 0 || streams.opened() > 1 {
				t.Errorf("messages %v read while there is no room", got)
			}
			cancel()
			testenv.Eventually(t, "Run returned after the drain", func() bool {
				select {
				case <-done:
					return true
				default:
					return false
				}
			})
			if n := streams.canceled.Load(); n == 0 {
				t.Error("no wait for room ended by the drain's end")
			}
		})
	}
}
