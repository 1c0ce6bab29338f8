package upload_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/firehose"
	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/spool"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// streamQuota is each stream's quota in the tests of several streams: 1 MiB/s, the smallest
// regional Direct PUT quota.
const streamQuota = 1 << 20

var threeStreams = []string{"logs-a", "logs-b", "logs-c"}

// loadSeconds returns how many seconds of the three quotas a test sends: seconds, or 4 with the
// race detector, which makes the SDK's and the server's work on the records several times
// slower, 0.7 MiB/s in all on 2 vCPUs, below the quotas.
func loadSeconds(seconds int) int {
	if raceEnabled {
		return 4
	}
	return seconds
}

// spoolBacklog opens a spool holding n distinct records of size bytes.
func spoolBacklog(t *testing.T, n, size int) (*spool.Spool, [][]byte) {
	t.Helper()
	sp, err := spool.Open(t.TempDir(), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close(context.Background()) })
	records := fullRecords(t, n, size)
	for i := 0; i < len(records); i += 64 {
		if err := sp.WriteGroup(context.Background(), records[i:min(i+64, len(records))]); err != nil {
			t.Fatal(err)
		}
	}
	return sp, records
}

// checkOnce fails the test unless every record was stored exactly once, and returns the bytes
// each stream stored.
func checkOnce(t *testing.T, srv *firehosetest.Server, records [][]byte) map[string]int {
	t.Helper()
	count := make(map[string]int)
	perStream := make(map[string]int)
	for _, r := range srv.Records() {
		count[string(r.Data)]++
		perStream[r.Stream] += len(r.Data)
	}
	for i, r := range records {
		if n := count[string(r)]; n != 1 {
			t.Errorf("record %d stored %d times, want once", i, n)
		}
	}
	return perStream
}

// TestFirehoseStreamsQuota drains a backlog through three streams of 1 MiB/s each: the
// Destination must learn each stream's rate from its throttling answers, so that the backlog
// drains at close to 3 MiB/s with few throttled calls, every record stored once. With records
// near 1 MB, as the relay makes them, a stream takes about one record a second, within its
// server's burst of one second of the quota.
func TestFirehoseStreamsQuota(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int // bytes of each record
	}{
		{"64KiB", 64 << 10},
		// 93.8% of the record limit: the mean of the relay's records in bench/run's load through
		// three streams.
		{"960kB", 960_000},
	} {
		t.Run(tc.name, func(t *testing.T) { drainStreamsQuota(t, tc.size) })
	}
}

// drainStreamsQuota is a case of TestFirehoseStreamsQuota: records of size bytes.
func drainStreamsQuota(t *testing.T, size int) {
	n := loadSeconds(20) * 3 * streamQuota / size
	srv := firehosetest.Start(t, firehosetest.Config{Streams: threeStreams,
		Quota: firehosetest.Quota{BytesPerSecond: streamQuota}})
	reg := prometheus.NewRegistry()
	dest := openStreams(t, srv, firehose.Options{Streams: threeStreams, Registerer: reg})
	sp, records := spoolBacklog(t, n, size)

	u := upload.New(sp, dest, upload.Options{Interval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	start := time.Now()
	if err := u.Flush(ctx); err != nil {
		t.Fatalf("Flush() = %v after %v", err, time.Since(start).Round(time.Millisecond))
	}
	elapsed := time.Since(start)

	perStream := checkOnce(t, srv, records)
	st := srv.Stats()
	calls := st.Calls["PutRecordBatch"]
	total := 0
	for _, r := range records {
		total += len(r)
	}
	rate := float64(total) / elapsed.Seconds()
	share := rate / (3 * streamQuota)
	throttled := float64(st.Throttled) / float64(calls)
	t.Logf("%d records of about %d bytes in %.1f s: %.2f MiB/s, %.0f%% of the three quotas; %d of %d calls throttled (%.1f%%); per stream %v",
		n, size, elapsed.Seconds(), rate/(1<<20), 100*share, st.Throttled, calls, 100*throttled, perStream)
	if raceEnabled {
		t.Log("the race detector makes the figures those of a slower machine: not held to a bound")
	} else {
		if share < 0.85 {
			t.Errorf("delivered at %.0f%% of the three streams' quotas, want at least 85%%", 100*share)
		}
		if throttled >= 0.10 {
			t.Errorf("%.1f%% of calls throttled, want under 10%%", 100*throttled)
		}
	}
	if got := testenv.Metric(t, reg, "kinesyslog_stream_throttled_calls_total"); int(got) != st.Throttled {
		t.Errorf("kinesyslog_stream_throttled_calls_total = %v, want %d, what the server throttled", got, st.Throttled)
	}
	if got := testenv.Metric(t, reg, "kinesyslog_stream_delivered_bytes_total"); int(got) != total {
		t.Errorf("kinesyslog_stream_delivered_bytes_total = %v, want %d", got, total)
	}
}

// TestFirehoseStreamFailing fails one of three streams while a backlog drains: the other two
// must carry the load at their quotas, and once the stream recovers every record is stored once.
func TestFirehoseStreamFailing(t *testing.T) {
	const size = 64 << 10
	n := loadSeconds(10) * 3 * streamQuota / size
	srv := firehosetest.Start(t, firehosetest.Config{Streams: threeStreams,
		Quota: firehosetest.Quota{BytesPerSecond: streamQuota}})
	failing := threeStreams[1]
	srv.SetStreamFault(failing, firehosetest.Fault{Call: func(string, int) firehosetest.CallFault { return firehosetest.InternalError }})
	dest := openStreams(t, srv, firehose.Options{Streams: threeStreams})
	sp, records := spoolBacklog(t, n, size)

	u := upload.New(sp, dest, upload.Options{Interval: time.Hour, RetryBase: 50 * time.Millisecond, RetryMax: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	flushed := make(chan error, 1)
	go func() { flushed <- u.Flush(ctx) }()
	// The others carry the load at their quotas: measured from 2 MiB stored, their bursts, to
	// 6 MiB, two seconds of their quotas.
	stored := func(bytes int) func() bool {
		return func() bool { return len(srv.Records())*size >= bytes }
	}
	testenv.Eventually(t, "the healthy streams to store 2 MiB", stored(2<<20))
	from := time.Now()
	testenv.Eventually(t, "the healthy streams to store 6 MiB", stored(6<<20))
	rate := float64(4<<20) / time.Since(from).Seconds()
	share := rate / (2 * streamQuota)
	t.Logf("the two healthy streams stored %.2f MiB/s while the third failed, %.0f%% of their quotas", rate/(1<<20), 100*share)
	// 79 to 84% in four runs on 2 vCPUs (82% under the race detector): the failing stream's
	// probes and the records they hold back cost the others some of their rate; the bound
	// leaves room for a loaded machine.
	if !raceEnabled && share < 0.70 {
		t.Errorf("the healthy streams stored at %.0f%% of their quotas while the third failed, want at least 70%%", 100*share)
	}
	for _, r := range srv.Records() {
		if r.Stream == failing {
			t.Fatalf("the failing stream stored a record")
		}
	}
	srv.SetStreamFault(failing, firehosetest.Fault{})
	if err := <-flushed; err != nil {
		t.Fatalf("Flush() = %v after the stream recovered", err)
	}
	perStream := checkOnce(t, srv, records)
	t.Logf("bytes stored per stream: %v", perStream)
}
