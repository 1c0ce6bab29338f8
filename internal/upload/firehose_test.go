package upload_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/firehose"
	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/spool"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// checkedDest checks before each call that no record left the spool before the server accepted
// it: the records in the spool and the distinct records the server holds add up to at least all
// those spooled so far.
type checkedDest struct {
	upload.Destination
	t       *testing.T
	spool   *spool.Spool
	server  *firehosetest.Server
	written atomic.Int64 // records whose Write returned
}

func (c *checkedDest) Put(ctx context.Context, records [][]byte) ([]upload.Result, error) {
	// In this order, a record deleted between two reads is counted twice, never missed.
	written := int(c.written.Load())
	pending := c.spool.Len()
	accepted := distinct(c.server.Records())
	if accepted+pending < written {
		c.t.Errorf("%d records accepted and %d in the spool, want at least %d: records deleted early",
			accepted, pending, written)
	}
	return c.Destination.Put(ctx, records)
}

func distinct(records []firehosetest.Record) int {
	seen := make(map[string]bool)
	for _, r := range records {
		seen[string(r.Data)] = true
	}
	return len(seen)
}

// TestFirehoseFaults runs the uploader and the real Firehose client against the test server with
// per-record failures and throttling: every record must arrive, and exactly once when no answer
// is lost.
func TestFirehoseFaults(t *testing.T) {
	tests := []struct {
		name      string
		fault     firehosetest.Fault
		exactOnce bool
	}{
		{
			name: "30% of records refused, every other call throttled",
			fault: firehosetest.Fault{
				RecordFailureRate: 0.3,
				Call: func(op string, n int) firehosetest.CallFault {
					if op == "PutRecordBatch" && n%2 == 0 {
						return firehosetest.Throttle
					}
					return firehosetest.NoFault
				},
			},
			exactOnce: true,
		},
		{
			name: "answers lost",
			fault: firehosetest.Fault{
				RecordFailureRate: 0.1,
				Call: func(op string, n int) firehosetest.CallFault {
					if op == "PutRecordBatch" && n%3 == 0 {
						return firehosetest.LoseResponse
					}
					return firehosetest.NoFault
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := firehosetest.Start(t, firehosetest.Config{Seed: 1})
			srv.SetFault(tt.fault)
			client := openDestination(t, srv)
			sp, err := spool.Open(t.TempDir(), spool.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sp.Close(context.Background()) })

			records := testRecords(t)
			sink := &checkedDest{Destination: client, t: t, spool: sp, server: srv}
			u := upload.New(sp, sink, upload.Options{Interval: time.Hour, RetryBase: time.Millisecond, RetryMax: 20 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- u.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run() = %v", err)
				}
			}()

			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for i := w; i < len(records); i += 4 {
						if err := sp.Write(context.Background(), records[i]); err != nil {
							t.Error(err)
							return
						}
						sink.written.Add(1)
					}
				})
			}
			wg.Wait()
			flushCtx, cancelFlush := context.WithTimeout(context.Background(), time.Minute)
			defer cancelFlush()
			if err := u.Flush(flushCtx); err != nil {
				t.Fatalf("Flush() = %v", err)
			}

			count := make(map[string]int)
			for _, r := range srv.Records() {
				count[string(r.Data)]++
			}
			duplicates := 0
			for i, r := range records {
				switch n := count[string(r)]; {
				case n == 0:
					t.Errorf("record %d never delivered", i)
				case n > 1:
					duplicates += n - 1
				}
			}
			if tt.exactOnce && duplicates > 0 {
				t.Errorf("%d duplicates, want none", duplicates)
			}
			st := srv.Stats()
			if st.RecordsFailed == 0 || st.Faults == 0 {
				t.Errorf("server stats %+v: the faults did not happen", st)
			}
			t.Logf("%d records delivered with %d duplicates; %d calls, %d faults, %d records refused",
				len(records), duplicates, st.Calls["PutRecordBatch"], st.Faults, st.RecordsFailed)
		})
	}
}

// openDestination returns a Firehose destination of the server's default stream that sees
// nothing of the machine's AWS configuration.
func openDestination(t *testing.T, srv *firehosetest.Server) *firehose.Destination {
	t.Helper()
	return openStreams(t, srv, firehose.Options{Streams: []string{firehosetest.DefaultStream}})
}

// openStreams returns a Firehose destination opened with o, pointed at the server, that sees
// nothing of the machine's AWS configuration.
func openStreams(t *testing.T, srv *firehosetest.Server, o firehose.Options) *firehose.Destination {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
		t.Setenv(k, "")
	}
	for _, kv := range srv.Environ() {
		k, v, _ := bytes.Cut([]byte(kv), []byte("="))
		t.Setenv(string(k), string(v))
	}
	o.EndpointURL = srv.URL
	c, err := firehose.Open(t.Context(), o)
	if err != nil {
		t.Fatalf("firehose.Open() = %v", err)
	}
	return c
}

