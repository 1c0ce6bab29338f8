package record

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestEncodeYields checks that Encode lets goroutines that wait for a processor run while it
// compresses (the intake log's writer, back from a system call), rather than only when Go
// preempts it after 10 ms: with one processor, a goroutine made runnable just before a short
// Encode (one record of 139 KB of events, a millisecond or two) has run before the record is
// emitted.
func TestEncodeYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ev := events(1000, func(i int) []byte {
		return fmt.Appendf(nil, "<13>1 2024-01-01T00:00:00Z host app %d - - message %d of the test", i%7, i)
	})
	h := Header{Owner: "123456789012", LogGroup: "/kinesyslog/syslog/514", LogStream: "10.0.0.5"}
	enc := NewEncoder()
	var ran atomic.Bool
	go func() { ran.Store(true) }()
	records, ranBefore := 0, false
	if _, _, err := enc.Encode(h, ev, false, func([]byte) error {
		if records == 0 {
			ranBefore = ran.Load()
		}
		records++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if records != 1 {
		t.Fatalf("Encode of %d bytes of events made %d records, want 1", len(ev.Data), records)
	}
	if !ranBefore {
		t.Errorf("a runnable goroutine did not run while Encode compressed %d bytes of events on the only processor", len(ev.Data))
	}
}
