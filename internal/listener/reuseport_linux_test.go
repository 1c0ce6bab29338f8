package listener

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUDPPortShared checks that a UDP port another socket holds is refused even when that socket
// set SO_REUSEPORT as the relay's readers do, so that a second relay on the same port fails at
// start instead of taking half the datagrams; and that the port is taken once it is free.
func TestUDPPortShared(t *testing.T) {
	tests := []struct {
		name string
		hold func(t *testing.T, port int) (release func())
	}{
		{name: "a second relay", hold: func(t *testing.T, port int) func() {
			l, err := Listen(Options{Address: "127.0.0.1", UDPPorts: []int{port}, UDPReaders: 2})
			if err != nil {
				t.Fatalf("first Listen on UDP port %d: %v", port, err)
			}
			return l.closeSockets
		}},
		{name: "a foreign socket with SO_REUSEPORT", hold: func(t *testing.T, port int) func() {
			lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
				var err error
				if cerr := c.Control(func(fd uintptr) {
					err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
				}); cerr != nil {
					return cerr
				}
				return err
			}}
			pc, err := lc.ListenPacket(context.Background(), "udp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			return func() { pc.Close() }
		}},
		{name: "a foreign socket on every address", hold: func(t *testing.T, port int) func() {
			pc, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			return func() { pc.Close() }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := freeUDPPort(t, "127.0.0.1")
			release := tt.hold(t, port)
			l, err := Listen(Options{Address: "127.0.0.1", UDPPorts: []int{port}, UDPReaders: 2})
			if err == nil {
				l.closeSockets()
				release()
				t.Fatalf("Listen on UDP port %d held by %s succeeded", port, tt.name)
			}
			if want := fmt.Sprintf("listen on UDP port %d", port); !strings.Contains(err.Error(), want) ||
				!strings.Contains(err.Error(), "in use") {
				t.Errorf("Listen error %q does not say %q and in use", err, want)
			}
			release()
			l, err = Listen(Options{Address: "127.0.0.1", UDPPorts: []int{port}, UDPReaders: 2})
			if err != nil {
				t.Fatalf("Listen on UDP port %d once free: %v", port, err)
			}
			if got := len(l.udp[0].conns); got != 2 {
				t.Errorf("Listen with 2 readers has %d sockets, want 2", got)
			}
			l.closeSockets()
		})
	}
}
