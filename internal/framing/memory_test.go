package framing

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

// countingMemory is a Memory that keeps the balance of what a Scanner holds, refusing to grow
// past limit when limit > 0.
type countingMemory struct {
	held, peak, limit int
}

func (m *countingMemory) Grow(n int) error {
	if m.limit > 0 && m.held+n > m.limit {
		return errors.New("no memory")
	}
	m.held += n
	m.peak = max(m.peak, m.held)
	return nil
}

func (m *countingMemory) Shrink(n int) { m.held -= n }

// pausingReader serves each chunk in one read, then an error: a sender that paused mid-stream.
type pausingReader struct {
	chunks []string
	err    error
}

func (r *pausingReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, r.err
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// TestScannerMemory checks that a Scanner accounts for its buffer's growth, gives the memory
// back once it is idle between frames and when the scan ends, and stops when it cannot grow.
func TestScannerMemory(t *testing.T) {
	large := strings.Repeat("x", 100_000)
	var m countingMemory
	s := NewScanner(&pausingReader{chunks: []string{large[:60_000], large[60_000:] + "\n", "<13>small\n", "<13>again\n"}, err: io.EOF}, 1<<20)
	s.SetMemory(&m)
	var got []int
	held := -1
	for s.Scan() {
		got = append(got, len(s.Message()))
		if len(got) == 3 {
			held = m.held // the small frame left the buffer empty: it shrank before this read
		}
	}
	if len(got) != 3 || got[0] != len(large) || m.peak < len(large)-initialBufferBytes {
		t.Fatalf("messages %v, memory peak %d: want the %d-byte message first, its buffer accounted", got, m.peak, len(large))
	}
	if held != 0 || m.held != 0 {
		t.Errorf("memory held %d after a small frame and %d at the end, want 0 and 0", held, m.held)
	}

	refused := NewScanner(strings.NewReader(large+"\n"), 1<<20)
	refused.SetMemory(&countingMemory{limit: 16 << 10})
	if !refused.Scan() || !refused.Incomplete() || len(refused.Message()) == len(large) || refused.Scan() {
		t.Errorf("Scan with memory refused: %d bytes, incomplete %v; want what was read, incomplete, then the end",
			len(refused.Message()), refused.Incomplete())
	}
	if err := refused.Err(); err == nil || !strings.Contains(err.Error(), "no memory") {
		t.Errorf("Err() = %v, want the memory error", err)
	}
}

// TestScannerIncomplete checks which last messages are reported cut off by the end of the stream.
func TestScannerIncomplete(t *testing.T) {
	tests := []struct {
		name string
		r    io.Reader
		want []bool // Incomplete of each message
	}{
		{name: "line at EOF", r: strings.NewReader("<13>a\n<13>b"), want: []bool{false, false}},
		{name: "line at a timeout", r: &pausingReader{chunks: []string{"<13>a\n<13>b"}, err: os.ErrDeadlineExceeded}, want: []bool{false, true}},
		{name: "counted at EOF", r: strings.NewReader("5 <13>a10 <13>b"), want: []bool{false, true}},
		{name: "counted at a timeout", r: iotest.TimeoutReader(strings.NewReader("10 <13>b")), want: []bool{true}},
		{name: "whole frames", r: strings.NewReader("5 <13>a\n"), want: []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewScanner(tt.r, 0)
			var got []bool
			for s.Scan() {
				got = append(got, s.Incomplete())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Incomplete of the messages = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("Incomplete of the messages = %v, want %v", got, tt.want)
				}
			}
		})
	}
}
