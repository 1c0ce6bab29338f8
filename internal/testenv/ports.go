package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Test ports are drawn from below the kernel's ephemeral range (32768 to 60999 on Linux), from
// which every outgoing connection takes its local port: a port found free in that range can be
// taken by some test's client socket before the program under test binds it.
const (
	minTestPort = 20000
	maxTestPort = 32767
)

var (
	portsOnce sync.Once
	nextPort  atomic.Int32 // the next candidate, less minTestPort; from a random start per process
)

// FreePort returns a port that was free a moment ago for both TCP and UDP on every address, for
// options that must name a port before the listener binds it.
func FreePort(tb testing.TB) int {
	tb.Helper()
	return FreePorts(tb, 1)[0]
}

// FreePorts returns n distinct ports as FreePort does, failing the test when there are none.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports, err := FindFreePorts(n)
	if err != nil {
		tb.Fatal(err)
	}
	return ports
}

// FindFreePorts returns n distinct ports that were free a moment ago for both TCP and UDP on
// every address, below the ephemeral range. No port is returned twice in one process; processes
// of other packages' tests start elsewhere in the range, and a port they hold is found in use.
func FindFreePorts(n int) ([]int, error) {
	portsOnce.Do(func() { nextPort.Store(rand.Int32N(maxTestPort - minTestPort + 1)) })
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > maxTestPort-minTestPort {
			return nil, fmt.Errorf("testenv: no free port in %d to %d", minTestPort, maxTestPort)
		}
		port := minTestPort + int(nextPort.Add(1)-1)%(maxTestPort-minTestPort+1)
		if portFree(port) {
			ports = append(ports, port)
		}
	}
	return ports, nil
}

// portFree reports whether port can be bound for TCP and for UDP on all addresses, which
// conflicts with any binding of it on one address.
func portFree(port int) bool {
	address := net.JoinHostPort("", strconv.Itoa(port))
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return false
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", address)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}
