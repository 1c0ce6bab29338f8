package e2e

import (
	"bytes"
	"context"
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
)

// TestLoadFirehose is the Firehose row of bench/run: 200-byte RFC 5424 messages over 8 TCP
// connections into the relay, delivered through the real AWS SDK to a firehosetest server. It
// lives here because firehosetest serves tests only; the server shares this process with the
// load generator, not with the relay, whose CPU and memory are measured alone. It is a load,
// not a test: it runs only when KINESYSLOG_BENCH_RESULTS is set.
func TestLoadFirehose(t *testing.T) {
	results := os.Getenv(benchResultsEnv)
	if results == "" {
		t.Skipf("set %s to run the Firehose load of bench/run", benchResultsEnv)
	}
	count := 2_000_000
	if s := os.Getenv(benchCountEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", benchCountEnv, s, err)
		}
		count = n
	}
	relay := os.Getenv(benchRelayEnv)
	if relay == "" {
		relay = Binary(t)
	}
	scenario := os.Getenv(benchScenarioEnv)
	if scenario == "" {
		scenario = "firehose"
	}

	srv := firehosetest.Start(t, firehosetest.Config{})
	args, env := FirehoseArgs(srv)
	rcv, err := bench.NewKinesyslog(bench.KinesyslogOptions{Binary: relay, WorkDir: t.TempDir(), Destination: args, Env: env})
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
		Network: bench.TCP, Framing: bench.OctetCounting, Streams: 8, Count: count,
		Generator: bench.Generator{
			Run: uint32(time.Now().Unix() % 1_000_000_000), Format: bench.RFC5424,
			MinBytes: 200, MaxBytes: 200, Base: time.Now().Truncate(time.Second),
		},
	}
	res, err := bench.Measure(context.Background(), scenario, rcv, load)
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
}
