package gelf

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2026, 2, 21, 21, 7, 50, 0, time.UTC)

// step is one datagram given to Add and what Add must return for it.
type step struct {
	source   netip.AddrPort // sourceA when zero
	datagram []byte
	after    time.Duration // since t0
	want     []byte        // nil: no message
	err      error         // nil: no error
}

func runSteps(t *testing.T, a *Assembler, steps []step) {
	t.Helper()
	for i, s := range steps {
		src := s.source
		if !src.IsValid() {
			src = sourceA
		}
		got, err := a.Add(src, s.datagram, t0.Add(s.after), nil)
		if !errors.Is(err, s.err) || (err != nil) != (s.err != nil) {
			t.Fatalf("step %d: Add(% x...) error = %v, want %v", i, head(s.datagram), err, s.err)
		}
		if diff := cmp.Diff(string(s.want), string(got)); diff != "" || (got == nil) != (s.want == nil) {
			t.Fatalf("step %d: Add(% x...) message (-want +got, nil %t):\n%s", i, head(s.datagram), got == nil, diff)
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 12)] }

func TestAddPayloads(t *testing.T) {
	msg := gelfJSON(300)
	big := gelfJSON(50_000)
	tests := []struct {
		name     string
		datagram []byte
		want     []byte
		err      error
	}{
		{name: "plain", datagram: msg, want: msg},
		{name: "plain with whitespace", datagram: []byte(" \n{}\n"), want: []byte(" \n{}\n")},
		{name: "plain not JSON", datagram: []byte("<13>hello"), want: []byte("<13>hello")},
		{name: "single byte", datagram: []byte("x"), want: []byte("x")},
		{name: "gzip", datagram: gzipped(t, msg), want: msg},
		{name: "gzip large", datagram: gzipped(t, big), want: big},
		{name: "zlib default", datagram: zlibbed(t, msg, flate.DefaultCompression), want: msg},
		{name: "zlib fastest", datagram: zlibbed(t, msg, flate.BestSpeed), want: msg},
		{name: "zlib best", datagram: zlibbed(t, msg, flate.BestCompression), want: msg},
		{name: "zlib stored", datagram: zlibbed(t, msg, flate.NoCompression), want: msg},
		{name: "gzip with trailing bytes", datagram: append(gzipped(t, msg), "junk"...), want: msg},
		{name: "one-chunk message", datagram: chunk(1, 0, 1, gzipped(t, msg)), want: msg},
		{name: "empty datagram", datagram: []byte{}, err: ErrEmpty},
		{name: "nil datagram", datagram: nil, err: ErrEmpty},
		{name: "gzip of nothing", datagram: gzipped(t, nil), err: ErrEmpty},
		{name: "one empty chunk", datagram: chunk(1, 0, 1, nil), err: ErrEmpty},
		// What the listener would trim to nothing must be an error it counts, not vanish.
		{name: "plain NULs", datagram: make([]byte, 1000), err: ErrEmpty},
		{name: "plain line ends", datagram: []byte("\r\n\x00\n"), err: ErrEmpty},
		{name: "gzip of NULs", datagram: gzipped(t, make([]byte, 100_000)), err: ErrEmpty},
		{name: "zlib of NULs", datagram: zlibbed(t, make([]byte, 100_000), 6), err: ErrEmpty},
		{name: "gzip of NULs past the limit", datagram: gzipped(t, make([]byte, 2*DefaultMaxMessageBytes)), err: ErrEmpty},
		{name: "NULs after a message", datagram: gzipped(t, append(bytes.Clone(msg), make([]byte, 500)...)),
			want: append(bytes.Clone(msg), make([]byte, 500)...)},
		{name: "gzip truncated", datagram: gzipped(t, msg)[:40], err: ErrDecompress},
		{name: "gzip header only", datagram: gzipped(t, msg)[:5], err: ErrDecompress},
		{name: "gzip magic only", datagram: []byte{0x1f, 0x8b}, err: ErrDecompress},
		{name: "gzip bad checksum", datagram: corruptTrailer(gzipped(t, msg), 8), err: ErrDecompress},
		{name: "zlib truncated", datagram: zlibbed(t, msg, 6)[:30], err: ErrDecompress},
		{name: "zlib bad checksum", datagram: corruptTrailer(zlibbed(t, msg, 6), 4), err: ErrDecompress},
		{name: "zlib with preset dictionary", datagram: []byte{0x78, 0xbb, 0, 0, 0, 1}, err: ErrDecompress},
		{name: "chunk header short", datagram: chunk(1, 0, 2, nil)[:11], err: ErrBadChunk},
		{name: "chunk magic alone", datagram: []byte{0x1e, 0x0f}, err: ErrBadChunk},
		{name: "sequence count 0", datagram: chunk(1, 0, 0, msg), err: ErrBadChunk},
		{name: "sequence number equal to count", datagram: chunk(1, 3, 3, msg), err: ErrBadChunk},
		{name: "sequence number above count", datagram: chunk(1, 200, 3, msg), err: ErrBadChunk},
		{name: "129 chunks", datagram: chunk(1, 0, 129, msg), err: ErrTooManyChunks},
		{name: "255 chunks", datagram: chunk(1, 254, 255, msg), err: ErrTooManyChunks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, NewAssembler(Options{}), []step{{datagram: tt.datagram, want: tt.want, err: tt.err}})
		})
	}
}

