package record

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestEncoderFrom checks that an Encoder that hands its records over makes the same records as
// one that reuses its buffer, whatever buffers get gives: records handed over are never written
// again, a buffer given back with old bytes in it is overwritten, and one too small is replaced.
func TestEncoderFrom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ev := events(2000, func(int) []byte { return randomText(r, 2000) })
	h := Header{Owner: "123456789012", LogGroup: "/kinesyslog/syslog/514", LogStream: "10.0.0.5"}
	var want [][]byte
	if _, _, err := NewEncoder().Encode(h, ev, false, func(rec []byte) error {
		want = append(want, bytes.Clone(rec))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		get     func(free [][]byte) []byte // free: the records emitted so far, the last last
		buffers int                        // distinct buffers of the records; 0: one per record
	}{
		{name: "allocates", get: func([][]byte) []byte { return nil }},
		{name: "reuses", get: func(free [][]byte) []byte {
			if len(free) == 0 {
				return nil
			}
			last := free[len(free)-1][:BufferBytes]
			for i := range last {
				last[i] = 0xff // old bytes the Encoder must overwrite
			}
			return last
		}, buffers: 1},
		{name: "too small", get: func([][]byte) []byte { return make([]byte, 10, 100) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]byte
			var compared int // records of got checked before get may give them back
			enc := NewEncoderFrom(func() []byte {
				for ; compared < len(got); compared++ {
					if !bytes.Equal(got[compared], want[compared]) {
						t.Fatalf("record %d differs from NewEncoder's", compared)
					}
				}
				return tt.get(got)
			})
			if _, _, err := enc.Encode(h, ev, false, func(rec []byte) error {
				got = append(got, rec)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || len(want) < 3 {
				t.Fatalf("%d records, want NewEncoder's %d (at least 3)", len(got), len(want))
			}
			buffers := map[*byte]bool{}
			for i, rec := range got {
				if len(rec) > TargetBytes || cap(rec) < BufferBytes {
					t.Errorf("record %d: %d bytes in a buffer of %d, want at most %d in one of at least %d", i, len(rec), cap(rec), TargetBytes, BufferBytes)
				}
				buffers[unsafe.SliceData(rec)] = true
			}
			if tt.buffers == 0 {
				// Nothing was given back: every record handed over is as it was emitted.
				for i := range got {
					if !bytes.Equal(got[i], want[i]) {
						t.Errorf("record %d differs from NewEncoder's", i)
					}
				}
				tt.buffers = len(got)
			} else if !bytes.Equal(got[len(got)-1], want[len(want)-1]) {
				t.Errorf("the last record differs from NewEncoder's")
			}
			if len(buffers) != tt.buffers {
				t.Errorf("records in %d buffers, want %d", len(buffers), tt.buffers)
			}
		})
	}
}
