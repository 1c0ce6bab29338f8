package listener

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
)

// TestUDPReaders sends datagrams from many senders at once to ports read by one and by several
// readers: every datagram arrives once, from its sender's address, and each sender's datagrams in
// the order sent, since a sender's datagrams all reach the same socket.
func TestUDPReaders(t *testing.T) {
	tests := []struct {
		name    string
		address string
		readers int
	}{
		{name: "one reader", address: "127.0.0.1", readers: 1},
		{name: "four readers", address: "127.0.0.1", readers: 4},
		{name: "IPv6", address: "::1", readers: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.address == "::1" {
				if pc, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
					t.Skipf("no IPv6 loopback: %v", err)
				} else {
					pc.Close()
				}
			}
			s := start(t, Options{Address: tt.address, UDPPorts: []int{freeUDPPort(t, tt.address)}, UDPReaders: tt.readers})
			wantSockets := 1
			if reusePortSupported {
				wantSockets = tt.readers
			}
			if got := len(s.udp[0].conns); got != wantSockets {
				t.Errorf("%d readers have %d sockets, want %d", tt.readers, got, wantSockets)
			}
			const senders, perSender = 16, 100
			conns := make([]net.Conn, senders)
			for i := range conns {
				c, err := net.Dial("udp", s.Addrs()[0].String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conns[i] = c
			}
			// Interleaved, so that one read takes datagrams of several senders.
			for j := range perSender {
				for i, c := range conns {
					fmt.Fprintf(c, "<13>sender %02d datagram %03d\n", i, j)
				}
			}
			msgs := s.waitMessages(t, senders*perSender)
			want := netip.MustParseAddr(tt.address)
			next := make(map[string]int)
			for _, m := range msgs {
				if m.Source != want {
					t.Fatalf("message %q from %v, want %v", m.Msg, m.Source, want)
				}
				var i, j int
				if _, err := fmt.Sscanf(m.Msg, "<13>sender %d datagram %d", &i, &j); err != nil {
					t.Fatalf("unexpected message %q", m.Msg)
				}
				sender := fmt.Sprint(i)
				if j != next[sender] {
					t.Fatalf("sender %d: datagram %d after %d, want each once, in order", i, j, next[sender]-1)
				}
				next[sender]++
			}
			if len(msgs) != senders*perSender {
				t.Errorf("%d messages, want %d", len(msgs), senders*perSender)
			}
		})
	}
}

// TestUDPPortInUse checks that a UDP port that another socket holds is reported, even though the
// readers' sockets share their port with each other.
func TestUDPPortInUse(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	l, err := Listen(Options{Address: "127.0.0.1", UDPPorts: []int{port}, UDPReaders: runtime.GOMAXPROCS(0) + 1})
	if err == nil {
		l.closeSockets()
		t.Fatalf("Listen on UDP port %d held by another socket succeeded", port)
	}
	if want := fmt.Sprintf("listen on UDP port %d", port); !strings.Contains(err.Error(), want) {
		t.Errorf("Listen error %q does not say %q", err, want)
	}
}

// freeUDPPort returns a UDP port of address that was free a moment ago.
func freeUDPPort(t *testing.T, address string) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(address, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}