// corruptTrailer flips a bit in the checksum that ends b, n bytes from its end.
func corruptTrailer(b []byte, n int) []byte {
	b = bytes.Clone(b)
	b[len(b)-n] ^= 1
	return b
}

func TestAddChunks(t *testing.T) {
	msg := gelfJSON(20_000)
	gz := gzipped(t, msg)
	plain := split(7, msg, 3)
	zipped := split(8, gz, 4)
	max := split(9, msg, MaxChunks)
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "plain in order", steps: []step{
			{datagram: plain[0]}, {datagram: plain[1]}, {datagram: plain[2], want: msg}}},
		{name: "gzip out of order", steps: []step{
			{datagram: zipped[3]}, {datagram: zipped[1]}, {datagram: zipped[0]}, {datagram: zipped[2], want: msg}}},
		{name: "duplicates ignored", steps: []step{
			{datagram: plain[1]}, {datagram: plain[1]}, {datagram: plain[0]}, {datagram: plain[1]},
			{datagram: plain[2], want: msg}}},
		{name: "duplicate with other content keeps the first", steps: []step{
			{datagram: plain[0]}, {datagram: chunk(7, 0, 3, []byte("spoof"))}, {datagram: plain[1]},
			{datagram: plain[2], want: msg}}},
		{name: "128 chunks", steps: func() []step {
			s := make([]step, MaxChunks)
			for i := range MaxChunks {
				// Reverse order: the last chunk to arrive is sequence number 0.
				s[i] = step{datagram: max[MaxChunks-1-i]}
			}
			s[MaxChunks-1].want = msg
			return s
		}()},
		{name: "magic across one-byte chunks", steps: []step{
			{datagram: chunk(3, 1, 3, gz[1:2])}, {datagram: chunk(3, 0, 3, gz[:1])},
			{datagram: chunk(3, 2, 3, gz[2:]), want: msg}}},
		{name: "empty chunks in between", steps: []step{
			{datagram: chunk(4, 0, 3, msg[:10])}, {datagram: chunk(4, 1, 3, nil)},
			{datagram: chunk(4, 2, 3, msg[10:]), want: msg}}},
		{name: "all chunks empty", steps: []step{
			{datagram: chunk(4, 0, 2, nil)}, {datagram: chunk(4, 1, 2, nil), err: ErrEmpty}}},
		{name: "count mismatch rejected, set kept", steps: []step{
			{datagram: plain[0]}, {datagram: chunk(7, 1, 4, msg), err: ErrBadChunk},
			{datagram: plain[1]}, {datagram: plain[2], want: msg}}},
		{name: "same id from two senders interleaved", steps: []step{
			{source: sourceA, datagram: plain[0]}, {source: sourceB, datagram: chunk(7, 1, 3, []byte(`"b":2}`))},
			{source: sourceB, datagram: chunk(7, 0, 3, []byte(`{"a":1,`))}, {source: sourceA, datagram: plain[1]},
			{source: sourceA, datagram: plain[2], want: msg},
			{source: sourceB, datagram: chunk(7, 2, 3, nil), want: []byte(`{"a":1,"b":2}`)}}},
		{name: "same address, other port is another sender", steps: []step{
			{source: sourceA, datagram: plain[0]}, {source: sourceA, datagram: plain[1]},
			{source: netip.AddrPortFrom(sourceA.Addr(), 1), datagram: plain[2]}}},
		{name: "message id reused after completion", steps: []step{
			{datagram: plain[0]}, {datagram: plain[1]}, {datagram: plain[2], want: msg},
			{datagram: plain[2]}, {datagram: plain[0]}, {datagram: plain[1], want: msg}}},
		{name: "corrupt compressed set", steps: []step{
			{datagram: zipped[0]}, {datagram: zipped[1]}, {datagram: zipped[2]},
			{datagram: chunk(8, 3, 4, []byte{1, 2, 3}), err: ErrDecompress}}},
		{name: "complete just before expiry", steps: []step{
			{datagram: plain[0]}, {datagram: plain[1], after: time.Second},
			{datagram: plain[2], after: DefaultExpiry - time.Nanosecond, want: msg}}},
		{name: "missing chunk expires", steps: []step{
			{datagram: plain[0]}, {datagram: plain[1], after: time.Second},
			// Arriving at the deadline, the last chunk starts a set of its own, which the
			// first two chunks, resent, then complete.
			{datagram: plain[2], after: DefaultExpiry},
			{datagram: plain[0], after: DefaultExpiry + 1}, {datagram: plain[1], after: DefaultExpiry + 2, want: msg}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAssembler(Options{})
			runSteps(t, a, tt.steps)
		})
	}
}

