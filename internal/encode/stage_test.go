package encode_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/encode"
	"github.com/kinesyslog/kinesyslog/internal/event"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/spool"
	"github.com/kinesyslog/kinesyslog/internal/syslog"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// owner is a known record owner.
type owner string

func (o owner) Owner(context.Context) (string, error) { return string(o), nil }

// unknownOwner is an owner never learned: Owner waits for ctx.
type unknownOwner struct{}

func (unknownOwner) Owner(ctx context.Context) (string, error) {
	<-ctx.Done()
	return "", fmt.Errorf("owner unknown: %w", ctx.Err())
}

// flakySpool refuses its first fails writes, then writes to sp.
type flakySpool struct {
	sp    *spool.Spool
	fails atomic.Int32
}

func (f *flakySpool) WriteGroup(ctx context.Context, records [][]byte) error {
	if f.fails.Add(-1) >= 0 {
		return errors.New("disk on fire")
	}
	return f.sp.WriteGroup(ctx, records)
}

func openSpool(t testing.TB) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(t.TempDir(), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close(context.Background()) })
	return sp
}

// spooled decodes every record of sp.
func spooled(t *testing.T, sp *spool.Spool) []*record.Record {
	t.Helper()
	var out []*record.Record
	for _, e := range sp.Pending(0, sp.Len()) {
		data, err := sp.Read(e)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := record.NewReader(bytes.NewReader(data)).Next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// send commits n messages of each source to port 514 of buffers.
func send(t *testing.T, buffers *buffer.Buffers, sources []string, n int) (sent []string) {
	t.Helper()
	streams := event.NewStreams(buffers, syslog.Stamper{}, nil, 0)
	for _, src := range sources {
		s := streams.Stream(netip.MustParseAddr(src), 514)
		for i := range n {
			msg := fmt.Sprintf("<13>1 2026-11-25T02:34:55Z host app - - - %s message %d %0200d", src, i, 0)
			s.Add(context.Background(), []byte(msg), time.Now())
			sent = append(sent, msg)
		}
		if _, err := s.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return sent
}

// TestStage runs the record stage over real buffers and a real spool, with spool writes that fail
// at first: every message committed ends in a spooled record of its source, whose header names
// the owner, the log group of its port and the source, and nothing is lost.
func TestStage(t *testing.T) {
	sp := openSpool(t)
	reg := prometheus.NewRegistry()
	// Batches of about 100 KB of events: several batches, records and groups per source.
	buffers := buffer.New(buffer.Options{FlushBytes: 100_000, Queue: 1})
	flaky := &flakySpool{sp: sp}
	flaky.fails.Store(2)
	stage, err := encode.New(buffers, flaky, owner("123456789012"),
		encode.Options{LogGroupPrefix: "/kinesyslog/syslog", Registerer: reg, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- stage.Run(context.Background()) }()
	sources := []string{"10.0.0.1", "10.0.0.2", "2001:db8::3"}
	sent := send(t, buffers, sources, 2000)
	buffers.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	var got []string
	for _, rec := range spooled(t, sp) {
		if rec.Owner != "123456789012" || rec.LogGroup != "/kinesyslog/syslog/514" ||
			len(rec.SubscriptionFilters) != 1 || rec.SubscriptionFilters[0] != rec.LogGroup {
			t.Errorf("record header %q %q %v, want owner 123456789012 and log group /kinesyslog/syslog/514", rec.Owner, rec.LogGroup, rec.SubscriptionFilters)
		}
		for _, ev := range rec.LogEvents {
			if !bytes.Contains([]byte(ev.Message), []byte(rec.LogStream+" ")) {
				t.Errorf("message %.60q in a record of log stream %s", ev.Message, rec.LogStream)
			}
			got = append(got, ev.Message)
		}
	}
	sort.Strings(got)
	sort.Strings(sent)
	if fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Errorf("spooled %d messages, want the %d sent, each once", len(got), len(sent))
	}
	if stage.Lost() != 0 || testenv.Metric(t, reg, "kinesyslog_encode_lost_messages_total") != 0 {
		t.Errorf("Lost() = %d and the metric %v, want 0", stage.Lost(), testenv.Metric(t, reg, "kinesyslog_encode_lost_messages_total"))
	}
	// The writes the spool refused and the stage retried count once.
	if got := testenv.Metric(t, reg, "kinesyslog_encode_spooled_messages_total"); got != float64(len(sent)) {
		t.Errorf("kinesyslog_encode_spooled_messages_total = %v, want the %d sent", got, len(sent))
	}
}

// TestStageLosesAtDeadline runs the stage with a record owner that is never learned: once the
// shutdown window closes, the batches are counted as lost, logged once in Run's error and in
// the metric, and Run returns instead of waiting.
func TestStageLosesAtDeadline(t *testing.T) {
	reg := prometheus.NewRegistry()
	buffers := buffer.New(buffer.Options{FlushBytes: 100_000, Queue: 1})
	stage, err := encode.New(buffers, openSpool(t), unknownOwner{}, encode.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	signal, shutDown := context.WithCancel(context.Background())
	window, stop := encode.ShutdownWindow(signal, context.Background(), 50*time.Millisecond)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- stage.Run(window) }()
	sent := send(t, buffers, []string{"10.0.0.1", "10.0.0.2"}, 1000)
	shutDown()
	buffers.Close()
	err = <-done
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d messages could not be spooled", len(sent))) {
		t.Errorf("Run = %v, want the %d messages sent lost", err, len(sent))
	}
	if stage.Lost() != int64(len(sent)) || testenv.Metric(t, reg, "kinesyslog_encode_lost_messages_total") != float64(len(sent)) {
		t.Errorf("Lost() = %d and the metric %v, want %d", stage.Lost(), testenv.Metric(t, reg, "kinesyslog_encode_lost_messages_total"), len(sent))
	}
	if got := testenv.Metric(t, reg, "kinesyslog_encode_spooled_messages_total"); got != 0 {
		t.Errorf("kinesyslog_encode_spooled_messages_total = %v, want 0", got)
	}
}

func TestNewRefusesSmallRecords(t *testing.T) {
	buffers := buffer.New(buffer.Options{})
	if _, err := encode.New(buffers, openSpool(t), owner("0"), encode.Options{MaxRecordBytes: record.TargetBytes - 1}); err == nil {
		t.Error("New with MaxRecordBytes below record.TargetBytes = nil error, want one")
	}
	if _, err := encode.New(buffers, openSpool(t), owner("0"), encode.Options{MaxRecordBytes: 1_024_000}); err != nil {
		t.Errorf("New with Firehose's MaxRecordBytes: %v", err)
	}
}

// TestStagePortGroupPrefixes checks that the ports PortGroupPrefixes lists get its log groups
// and the others LogGroupPrefix's, as a relay reading syslog and GELF side by side needs.
func TestStagePortGroupPrefixes(t *testing.T) {
	sp := openSpool(t)
	buffers := buffer.New(buffer.Options{Queue: 4})
	stage, err := encode.New(buffers, sp, owner("123456789012"), encode.Options{LogGroupPrefix: "/k/syslog",
		PortGroupPrefixes: map[uint16]string{12201: "/k/gelf"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- stage.Run(context.Background()) }()
	streams := event.NewStreams(buffers, syslog.Stamper{}, nil, 0)
	for _, port := range []uint16{514, 12201} {
		s := streams.Stream(netip.MustParseAddr("10.0.0.1"), port)
		s.Add(context.Background(), []byte(fmt.Sprintf("<13>1 2026-11-25T02:34:55Z host app - - - to %d", port)), time.Now())
		if _, err := s.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	buffers.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	var got []string
	for _, rec := range spooled(t, sp) {
		got = append(got, rec.LogGroup)
	}
	sort.Strings(got)
	if want := []string{"/k/gelf/12201", "/k/syslog/514"}; !cmp.Equal(got, want) {
		t.Errorf("log groups %q, want %q", got, want)
	}
}

// addressSpool checks the records written to sp: each holds at most twice its bytes, and the
// buffers of those handed over whole by the encoder (record.BufferBytes) are counted.
type addressSpool struct {
	t       *testing.T
	sp      *spool.Spool
	full    int           // records in buffers of the encoder
	buffers map[*byte]int // records in each of those
}

func (a *addressSpool) WriteGroup(ctx context.Context, records [][]byte) error {
	for _, rec := range records {
		if cap(rec) > 2*len(rec) {
			a.t.Errorf("a record of %d bytes holds %d", len(rec), cap(rec))
		}
		if cap(rec) >= record.BufferBytes {
			a.full++
			a.buffers[unsafe.SliceData(rec)]++
		}
	}
	return a.sp.WriteGroup(ctx, records)
}

// TestStageReusesRecords sends incompressible messages from one source, whose records fill, and
// quiet sources, whose records are small: full records are compressed into the buffers of
// records spooled before instead of a new one each, small ones are copies of their size, so
// that the memory the queue holds stays bounded by its bytes, and every message is spooled.
func TestStageReusesRecords(t *testing.T) {
	sp := &addressSpool{t: t, sp: openSpool(t), buffers: map[*byte]int{}}
	buffers := buffer.New(buffer.Options{Queue: 1})
	stage, err := encode.New(buffers, sp, owner("123456789012"), encode.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- stage.Run(context.Background()) }()
	streams := event.NewStreams(buffers, syslog.Stamper{}, nil, 0)
	r := rand.New(rand.NewPCG(7, 8))
	random := make([]byte, 180)
	sent := 0
	for i, src := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
		s := streams.Stream(netip.MustParseAddr(src), 514)
		n := 10 // quiet sources: a small record each
		if i == 0 {
			n = 90_000 // about 20 full records
		}
		for j := range n {
			for k := range random {
				random[k] = byte(r.Uint32())
			}
			msg := fmt.Appendf(nil, "<13>1 2026-11-25T02:34:55Z host app - - - %s", base64.StdEncoding.AppendEncode(nil, random))
			s.Add(context.Background(), msg, time.Now())
			if j%1000 == 999 || j == n-1 {
				if _, err := s.Commit(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
		sent += n
	}
	buffers.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	got := 0
	for _, rec := range spooled(t, sp.sp) {
		got += len(rec.LogEvents)
	}
	if got != sent {
		t.Errorf("spooled %d messages, want the %d sent", got, sent)
	}
	if sp.full < 15 || len(sp.buffers) >= sp.full {
		t.Errorf("%d full records in %d buffers, want at least 15 records and fewer buffers", sp.full, len(sp.buffers))
	}
	t.Logf("%d full records in %d buffers", sp.full, len(sp.buffers))
}
