package mmsg

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestWriteSegments checks that the Writer sends each run of one size as one UDP_SEGMENT
// message, and that the receiver still reads every datagram on its own.
func TestWriteSegments(t *testing.T) {
	tests := []struct {
		name     string
		sizes    []int
		wantRuns []int
	}{
		{name: "one size", sizes: slices.Repeat([]int{200}, 150), wantRuns: []int{64, 64, 22}},
		{name: "mixed", sizes: []int{200, 200, 100, 100, 100, 0, 0, 5}, wantRuns: []int{2, 3, 1, 1, 1}},
		{name: "up to the largest payload", sizes: slices.Repeat([]int{20_000}, 5), wantRuns: []int{3, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, sender := socketPair(t, "127.0.0.1")
			conn.SetReadBuffer(4 << 20)
			w, err := NewWriter(sender)
			if err != nil {
				t.Fatal(err)
			}
			var sent [][]byte
			for i, size := range tt.sizes {
				msg := bytes.Repeat([]byte{'a' + byte(i%26)}, size)
				copy(msg, fmt.Sprint(i))
				sent = append(sent, msg)
			}
			if n, err := w.Write(sent); err != nil || n != len(sent) {
				t.Fatalf("Write of %d datagrams = %d, %v", len(sent), n, err)
			}
			if !w.gso || !slices.Equal(w.runs, tt.wantRuns) {
				t.Errorf("sent runs %v (segmentation on: %v), want %v", w.runs, w.gso, tt.wantRuns)
			}
			r, err := NewReader(conn, 8, maxPayload)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			for got := 0; got < len(sent); {
				n, err := r.Read()
				if err != nil {
					t.Fatalf("Read after %d datagrams: %v", got, err)
				}
				for i := range n {
					if payload, _ := r.Datagram(i); !bytes.Equal(payload, sent[got]) {
						t.Fatalf("datagram %d: %d bytes %.20q, want %d bytes %.20q", got, len(payload), payload, len(sent[got]), sent[got])
					}
					got++
				}
			}
		})
	}
}