func TestExpiry(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	a := NewAssembler(Options{Registerer: reg, Expiry: 2 * time.Second, Logger: logger})
	msg := gelfJSON(1000)
	runSteps(t, a, []step{
		{datagram: chunk(1, 0, 2, msg)},
		{datagram: chunk(2, 0, 2, msg), after: time.Second},
		{datagram: chunk(3, 0, 2, msg), source: sourceB, after: time.Second},
	})
	if sets, _ := a.stats(); sets != 3 {
		t.Fatalf("pending sets = %d, want 3", sets)
	}
	if n := a.Sweep(t0.Add(2*time.Second - 1)); n != 0 {
		t.Errorf("Sweep before any deadline dropped %d sets", n)
	}
	if n := a.Sweep(t0.Add(2 * time.Second)); n != 1 {
		t.Errorf("Sweep at the first deadline dropped %d sets, want 1", n)
	}
	if want := "level=WARN msg=\"GELF chunked messages dropped incomplete\" expired=1"; !strings.Contains(logs.String(), want) {
		t.Errorf("log = %q, want a line with %q", logs.String(), want)
	}
	// Add expires the rest on its way, even for another sender's chunk.
	runSteps(t, a, []step{{datagram: chunk(4, 0, 2, msg), source: sourceB, after: 3 * time.Second}})
	if sets, bytes := a.stats(); sets != 1 || bytes <= 0 {
		t.Errorf("pending after expiry = %d sets, %d bytes, want the newest set alone", sets, bytes)
	}
	if got := testutil.ToFloat64(a.metrics.expired); got != 3 {
		t.Errorf("expired sets counted = %v, want 3", got)
	}
	if n := a.Sweep(t0.Add(time.Hour)); n != 1 {
		t.Errorf("Sweep dropped %d sets, want 1", n)
	}
	// The memory of the sets dropped is kept for the next chunks until a Sweep finds it unused
	// since the one before.
	a.Sweep(t0.Add(time.Hour + time.Second))
	if sets, bytes := a.stats(); sets != 0 || bytes != 0 {
		t.Errorf("pending after the last sweeps = %d sets, %d bytes, want none", sets, bytes)
	}
	if n, err := testutil.GatherAndCount(reg, "kinesyslog_gelf_chunk_sets_expired_total", "kinesyslog_gelf_pending_chunk_sets"); err != nil || n != 2 {
		t.Errorf("registered metrics: %d, %v", n, err)
	}
}

