package listener

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
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

// stalledStreams is a Streams whose commits wait until release is closed: a relay that has
// fallen behind.
type stalledStreams struct{ release chan struct{} }

func (s stalledStreams) Stream(netip.Addr, uint16) Stream { return stalledStream(s) }
func (stalledStreams) WaitRoom(context.Context) error     { return nil }

type stalledStream stalledStreams

func (stalledStream) Add(context.Context, []byte, time.Time)    {}
func (stalledStream) TryAdd([]byte, time.Time)                  {}
func (stalledStream) Reserve(context.Context, int) error        { return nil }
func (stalledStream) Unreserve(int)                             {}
func (s stalledStream) Commit(context.Context) (Receipt, error) { <-s.release; return nil, nil }
func (s stalledStream) TryCommit() bool                         { <-s.release; return true }

// TestUDPKernelDrops stalls the UDP reader and overfills its socket: what the kernel drops shows
// in kinesyslog_udp_kernel_drops_total, read from the kernel's own counter of the socket.
func TestUDPKernelDrops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel's drop counters are read from /proc/net/udp")
	}
	reg := prometheus.NewRegistry()
	l, err := Listen(Options{Address: "127.0.0.1", UDPPorts: []int{freeUDPPort(t, "127.0.0.1")}, UDPReaders: 1,
		Registerer: reg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, stalledStreams{release})
	}()
	defer func() {
		close(release)
		cancel()
		<-done
	}()
	if got := testutil.ToFloat64(l.m.udpKernel); got != 0 {
		t.Fatalf("kernel drops before any datagram = %v, want 0", got)
	}
	conn, err := net.Dial("udp", l.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The receive buffer holds some 8 MiB of the kernel's accounting; each datagram of 1 KB takes
	// about 2 KB of it, so that 20,000 of them overflow it whatever the machine's limits.
	datagram := []byte("<13>" + strings.Repeat("x", 1000))
	for range 20_000 {
		conn.Write(datagram)
	}
	testenv.Eventually(t, "kernel drops counted", func() bool { return testutil.ToFloat64(l.m.udpKernel) > 0 })
}

// TestRecentStreams checks which senders keep their stream: the reader opens a stream for a sender
// again only when maxRecentSources others have come since it last sent.
func TestRecentStreams(t *testing.T) {
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	others := func(from, n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = from + i
		}
		return s
	}
	tests := []struct {
		name       string
		before     []int // senders before sender 0 sends again
		wantReopen bool
	}{
		{name: "the same sender", before: nil},
		{name: "a generation of others", before: others(1, maxRecentSources)},
		{name: "two generations of others less one", before: others(1, 2*maxRecentSources-2)},
		{name: "two generations of others", before: others(1, 2*maxRecentSources), wantReopen: true},
		{name: "others, sending again in between", before: append(append(others(1, maxRecentSources), 0), others(maxRecentSources+1, maxRecentSources)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			streams := &sink{}
			recent := newRecentStreams()
			first := recent.stream(addr(0), 514, streams)
			for _, i := range tt.before {
				recent.stream(addr(i), 514, streams)
			}
			opened := streams.opened()
			again := recent.stream(addr(0), 514, streams)
			if reopened := again != first; reopened != tt.wantReopen {
				t.Errorf("stream opened again: %v, want %v", reopened, tt.wantReopen)
			}
			if reopened := streams.opened() > opened; reopened != tt.wantReopen {
				t.Errorf("Streams.Stream called again: %v, want %v", reopened, tt.wantReopen)
			}
			if n := len(recent.current) + len(recent.previous); n > 2*maxRecentSources {
				t.Errorf("%d senders held, want at most %d", n, 2*maxRecentSources)
			}
		})
	}
}