// testRecords returns 600 small records and 6 of 900,000 bytes, so that batches end on both the
// record and the byte limit.
func testRecords(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range 606 {
		var b bytes.Buffer
		level := gzip.DefaultCompression
		payload := []byte(fmt.Sprintf("record %d", i))
		if i%101 == 100 {
			// Stored, so the record stays large.
			level = gzip.NoCompression
			payload = append(payload, bytes.Repeat([]byte{byte(i)}, 900_000)...)
		}
		zw, err := gzip.NewWriterLevel(&b, level)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(payload)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// TestFirehoseSlowLink drains a backlog of full records over a slow link shared by every call,
// with a call timeout too short for the calls the uploader could make: four full calls at once
// would each take longer than the timeout, forever, and every timed-out call the server carried
// out anyway would be stored again when resent. The uploader must send less at once, so that the
// backlog drains completely, at about the link's rate (calls that kept timing out would never
// drain it), and store a record twice only when a call of it failed: at most the records it
// sent again. How many calls time out depends on the machine's load, so a fixed limit would not.
func TestFirehoseSlowLink(t *testing.T) {
	const size = 1_000_000 // a full call is 4 records, 5.3 MB in base64
	tests := []struct {
		name    string
		records int
		rate    int // bytes per second
		timeout time.Duration
	}{
		// A full call takes 0.64 s alone on the link, four at once 2.6 s: one or two at once fit
		// the timeout. On a busy machine a call may still time out; each that does may leave
		// its records stored twice.
		{name: "four full calls time out", records: 20, rate: 8 << 20, timeout: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := firehosetest.Start(t, firehosetest.Config{UplinkBytesPerSecond: tt.rate})
			client := openDestination(t, srv)
			sp, err := spool.Open(t.TempDir(), spool.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sp.Close(context.Background()) })
			backlog := fullRecords(t, tt.records, size)
			for _, r := range backlog {
				if err := sp.Write(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}

			reg := prometheus.NewRegistry()
			u := upload.New(sp, client, upload.Options{Interval: time.Hour, CallTimeout: tt.timeout,
				RetryBase: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, Registerer: reg})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			if err := u.Flush(ctx); err != nil {
				t.Fatalf("Flush() = %v after %v: the backlog did not drain", err, time.Since(start).Round(time.Millisecond))
			}
			elapsed := time.Since(start)

			count := make(map[string]int)
			for _, r := range srv.Records() {
				count[string(r.Data)]++
			}
			for i, r := range backlog {
				if count[string(r)] == 0 {
					t.Errorf("record %d never delivered", i)
				}
			}
			st := srv.Stats()
			resent := testenv.Metric(t, reg, "kinesyslog_upload_retried_records_total")
			t.Logf("drained in %.1f s (the link alone: %.1f s), %d duplicates of %d records, %d calls, %.0f records sent again",
				elapsed.Seconds(), float64(tt.records*size*4/3)/float64(tt.rate), st.Duplicates, tt.records, st.Calls["PutRecordBatch"], resent)
			if float64(st.Duplicates) > resent {
				t.Errorf("%d duplicates of %d records, want at most the %.0f records sent again after a failed call", st.Duplicates, tt.records, resent)
			}
		})
	}
}

// fullRecords returns n distinct gzip members of about size bytes, stored rather than compressed
// so that they stay large.
func fullRecords(t *testing.T, n, size int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		payload := make([]byte, size-200)
		var key [32]byte
		key[0], key[1] = byte(i), byte(i>>8)
		rand.NewChaCha8(key).Read(payload)
		var b bytes.Buffer
		zw, err := gzip.NewWriterLevel(&b, gzip.NoCompression)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(payload)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		out[i] = b.Bytes()
	}
	return out
}

// TestFirehoseSizeComplaints checks that a batch refused for its size, in whatever words, is split
// until its records go through, and that a record the service refuses alone is quarantined, not
// resent for ever with the records behind it.
func TestFirehoseSizeComplaints(t *testing.T) {
	const size = 600_000
	tests := []struct {
		name            string
		cfg             firehosetest.Config
		wantQuarantined int
	}{
		// Two records fit under the proxy's limit, three do not.
		{name: "HTTP 413 from a proxy", cfg: firehosetest.Config{MaxBodyBytes: 2 * size * 4 / 3 * 11 / 10}},
		// The first record is refused on its own: the others are delivered.
		{name: "a service stricter on records", cfg: firehosetest.Config{MaxRecordBytes: size - 10_000}, wantQuarantined: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := firehosetest.Start(t, tt.cfg)
			client := openDestination(t, srv)
			dir := t.TempDir()
			sp, err := spool.Open(dir, spool.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sp.Close(context.Background()) })
			records := fullRecords(t, 6, size)
			if tt.wantQuarantined > 0 {
				// One record above the service's limit, then five well under it.
				records = append(records[:1], fullRecords(t, 5, size/2)...)
			}
			for _, r := range records {
				if err := sp.Write(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			u := upload.New(sp, client, upload.Options{RetryBase: time.Millisecond, RetryMax: 10 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := u.Flush(ctx); err != nil {
				t.Fatalf("Flush() = %v: a batch refused for its size was resent unchanged", err)
			}
			stored := make(map[string]int)
			for _, r := range srv.Records() {
				stored[string(r.Data)]++
			}
			for i, r := range records[tt.wantQuarantined:] {
				if n := stored[string(r)]; n != 1 {
					t.Errorf("record %d stored %d times, want once", i+tt.wantQuarantined, n)
				}
			}
			quarantined, _ := os.ReadDir(filepath.Join(dir, spool.QuarantineDir))
			if len(quarantined) != tt.wantQuarantined {
				t.Errorf("%d records quarantined, want %d", len(quarantined), tt.wantQuarantined)
			}
		})
	}
}