func TestPendingBound(t *testing.T) {
	const chunkBytes = 10_000
	payload := bytes.Repeat([]byte("a"), chunkBytes)
	// Room for three sets holding one chunk each, not four.
	setBytes := setOverheadBytes + 3*pageBytes
	maxPending := 3*setBytes + setBytes/2
	a := NewAssembler(Options{MaxPendingBytes: maxPending})
	for id := range uint64(3) {
		if _, err := a.Add(sourceA, chunk(id, 0, 2, payload), t0, nil); err != nil {
			t.Fatalf("Add(set %d) error = %v", id, err)
		}
	}
	if _, err := a.Add(sourceA, chunk(3, 0, 2, payload), t0, nil); err != nil {
		t.Fatalf("Add(set 3) error = %v", err)
	}
	if sets, bytes := a.stats(); sets != 3 || bytes > maxPending {
		t.Errorf("pending = %d sets, %d bytes, want 3 sets within %d bytes", sets, bytes, maxPending)
	}
	if got := testutil.ToFloat64(a.metrics.evicted); got != 1 {
		t.Errorf("evicted sets = %v, want 1", got)
	}
	// The oldest set was evicted: its second chunk starts a new set instead of completing it.
	if msg, err := a.Add(sourceA, chunk(0, 1, 2, payload), t0, nil); msg != nil || err != nil {
		t.Errorf("second chunk of the evicted set: Add = %q, %v, want nil, nil", msg, err)
	}
	// The newest set is intact.
	msg, err := a.Add(sourceA, chunk(3, 1, 2, payload), t0, nil)
	if err != nil || len(msg) != 2*chunkBytes {
		t.Errorf("second chunk of the newest set: Add = %d bytes, %v, want %d bytes", len(msg), err, 2*chunkBytes)
	}

	// A set that cannot fit even alone is dropped with ErrTooLarge.
	small := NewAssembler(Options{MaxPendingBytes: setBytes})
	if _, err := small.Add(sourceA, chunk(1, 0, 3, payload), t0, nil); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	if _, err := small.Add(sourceA, chunk(1, 1, 3, payload), t0, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("second chunk over the bound: error = %v, want ErrTooLarge", err)
	}
	if sets, bytes := small.stats(); sets != 0 || bytes > setBytes {
		t.Errorf("pending after the drop = %d sets, %d bytes, want none within %d bytes", sets, bytes, setBytes)
	}
}

func TestMaxMessageBytes(t *testing.T) {
	const limit = 4096
	msg := gelfJSON(10_000)
	tests := []struct {
		name  string
		steps func(t *testing.T) [][]byte
	}{
		{name: "plain", steps: func(*testing.T) [][]byte { return [][]byte{msg} }},
		{name: "gzip", steps: func(t *testing.T) [][]byte { return [][]byte{gzipped(t, msg)} }},
		{name: "zlib", steps: func(t *testing.T) [][]byte { return [][]byte{zlibbed(t, msg, 6)} }},
		{name: "chunked plain", steps: func(*testing.T) [][]byte { return split(1, msg, 5) }},
		{name: "chunked gzip", steps: func(t *testing.T) [][]byte { return split(1, gzipped(t, msg), 2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAssembler(Options{MaxMessageBytes: limit})
			dst := []byte("prefix")
			var got []byte
			var err error
			for _, d := range tt.steps(t) {
				got, err = a.Add(sourceA, d, t0, dst)
			}
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Add error = %v, want ErrTooLarge", err)
			}
			if want := "prefix" + string(msg[:limit]); string(got) != want {
				t.Errorf("Add = %d bytes %.20q..., want the prefix and the first %d bytes", len(got), got, limit)
			}
		})
	}
	t.Run("exactly the limit", func(t *testing.T) {
		a := NewAssembler(Options{MaxMessageBytes: len(msg)})
		got, err := a.Add(sourceA, gzipped(t, msg), t0, nil)
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("Add = %d bytes, %v, want the whole %d-byte message", len(got), err, len(msg))
		}
	})
}

