package e2e

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestFirehoseStreams runs the relay with three delivery streams named in KINESYSLOG_STREAM
// (commas and a space), each with a quota of 1 MiB/s on the test server: every stream is used
// (a repeated --stream once kept only the last), every message is delivered once, and the
// per-stream metrics count what each stream stored.
func TestFirehoseStreams(t *testing.T) {
	const sources, perSource = 16, 2_000
	streams := []string{"logs-a", "logs-b", "logs-c"}
	srv := firehosetest.Start(t, firehosetest.Config{Streams: streams,
		Quota: firehosetest.Quota{BytesPerSecond: 1 << 20}})
	cfg := srv.Config()
	_, env := FirehoseArgs(srv)
	env = append(env, "KINESYSLOG_STREAM=logs-a,logs-b logs-c")
	port := testenv.FreePort(t)
	r := Start(t, Options{Args: []string{"--endpoint-url", srv.URL, "--region", cfg.Region,
		"--address", "127.0.0.1", "--tcp-port", Port(port), "--flush-age", "1s"}, Env: env, Metrics: true})
	sendSources(t, port, sources, perSource)

	want := sourceTokens(sources, perSource)
	found, perStream := waitStreams(t, srv, len(want), "every message in the three streams")
	checkExactlyOnce(t, want, found)
	for _, s := range streams {
		if perStream[s] == 0 {
			t.Errorf("stream %s stored no record, want all three used: %v", s, perStream)
		}
		series := fmt.Sprintf(`kinesyslog_stream_delivered_records_total{stream=%q}`, s)
		if got := r.WaitMetric(t, series, func(v float64) bool { return v >= float64(perStream[s]) }); int(got) != perStream[s] {
			t.Errorf("%s = %v, want %d, what the stream stored", series, got, perStream[s])
		}
	}
	st := srv.Stats()
	t.Logf("%d messages in %v records per stream; %d of %d calls throttled", len(want), perStream,
		st.Throttled, st.Calls["PutRecordBatch"])
}

// TestFirehoseStreamFailing runs the relay with three delivery streams of which one answers
// every call with HTTP 500 for a while: the other two store the records meanwhile, the failing
// one is backed off (kinesyslog_stream_backed_off), and once it recovers every message is
// delivered once.
func TestFirehoseStreamFailing(t *testing.T) {
	const sources, perSource = 16, 2_000
	streams := []string{"logs-a", "logs-b", "logs-c"}
	failing := streams[1]
	srv := firehosetest.Start(t, firehosetest.Config{Streams: streams,
		Quota: firehosetest.Quota{BytesPerSecond: 1 << 20}})
	srv.SetStreamFault(failing, firehosetest.Fault{Call: func(string, int) firehosetest.CallFault { return firehosetest.InternalError }})
	cfg := srv.Config()
	args, env := FirehoseArgs(srv)
	for _, s := range streams[1:] {
		args = append(args, "--stream", s)
	}
	port := testenv.FreePort(t)
	r := Start(t, Options{Args: append(args, "--address", "127.0.0.1", "--tcp-port", Port(port), "--flush-age", "1s",
		"--region", cfg.Region), Env: env, Metrics: true})
	sendSources(t, port, sources, perSource)

	r.WaitMetric(t, fmt.Sprintf(`kinesyslog_stream_backed_off{stream=%q}`, failing), func(v float64) bool { return v == 1 })
	testenv.Eventually(t, "the healthy streams to store records", func() bool { return len(srv.Records()) > 0 })
	for _, rec := range srv.Records() {
		if rec.Stream == failing {
			t.Fatalf("the failing stream %s stored a record", failing)
		}
	}
	srv.SetStreamFault(failing, firehosetest.Fault{})

	want := sourceTokens(sources, perSource)
	found, perStream := waitStreams(t, srv, len(want), "every message once the stream recovered")
	checkExactlyOnce(t, want, found)
	t.Logf("%d messages in %v records per stream", len(want), perStream)
}

// sourceTokens returns the tokens sendSources sends.
func sourceTokens(sources, perSource int) map[string]bool {
	want := map[string]bool{}
	for s := range sources {
		for i := range perSource {
			want[fmt.Sprintf("tok-s%d-%d", s, i)] = true
		}
	}
	return want
}

// waitStreams waits until srv's records hold n distinct tokens, and returns how many times each
// token was stored and how many records each stream stored.
func waitStreams(t *testing.T, srv *firehosetest.Server, n int, what string) (found, perStream map[string]int) {
	t.Helper()
	found, perStream = map[string]int{}, map[string]int{}
	testenv.EventuallyWithin(t, time.Minute, what, func() bool {
		clear(found)
		clear(perStream)
		for _, rec := range srv.Records() {
			perStream[rec.Stream]++
			for _, cw := range Decode(t, bytes.NewReader(rec.Data)) {
				for _, ev := range cw.LogEvents {
					found[tokenRE.FindString(ev.Message)]++
				}
			}
		}
		return len(found) >= n
	})
	return found, perStream
}
