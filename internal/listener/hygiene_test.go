package listener

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/e2e"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

func TestMaxConnections(t *testing.T) {
	s := start(t, Options{TCPPorts: []int{testenv.FreePort(t)}, MaxConnections: 2})
	addr := s.Addrs()[0].String()
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	first, _ := dial(), dial()
	testenv.Eventually(t, "two connections open", func() bool { return s.open() == 2 })
	third := dial()
	waitClosed(t, third)
	if got := s.refused(reasonMaxConnections); got != 1 {
		t.Errorf("refused %d, want 1", got)
	}

	first.Close()
	testenv.Eventually(t, "a slot freed", func() bool { return s.open() == 1 })
	fourth := dial()
	fmt.Fprint(fourth, "<13>in a freed slot\n")
	if msgs := s.waitMessages(t, 1); msgs[0].Msg != "<13>in a freed slot" {
		t.Errorf("messages %v", msgs)
	}
}

// TestStalledConnections opens connections that stall at every step, on TCP and TLS ports, and
// checks that the idle timeout closes all of them and that the listener's goroutines go with them.
func TestStalledConnections(t *testing.T) {
	pki := e2e.NewPKI(t, "CA")
	server := pki.Issue(t, e2e.CertOptions{CommonName: "localhost", Hosts: []string{"localhost"}})
	proxied := testenv.FreePort(t)
	s := start(t, Options{
		TCPPorts: []int{testenv.FreePort(t), proxied}, TLSPorts: []int{testenv.FreePort(t)}, ProxyProtocolPorts: []int{proxied},
		CertFile: server.CertFile, KeyFile: server.KeyFile, IdleTimeout: 2 * time.Second, // long enough for a handshake under -race
	})
	addrs := s.Addrs()
	tcpAddr, proxyAddr, tlsAddr := addrs[0].String(), addrs[1].String(), addrs[2].String()
	// Run starts its goroutines in the order of the ports: once the last port has accepted a
	// connection and that connection is gone, the count is the listener's own.
	warmUp, err := net.Dial("tcp", tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "last port accepting", func() bool { return s.open() == 1 })
	warmUp.Close()
	testenv.Eventually(t, "warm-up connection closed", func() bool { return s.open() == 0 })
	baseline := runtime.NumGoroutine()

	stalls := []struct {
		name string
		open func() (net.Conn, error)
	}{
		{"TCP, silent", func() (net.Conn, error) { return net.Dial("tcp", tcpAddr) }},
		{"TCP, half an octet-counted frame", func() (net.Conn, error) { return dialWrite("tcp", tcpAddr, "100 <13>half") }},
		{"TCP, half a line", func() (net.Conn, error) { return dialWrite("tcp", tcpAddr, "<13>no end") }},
		{"PROXY, silent", func() (net.Conn, error) { return net.Dial("tcp", proxyAddr) }},
		{"PROXY, half a header", func() (net.Conn, error) { return dialWrite("tcp", proxyAddr, "PROXY TCP4 ") }},
		{"TLS, silent", func() (net.Conn, error) { return net.Dial("tcp", tlsAddr) }},
		{"TLS, half a frame after the handshake", func() (net.Conn, error) {
			conn, err := tls.Dial("tcp", tlsAddr, pki.ClientConfig(nil))
			if err != nil {
				return nil, err
			}
			_, err = fmt.Fprint(conn, "100 <13>half")
			return conn, err
		}},
	}
	const each = 20
	var conns []net.Conn
	for _, st := range stalls {
		for range each {
			conn, err := st.open()
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			defer conn.Close()
			conns = append(conns, conn)
		}
	}
	for _, conn := range conns {
		waitClosed(t, conn)
	}
	testenv.Eventually(t, "every connection closed", func() bool { return s.open() == 0 })
	testenv.Eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}

func dialWrite(network, addr, data string) (net.Conn, error) {
	conn, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprint(conn, data)
	return conn, err
}

// TestShutdownDuringOpening checks that Run returns within the drain window while connections
// are stalled in their PROXY header or TLS handshake, whose own timeouts are far longer.
func TestShutdownDuringOpening(t *testing.T) {
	proxied, tlsPort := testenv.FreePort(t), testenv.FreePort(t)
	l, err := Listen(Options{
		Address:  "127.0.0.1",
		TCPPorts: []int{proxied}, TLSPorts: []int{tlsPort}, ProxyProtocolPorts: []int{proxied},
		HandshakeTimeout: time.Hour, ProxyHeaderTimeout: time.Hour, DrainTimeout: 50 * time.Millisecond,
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	sink := &sink{}
	go func() {
		defer close(done)
		l.Run(ctx, sink)
	}()
	for _, addr := range l.Addrs() {
		conn, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of shutdown")
	}
}
