package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// tcpSocket is one TCP socket as the kernel lists it in /proc/net/tcp and /proc/net/tcp6.
type tcpSocket struct {
	local, remote int    // ports
	state         string // st, in hexadecimal: "01" ESTABLISHED, "0A" LISTEN
	// sendQ (tx_queue) is what was written and not yet acknowledged by the peer; recvQ
	// (rx_queue) what was received and not yet read. A LISTEN socket's count connections.
	sendQ, recvQ int64
}

// tcpSockets returns the kernel's TCP sockets, IPv4 and IPv6, failing the test if it cannot read
// them.
func tcpSockets(t *testing.T) []tcpSocket {
	t.Helper()
	socks, err := readTCPSockets()
	if err != nil {
		t.Fatal(err)
	}
	return socks
}

// readTCPSockets returns the kernel's TCP sockets, IPv4 and IPv6; it is safe to call from any
// goroutine.
func readTCPSockets() ([]tcpSocket, error) {
	var socks []tcpSocket
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read the kernel's TCP sockets: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue ..., addresses as HEX:HEXPORT.
			f := strings.Fields(sc.Text())
			if len(f) < 5 {
				continue
			}
			tx, rx, _ := strings.Cut(f[4], ":")
			s := tcpSocket{local: hexPort(f[1]), remote: hexPort(f[2]), state: f[3]}
			s.sendQ, _ = strconv.ParseInt(tx, 16, 64)
			s.recvQ, _ = strconv.ParseInt(rx, 16, 64)
			socks = append(socks, s)
		}
	}
	return socks, nil
}

// hexPort reads the port of an address of /proc/net/tcp, ADDRESS:PORT in hexadecimal.
func hexPort(addr string) int {
	_, port, _ := strings.Cut(addr, ":")
	p, _ := strconv.ParseInt(port, 16, 32)
	return int(p)
}
