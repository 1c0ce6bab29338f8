package event_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/event"
	"github.com/kinesyslog/kinesyslog/internal/gelf"
	"github.com/kinesyslog/kinesyslog/internal/listener"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/syslog"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

var (
	_ event.Stamper = syslog.Stamper{}
	_ event.Stamper = gelf.Stamper{}
)

// fixedStamper stamps every message with ts and rewrites messages that start with "!" as their
// source and the rest.
type fixedStamper struct{ ts time.Time }

func (s fixedStamper) Stamp(dst, msg []byte, _ time.Time, source string) (time.Time, []byte) {
	if len(msg) > 0 && msg[0] == '!' {
		return s.ts, append(append(dst, source+" "...), msg[1:]...)
	}
	return s.ts, nil
}

var (
	t0      = time.Date(2026, 11, 25, 2, 34, 55, 400_600_000, time.UTC) // .4006 s: rounds up
	source  = netip.MustParseAddr("10.0.0.1")
	stamper = fixedStamper{ts: t0}
)

// open returns a *event.Stream of source to port 514 into b.
func open(b *buffer.Buffers) *event.Stream {
	return event.NewStreams(b, stamper, nil, 0).Stream(source, 514).(*event.Stream)
}

// events decodes the events of a batch.
func events(t *testing.T, b *buffer.Batch) []record.Event {
	t.Helper()
	var out []record.Event
	for i := range b.Len() {
		var ev record.Event
		if err := json.Unmarshal(b.Event(i), &ev); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		out = append(out, ev)
	}
	return out
}

func messages(t *testing.T, b *buffer.Batch) []string {
	t.Helper()
	var out []string
	for _, ev := range events(t, b) {
		out = append(out, ev.Message)
	}
	return out
}

// collect reads every batch until Close, releasing each, and returns their messages.
func collect(t *testing.T, b *buffer.Buffers) <-chan []string {
	done := make(chan []string, 1)
	go func() {
		var got []string
		for batch := range b.Batches() {
			got = append(got, messages(t, batch)...)
			b.Done(batch, batch.Len(), record.Stats{})
		}
		done <- got
	}()
	return done
}

// TestStream checks what an event holds (the stamp, rounded to the millisecond; the message, or
// its rewrite; an id of its Stream), that the Receipt of a commit says the events are in memory
// only, and that commits fail after the buffers close.
func TestStream(t *testing.T) {
	b := buffer.New(buffer.Options{})
	got := make(chan []*buffer.Batch, 1)
	go func() {
		var all []*buffer.Batch
		for batch := range b.Batches() {
			all = append(all, batch)
		}
		got <- all
	}()
	s := open(b)
	received := t0.Add(time.Hour)
	for _, m := range []string{"one", "!two", "three"} {
		s.Add(context.Background(), []byte(m), received)
	}
	receipt, err := s.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := receipt.Durable(context.Background()); !errors.Is(err, event.ErrNotDurable) {
		t.Errorf("Receipt.Durable = %v, want ErrNotDurable", err)
	}
	b.Close()
	all := <-got
	if len(all) != 1 || all[0].Key != (buffer.Key{Source: source, Port: 514}) || !all[0].Oldest.Equal(received) {
		t.Fatalf("batches %+v, want one of %v, port 514, oldest %v", all, source, received)
	}
	evs := events(t, all[0])
	var msgs []string
	for i, ev := range evs {
		msgs = append(msgs, ev.Message)
		if want := t0.Round(time.Millisecond).UnixMilli(); ev.Timestamp != want {
			t.Errorf("event %d timestamp %d, want the stamp rounded, %d", i, ev.Timestamp, want)
		}
		if i > 0 && ev.ID <= evs[i-1].ID {
			t.Errorf("event %d id %s not after %s", i, ev.ID, evs[i-1].ID)
		}
	}
	if fmt.Sprint(msgs) != "[one 10.0.0.1 two three]" {
		t.Errorf("messages %v, want [one 10.0.0.1 two three]", msgs)
	}
	if _, err := s.Commit(context.Background()); err != nil {
		t.Errorf("Commit of nothing after Close = %v, want nil", err)
	}
	s.Add(context.Background(), []byte("late"), received)
	if r, err := s.Commit(context.Background()); !errors.Is(err, buffer.ErrClosed) || r != nil {
		t.Errorf("Commit after Close = %v, %v; want nil, ErrClosed", r, err)
	}
}

// TestAddCommitsLargeStaging checks that a Stream whose caller seldom commits hands its messages
// on by itself, feeling backpressure, instead of staging without bound.
func TestAddCommitsLargeStaging(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := buffer.New(buffer.Options{FlushBytes: buffer.MaxStagedBytes, Queue: 1, Registerer: reg})
	s := open(b)
	const n = 600 // about 6 MiB: more than the queue and one batch being filled can hold
	var want []string
	var maxStaged int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			msg := fmt.Sprintf("m%d-", i) + strings.Repeat("x", 10_000)
			s.Add(context.Background(), []byte(msg), t0)
			want = append(want, msg)
			maxStaged = max(maxStaged, s.Staged())
		}
	}()
	// Nobody reads the batches yet: Add must come to block.
	testenv.Eventually(t, "Add blocked", func() bool { return testenv.Metric(t, reg, "kinesyslog_buffer_waiting_commits") == 1 })
	select {
	case <-done:
		t.Fatal("Add staged every message with the encoder stage stalled")
	default:
	}
	got := collect(t, b)
	<-done
	if _, err := s.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if g := <-got; fmt.Sprint(g) != fmt.Sprint(want) {
		t.Errorf("got %d messages, want the %d added, in order", len(g), len(want))
	}
	if maxStaged > buffer.MaxStagedBytes+10_100 {
		t.Errorf("Stream staged up to %d bytes, want at most about %d", maxStaged, buffer.MaxStagedBytes)
	}
}