// TestZipBomb checks that a payload expanding to gigabytes costs no more memory than the
// message limit, whether it comes in one datagram or in chunks.
func TestZipBomb(t *testing.T) {
	const limit = 1 << 20
	// Not zeros: a message of NULs is refused as empty (TestAddPayloads).
	fill := bytes.Repeat([]byte("a"), 1<<16)
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	for range (64 << 20) / len(fill) {
		w.Write(fill)
	}
	w.Close()
	deflated := buf.Bytes() // 64 MiB of one byte in about 64 KB
	gz := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, deflated...)
	gz = append(gz, 0, 0, 0, 0, 0, 0, 0, 0) // wrong trailer: never reached

	tests := []struct {
		name      string
		datagrams [][]byte
	}{
		{name: "one datagram", datagrams: [][]byte{gz[:60_000]}},
		{name: "chunked", datagrams: split(1, gz, 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAssembler(Options{MaxMessageBytes: limit})
			// Warm the pools so that only the message itself is measured.
			a.Add(sourceA, gzipped(t, []byte("{}")), t0, nil)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var got []byte
			var err error
			for _, d := range tt.datagrams {
				got, err = a.Add(sourceA, d, t0, nil)
			}
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) || len(got) != limit {
				t.Fatalf("Add = %d bytes, %v, want %d bytes and ErrTooLarge", len(got), err, limit)
			}
			// Growing the message by doubling costs about twice the limit; a decompressor that
			// ran to the end would allocate the bomb's 64 MiB.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*limit {
				t.Errorf("decompressing the bomb allocated %d bytes, want under %d", alloc, 4*limit)
			}
		})
	}
}

// TestConcurrentSenders runs senders whose chunks interleave across goroutines sharing one
// Assembler, as several socket readers do; run with -race.
func TestConcurrentSenders(t *testing.T) {
	const senders, messages, chunks = 8, 50, 5
	a := NewAssembler(Options{})
	var wg sync.WaitGroup
	results := make([][]string, senders)
	for s := range senders {
		src := netip.AddrPortFrom(sourceA.Addr(), uint16(1000+s))
		wg.Go(func() {
			for m := range messages {
				msg := fmt.Appendf(nil, `{"sender":%d,"message":%d,"pad":"%0400d"}`, s, m, m)
				// Every sender uses the same ids, and sends its chunks backwards.
				parts := split(uint64(m), msg, chunks)
				for i := len(parts) - 1; i >= 0; i-- {
					got, err := a.Add(src, parts[i], t0, nil)
					if err != nil {
						t.Errorf("sender %d message %d: %v", s, m, err)
					}
					if got != nil {
						results[s] = append(results[s], string(got))
					}
				}
			}
		})
	}
	wg.Wait()
	for s := range senders {
		if len(results[s]) != messages {
			t.Fatalf("sender %d: %d messages, want %d", s, len(results[s]), messages)
		}
		for m, got := range results[s] {
			if want := fmt.Sprintf(`{"sender":%d,"message":%d,"pad":"%0400d"}`, s, m, m); got != want {
				t.Errorf("sender %d message %d = %.40q, want %.40q", s, m, got, want)
			}
		}
	}
	a.Sweep(t0)
	a.Sweep(t0)
	if sets, bytes := a.stats(); sets != 0 || bytes != 0 {
		t.Errorf("after every message completed and two sweeps, %d sets pending, %d bytes held", sets, bytes)
	}
}

// TestAddAllocations checks that Add allocates nothing per datagram once its pools are warm and
// the caller reuses its buffer.
func TestAddAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	msg := gelfJSON(2000)
	gz := gzipped(t, msg)
	zl := zlibbed(t, msg, 6)
	chunks := split(1, gz, 3)
	tests := []struct {
		name      string
		datagrams [][]byte
	}{
		{name: "plain", datagrams: [][]byte{msg}},
		{name: "gzip", datagrams: [][]byte{gz}},
		{name: "zlib", datagrams: [][]byte{zl}},
		{name: "chunked gzip", datagrams: chunks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAssembler(Options{})
			dst := make([]byte, 0, 4096)
			allocs := testing.AllocsPerRun(100, func() {
				for _, d := range tt.datagrams {
					if _, err := a.Add(sourceA, d, t0, dst); err != nil {
						t.Fatal(err)
					}
				}
			})
			if allocs > 0 {
				t.Errorf("Add allocated %.1f times per message", allocs)
			}
		})
	}
}

