package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/bench"
	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
)

// Environment of TestLoadFirehose, which bench/run sets.
const (
	benchResultsEnv  = "KINESYSLOG_BENCH_RESULTS"  // JSON-lines file the result is appended to
	benchRelayEnv    = "KINESYSLOG_BENCH_RELAY"    // relay binary; default: built from this checkout
	benchCountEnv    = "KINESYSLOG_BENCH_COUNT"    // messages; default 2,000,000
	benchScenarioEnv = "KINESYSLOG_BENCH_SCENARIO" // name in the table; default "firehose"
	benchStreamsEnv  = "KINESYSLOG_BENCH_STREAMS"  // delivery streams; default 1
	benchQuotaEnv    = "KINESYSLOG_BENCH_QUOTA"    // each stream's quota in bytes/s; default none
)

// firehoseLoad is a load of bench/run through the Firehose test server.
type firehoseLoad struct {
	scenario string
	relay    string // binary
	count    int    // 200-byte RFC 5424 messages over 8 TCP connections
	streams  int
	quota    int      // each stream's bytes per second; 0: none
	args     []string // further options of the relay
}

// measureFirehose runs l: the relay delivers through the real AWS SDK to a firehosetest server
// with l.streams delivery streams of l.quota. The server shares this process with the load
// generator, not with the relay, whose CPU and memory are measured alone.
func measureFirehose(t *testing.T, l firehoseLoad) (bench.Result, error) {
	t.Helper()
	names := []string{firehosetest.DefaultStream}
	for i := 1; i < l.streams; i++ {
		names = append(names, fmt.Sprintf("%s-%d", firehosetest.DefaultStream, i+1))
	}
	srv := firehosetest.Start(t, firehosetest.Config{Streams: names,
		Quota: firehosetest.Quota{BytesPerSecond: l.quota}})
	args, env := FirehoseArgs(srv)
	for _, name := range names[1:] {
		args = append(args, "--stream", name)
	}
	rcv, err := bench.NewKinesyslog(bench.KinesyslogOptions{Binary: l.relay, WorkDir: t.TempDir(),
		Destination: args, Args: l.args, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	rcv.Collect = func(v *bench.Verifier) (bench.RecordStats, error) {
		var st bench.RecordStats
		for _, r := range srv.Records() {
			if err := v.Records(bytes.NewReader(r.Data), &st); err != nil {
				return st, err
			}
		}
		return st, nil
	}
	load := bench.Load{
		Network: bench.TCP, Framing: bench.OctetCounting, Streams: 8, Count: l.count,
		Generator: bench.Generator{
			Run: uint32(time.Now().Unix() % 1_000_000_000), Format: bench.RFC5424,
			MinBytes: 200, MaxBytes: 200, Base: time.Now().Truncate(time.Second),
		},
	}
	res, err := bench.Measure(context.Background(), l.scenario, rcv, load)
	if l.quota > 0 {
		st := srv.Stats()
		res.Streams = &bench.StreamStats{Streams: l.streams, QuotaBytesPerSecond: int64(l.quota),
			Calls: st.Calls["PutRecordBatch"], ThrottledCalls: st.Throttled}
		for _, r := range srv.Records() {
			res.Streams.StoredBytes += int64(len(r.Data))
		}
	}
	return res, err
}

// TestLoadFirehose is the Firehose rows of bench/run: one stream without a quota, or several
// with one (KINESYSLOG_BENCH_STREAMS, KINESYSLOG_BENCH_QUOTA). It lives here because
// firehosetest serves tests only. It is a load, not a test: it runs only when
// KINESYSLOG_BENCH_RESULTS is set.
func TestLoadFirehose(t *testing.T) {
	results := os.Getenv(benchResultsEnv)
	if results == "" {
		t.Skipf("set %s to run the Firehose load of bench/run", benchResultsEnv)
	}
	l := firehoseLoad{scenario: os.Getenv(benchScenarioEnv), relay: os.Getenv(benchRelayEnv),
		count: envInt(t, benchCountEnv, 2_000_000), streams: envInt(t, benchStreamsEnv, 1),
		quota: envInt(t, benchQuotaEnv, 0)}
	if l.relay == "" {
		l.relay = Binary(t)
	}
	if l.scenario == "" {
		l.scenario = "firehose"
	}
	res, err := measureFirehose(t, l)
	if werr := bench.AppendResult(results, res); werr != nil {
		t.Error(werr)
	}
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	if !res.Report.OK() || res.Output.Oversize > 0 {
		t.Errorf("delivered to Firehose: %v; %d records over the limit", res.Report, res.Output.Oversize)
	}
	t.Logf("%d messages in %d records (mean %.0f bytes) in %.1f s, relay CPU %.2f s per million, peak RSS %d MiB",
		res.Report.Delivered, res.Output.Records, res.Output.MeanBytes(), res.TotalSeconds, res.CPUPerMillion(), res.PeakRSSBytes>>20)
	if res.Streams != nil {
		t.Logf("%.2f MiB/s delivered, %.0f%% of the quotas; %d of %d calls throttled (%.1f%%)", res.DeliveredBytesPerSecond()/(1<<20),
			100*res.QuotaShare(), res.Streams.ThrottledCalls, res.Streams.Calls, 100*res.ThrottledShare())
	}
}

// envInt returns the integer in the environment variable name, or def when it is unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}

// TestMeasureThrottledStreams measures a small load of the kind bench/run sends through three
// quota-limited streams, with a relay that uploads nothing at shutdown (--shutdown-timeout 0):
// every message is delivered once only because Measure waits until the relay has delivered
// everything before the SIGTERM, while the relay waits on throttled streams with its CPU at rest
// (Measure once stopped it then, leaving the spool to the shutdown).
func TestMeasureThrottledStreams(t *testing.T) {
	// About 6 MB of records, twice what the streams take at once (a stream's burst holds a
	// second of its quota): seconds of throttled drain.
	const quota = 1 << 20
	res, err := measureFirehose(t, firehoseLoad{scenario: "firehose-3-streams", relay: Binary(t),
		count: 120_000, streams: 3, quota: quota, args: []string{"--shutdown-timeout", "0"}})
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	if !res.Report.OK() {
		t.Errorf("delivered: %v, want every message once", res.Report)
	}
	if res.Streams.ThrottledCalls == 0 {
		t.Errorf("%+v: no call throttled, want a load past the quotas", res.Streams)
	}
	t.Logf("%d messages, %d bytes of records in %.1f s: %.0f%% of the quotas; %d of %d calls throttled",
		res.Report.Delivered, res.Streams.StoredBytes, res.DrainedSeconds, 100*res.QuotaShare(), res.Streams.ThrottledCalls, res.Streams.Calls)
}