// TestTryAddNeverBlocks stages far more than buffer.MaxStagedBytes with TryAdd while the buffers
// are at their cap and nothing reads their batches: TryAdd and TryCommit return, dropping and
// counting what does not fit.
func TestTryAddNeverBlocks(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := buffer.New(buffer.Options{MaxBytes: 64 << 10, FlushBytes: 1 << 30, Registerer: reg})
	filler := event.NewStreams(b, stamper, nil, 0).Stream(netip.MustParseAddr("10.0.0.9"), 514)
	for i := range 60 {
		filler.Add(context.Background(), fmt.Appendf(nil, "f%d-%0*d", i, 1000, 0), t0)
	}
	if _, err := filler.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := open(b)
	const n = 400 // 4 MB of events
	done := make(chan bool)
	go func() {
		for i := range n {
			s.TryAdd(fmt.Appendf(nil, "m%d-%0*d", i, 10_000, 0), t0)
		}
		done <- s.TryCommit()
	}()
	testenv.Eventually(t, "TryAdd and TryCommit returned", func() bool {
		select {
		case ok := <-done:
			if ok {
				t.Error("TryCommit at the cap = true, want false")
			}
			return true
		default:
			return false
		}
	})
	if got := testenv.Metric(t, reg, "kinesyslog_buffer_dropped_messages_total"); got != n {
		t.Errorf("dropped_messages_total = %v, want %d", got, n)
	}
	got := collect(t, b)
	b.Close()
	<-got
}

// TestStreamAllocs checks that adding and committing messages allocates nothing once the
// buffers' stagings and batches have grown.
func TestStreamAllocs(t *testing.T) {
	b := buffer.New(buffer.Options{Queue: 1000})
	s := open(b)
	msg := []byte("<13>1 2026-11-25T02:34:55Z host app - - - hello")
	rewritten := []byte("!no header")
	for range 100 {
		s.Add(context.Background(), msg, t0)
		s.Add(context.Background(), rewritten, t0)
	}
	s.Commit(context.Background())
	allocs := testing.AllocsPerRun(1000, func() {
		s.Add(context.Background(), msg, t0)
		s.Add(context.Background(), rewritten, t0)
		s.Commit(context.Background())
	})
	if allocs != 0 {
		t.Errorf("Add+Commit allocates %v times, want 0", allocs)
	}
}

// TestUDPReaderAtTheCap has a real UDP listener take a batch of datagrams whose events are far
// over a mebibyte while the buffers are at their cap and nothing reads their batches: the reader
// must drop and count what cannot be taken and go on reading, never wait for memory.
func TestUDPReaderAtTheCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.DiscardHandler)
	buffers := buffer.New(buffer.Options{MaxBytes: 1 << 20, FlushBytes: 64 << 20, Registerer: reg, Logger: logger})
	l, err := listener.Listen(listener.Options{Address: "127.0.0.1", UDPPorts: []int{testenv.FreePort(t)}, UDPReaders: 1,
		Registerer: reg, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", l.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Bytes that are not UTF-8 take five bytes each as JSON: 32 datagrams of 30 KB, queued before
	// the reader starts so that one read takes them all, make 4.8 MB of events.
	datagram := bytes.Repeat([]byte{0xff}, 30_000)
	const sent = 40
	for range sent {
		if _, err := conn.Write(datagram); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx, event.NewStreams(buffers, syslog.Stamper{}, nil, 0)) })
	// Cleanups: a record stage that releases the batches, so that a reader waiting for memory
	// (the failure this test is for) can end; then the listener and the buffers stop.
	defer func() {
		got := collect(t, buffers)
		cancel()
		wg.Wait()
		buffers.Close()
		<-got
	}()
	testenv.Eventually(t, "every datagram read", func() bool { return testenv.Metric(t, reg, "kinesyslog_messages_received_total") == sent })
	dropped := testenv.Metric(t, reg, "kinesyslog_buffer_dropped_messages_total")
	if dropped == 0 || dropped >= sent {
		t.Errorf("kinesyslog_buffer_dropped_messages_total = %v, want some of the %d datagrams, not all", dropped, sent)
	}
	if held := buffers.Bytes(); held > 2<<20 {
		t.Errorf("buffers hold %d bytes, want about their cap of 1 MiB", held)
	}
	// The reader is still reading: a later datagram is read too.
	fmt.Fprint(conn, "<13>later")
	testenv.Eventually(t, "a later datagram read", func() bool { return testenv.Metric(t, reg, "kinesyslog_messages_received_total") == sent+1 })
}