// TestSweepLetsIdleMemoryGo checks that the sets and pages of dropped sets are kept for the next
// chunks, and let go by a Sweep when none has taken them since the Sweep before.
func TestSweepLetsIdleMemoryGo(t *testing.T) {
	payload := bytes.Repeat([]byte("a"), 10_000) // 3 pages
	setBytes := setOverheadBytes + 3*pageBytes
	a := NewAssembler(Options{})
	for id := range uint64(10) {
		if _, err := a.Add(sourceA, chunk(id, 0, 2, payload), t0, nil); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name        string
		do          func()
		sets, bytes int
	}{
		{name: "10 sets pending", do: func() {}, sets: 10, bytes: 10 * setBytes},
		{name: "expired, kept for reuse", do: func() { a.Sweep(t0.Add(DefaultExpiry)) }, bytes: 10 * setBytes},
		{name: "one set reuses some", do: func() { a.Add(sourceA, chunk(20, 0, 2, payload), t0.Add(DefaultExpiry), nil) },
			sets: 1, bytes: 10 * setBytes},
		{name: "what none took goes", do: func() { a.Sweep(t0.Add(DefaultExpiry)) }, sets: 1, bytes: setBytes},
		{name: "the last set expires", do: func() { a.Sweep(t0.Add(2 * DefaultExpiry)) }, bytes: setBytes},
		{name: "then goes", do: func() { a.Sweep(t0.Add(2 * DefaultExpiry)) }},
	}
	for _, s := range steps {
		s.do()
		if sets, bytes := a.stats(); sets != s.sets || bytes != s.bytes {
			t.Errorf("%s: %d sets pending, %d bytes held, want %d sets, %d bytes", s.name, sets, bytes, s.sets, s.bytes)
		}
	}
}

func TestSetOverhead(t *testing.T) {
	if size := int(unsafe.Sizeof(set{})); size >= setOverheadBytes-256 {
		t.Errorf("a set is %d bytes, setOverheadBytes %d leaves too little for its map entry", size, setOverheadBytes)
	}
}

// TestPendingFloodMemory floods an Assembler with 2,000 chunk sets that never complete, each
// growing a chunk at a time alongside the others, to five times its pending cap. What it counts
// must stay within the cap throughout, and what it allocates over the whole flood within the cap
// and a small margin: so the heap cannot outgrow the cap, whatever the collector's timing.
func TestPendingFloodMemory(t *testing.T) {
	const (
		capBytes   = 16 << 20
		sets       = 2000
		chunks     = 32
		chunkBytes = 1400
		// marginBytes is the pending sets' map and what the race detector's sync.Pool drops.
		marginBytes = capBytes / 4
	)
	a := NewAssembler(Options{MaxPendingBytes: capBytes})
	datagram := chunk(0, 0, MaxChunks, bytes.Repeat([]byte("x"), chunkBytes))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for seq := range chunks {
		for id := range sets {
			binary.BigEndian.PutUint64(datagram[2:10], uint64(id))
			datagram[10] = byte(seq)
			if msg, err := a.Add(sourceA, datagram, t0, nil); msg != nil || err != nil {
				t.Fatalf("Add(set %d chunk %d) = %d bytes, %v, want nil, nil", id, seq, len(msg), err)
			}
		}
		if _, held := a.stats(); held > capBytes {
			t.Fatalf("after round %d, pending bytes %d, want at most %d", seq, held, capBytes)
		}
	}
	runtime.ReadMemStats(&after)
	evicted := testutil.ToFloat64(a.metrics.evicted)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MB of chunks against a %d MiB cap: %.0f sets evicted, %.1f MiB allocated",
		sets*chunks*chunkBytes/1_000_000, capBytes>>20, evicted, float64(alloc)/(1<<20))
	if evicted == 0 {
		t.Errorf("no set evicted: the flood did not reach the cap")
	}
	if alloc > capBytes+marginBytes {
		t.Errorf("the flood allocated %d bytes, want at most the cap %d and %d more", alloc, capBytes, marginBytes)
	}
}
