package encode_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/encode"
	"github.com/kinesyslog/kinesyslog/internal/event"
	"github.com/kinesyslog/kinesyslog/internal/intake"
	"github.com/kinesyslog/kinesyslog/internal/syslog"
)

// releases records what the record stage releases, as the intake log would take it, after
// checking that each release comes once its records are in the spool.
type releases struct {
	mu      sync.Mutex
	spooled func() int // records in the spool
	runs    []intake.Run
	early   int // releases made with no record spooled yet
}

func (r *releases) Release(runs []intake.Run) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spooled() == 0 {
		r.early++
	}
	r.runs = append(r.runs, runs...)
	return nil
}

// TestStageReleasesSpooled runs the record stage over events committed through Streams with a
// real intake log, in batches that leave tails to requeue: every message committed is released
// exactly once, and only after the spool has its records; a log reopened afterwards replays
// nothing.
func TestStageReleasesSpooled(t *testing.T) {
	sp := openSpool(t)
	dir := t.TempDir()
	log, err := intake.Open(dir, intake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		log.Run(ctx)
	}()
	rel := &releases{spooled: sp.Len}
	both := releaser(func(runs []intake.Run) error {
		rel.Release(runs)
		return log.Release(runs)
	})
	// Batches of 2.5 MB of barely compressible events fill a record and leave a tail to requeue.
	buffers := buffer.New(buffer.Options{FlushBytes: 2_500_000, Queue: 1})
	stage, err := encode.New(buffers, sp, owner("123456789012"), encode.Options{LogGroupPrefix: "/kinesyslog/syslog", Log: both, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- stage.Run(context.Background()) }()
	streams := event.NewStreams(buffers, syslog.Stamper{}, log, event.FormatSyslog)
	const perStream = 12_000
	rnd := rand.New(rand.NewPCG(1, 2))
	payload := make([]byte, 200)
	var numbers []uint64
	for _, src := range []string{"10.0.0.1", "2001:db8::3"} {
		s := streams.Stream(netip.MustParseAddr(src), 514)
		for i := range perStream {
			for j := range payload {
				payload[j] = byte(rnd.Uint32())
			}
			s.Add(context.Background(), []byte(fmt.Sprintf("<13>1 2026-11-25T02:34:55Z host app - - - %s message %d %x", src, i, payload)), time.Now())
			if i%100 == 99 {
				if _, err := s.Commit(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
		numbers = append(numbers, s.(*event.Stream).Number())
	}
	buffers.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	seen := make(map[intake.Run]int) // one Seq each
	for _, r := range rel.runs {
		for seq := r.First; seq <= r.Last; seq++ {
			seen[intake.Run{Stream: r.Stream, First: seq, Last: seq}]++
		}
	}
	for _, n := range numbers {
		for seq := range uint64(perStream) {
			if got := seen[intake.Run{Stream: n, First: seq, Last: seq}]; got != 1 {
				t.Fatalf("stream %d Seq %d released %d times, want once", n, seq, got)
			}
		}
	}
	if len(seen) != len(numbers)*perStream {
		t.Errorf("%d entries released, want the %d committed", len(seen), len(numbers)*perStream)
	}
	if rel.early > 0 {
		t.Errorf("%d releases before any record was spooled", rel.early)
	}
	cancel()
	<-logDone
	if err := log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, err := intake.Open(dir, intake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(context.Background())
	replayed := 0
	if err := again.Replay(context.Background(), 0, func(intake.Entry) error { replayed++; return nil }); err != nil {
		t.Fatal(err)
	}
	if replayed != 0 {
		t.Errorf("reopened log replays %d entries, want none: all were spooled", replayed)
	}
}

// releaser is an encode.Releaser of a function.
type releaser func([]intake.Run) error

func (f releaser) Release(runs []intake.Run) error { return f(runs) }
