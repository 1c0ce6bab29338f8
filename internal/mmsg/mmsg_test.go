package mmsg

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"
)

// maxPayload is the largest UDP payload over IPv4 (65,535 less the IP and UDP headers).
const maxPayload = 65_507

// TestReadWrite sends batches with a Writer and reads them with a Reader, over IPv4 and IPv6:
// every datagram arrives whole, in order, with its sender's address, whatever its size.
func TestReadWrite(t *testing.T) {
	for _, address := range []string{"127.0.0.1", "::1"} {
		t.Run(address, func(t *testing.T) {
			conn, sender := socketPair(t, address)
			conn.SetReadBuffer(4 << 20)
			w, err := NewWriter(sender)
			if err != nil {
				t.Fatal(err)
			}
			var sent [][]byte
			for _, size := range []int{0, 1, 200, 1500, 9000, maxPayload} {
				for i := range 3 {
					sent = append(sent, bytes.Repeat([]byte{byte('a' + i)}, size))
				}
			}
			sent = append(sent, []byte(fmt.Sprintf("<13>%s", bytes.Repeat([]byte("x"), 100))))
			// A long run of one size, which Linux sends as several UDP_SEGMENT messages.
			for i := range 150 {
				sent = append(sent, fmt.Appendf(nil, "<13>1 - - - - - datagram %03d %s", i, bytes.Repeat([]byte("y"), 170)))
			}
			if n, err := w.Write(sent); err != nil || n != len(sent) {
				t.Fatalf("Write of %d datagrams = %d, %v", len(sent), n, err)
			}
			r, err := NewReader(conn, 4, maxPayload)
			if err != nil {
				t.Fatal(err)
			}
			want := sender.LocalAddr().(*net.UDPAddr).AddrPort()
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			reads, got := 0, 0
			for got < len(sent) {
				n, err := r.Read()
				if err != nil {
					t.Fatalf("Read after %d datagrams: %v", got, err)
				}
				if n < 1 || n > 4 {
					t.Fatalf("Read = %d datagrams, want 1 to the batch size 4", n)
				}
				reads++
				for i := range n {
					payload, from := r.Datagram(i)
					if !bytes.Equal(payload, sent[got]) {
						t.Errorf("datagram %d: %d bytes %.20q, want %d bytes %.20q", got, len(payload), payload, len(sent[got]), sent[got])
					}
					if from != want {
						t.Errorf("datagram %d from %v, want %v", got, from, want)
					}
					got++
				}
			}
			if runtime.GOOS == "linux" && reads == len(sent) {
				t.Errorf("%d datagrams waiting took %d reads, want batches", len(sent), reads)
			}
		})
	}
}

// TestReadEnds checks that Read returns the socket's deadline and its closing as the errors the
// net package gives.
func TestReadEnds(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(conn, 8, 1500)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := r.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read past the deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	conn.SetReadDeadline(time.Time{})
	done := make(chan error)
	go func() {
		_, err := r.Read()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Read wait; it must end however long it has waited
	conn.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read of a closed socket = %v, want net.ErrClosed", err)
	}
}

// TestWriteRefused checks that datagrams the kernel refuses after an ICMP port unreachable
// count as sent, as UDP loses them, instead of failing the Write.
func TestWriteRefused(t *testing.T) {
	gone, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := gone.LocalAddr().(*net.UDPAddr)
	gone.Close()
	sender, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	w, err := NewWriter(sender)
	if err != nil {
		t.Fatal(err)
	}
	msgs := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	for i := range 5 {
		if n, err := w.Write(msgs); err != nil || n != len(msgs) {
			t.Fatalf("Write %d to a closed port = %d, %v; want %d, nil", i, n, err, len(msgs))
		}
	}
}

// TestReadAllocs checks that reading a batch allocates nothing once the Reader exists.
func TestReadAllocs(t *testing.T) {
	conn, sender := socketPair(t, "127.0.0.1")
	r, err := NewReader(conn, 8, 1500)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("<13>datagram")
	allocs := testing.AllocsPerRun(100, func() {
		sender.Write(msg)
		if n, err := r.Read(); err != nil || n != 1 {
			t.Fatalf("Read = %d, %v", n, err)
		}
		if payload, _ := r.Datagram(0); !bytes.Equal(payload, msg) {
			t.Fatalf("Datagram = %q, want %q", payload, msg)
		}
	})
	if runtime.GOOS == "linux" && allocs != 0 {
		t.Errorf("a read allocates %v times, want 0", allocs)
	}
}

// socketPair returns a UDP socket on address and a socket connected to it, both closed when the
// test ends; the test is skipped where address cannot be bound.
func socketPair(t *testing.T, address string) (receiver, sender *net.UDPConn) {
	t.Helper()
	receiver, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(address), 0)))
	if err != nil {
		t.Skipf("no %s: %v", address, err)
	}
	t.Cleanup(func() { receiver.Close() })
	sender, err = net.DialUDP("udp", nil, receiver.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	return receiver, sender
}
