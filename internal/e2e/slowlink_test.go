package e2e

import (
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestSlowLink spools a backlog of about 20 full records while Firehose is down, then brings it
// back behind a slow uplink shared by every call, with --upload-timeout too short for four full
// calls at once: the relay must drain the backlog completely (calls that kept timing out would
// never drain it), and every duplicate stored must come from a call the relay gave up on: at most
// the records it sent again after the outage. On a busy machine more calls time out and more
// records are stored twice; a fixed limit would measure the machine. It prints the figures it
// measured.
func TestSlowLink(t *testing.T) {
	const (
		rate    = 8 << 20 // bytes per second: a full call 0.64 s alone, four at once 2.6 s
		backlog = 20      // records
		retried = "kinesyslog_upload_retried_records_total"
	)
	srv := firehosetest.Start(t, firehosetest.Config{UplinkBytesPerSecond: rate})
	r := startFaultRelay(t, srv, faultOptions{args: []string{"--upload-timeout", "2s"}})
	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
	s := startSender(t, r.tcpPort, "slow", senderOptions{payload: payload})
	r.waitMetric(t, "kinesyslog_spool_records", "a backlog", func(v float64) bool { return v >= backlog })
	s.halt()
	n := s.wait(t)
	if s.err != nil {
		t.Fatalf("sender stopped after %d messages: %v", n, s.err)
	}
	r.waitReceived(t, n)
	m := r.Totals(t)
	spooled, spooledBytes := m["kinesyslog_spool_records"], m["kinesyslog_spool_bytes"]

	// Read just before the outage ends: a refused call that fails after this read only makes the
	// limit looser, and every call that reaches the server comes after it.
	retriedInOutage := r.Totals(t)[retried]
	srv.SetFault(firehosetest.Fault{})
	// The first call after the outage waits for its backoff, up to 30 s; the drain starts there.
	testenv.EventuallyWithin(t, faultDeadline, "a call after the outage", func() bool { return srv.Stats().Calls["PutRecordBatch"] > 0 })
	start := time.Now()
	// What is left is less than a full call, which waits for the interval or, here, the last
	// upload at shutdown.
	r.waitMetric(t, "kinesyslog_spool_bytes", "under a full call: the backlog drained", func(v float64) bool { return v < 4_000_000 })
	drained := time.Since(start)
	// The last call, at shutdown, has less than a full call's worth alone on the link: well
	// within the timeout.
	resent := r.Totals(t)[retried] - retriedInOutage
	stopClean(t, r)
	tl := compare(countTokens(t, FirehoseRecords(t, srv)), tokens("slow", n))
	st := srv.Stats()
	t.Logf("%.0f spooled records drained in %.1f s (the link alone: %.1f s for all but a call's worth), the rest at shutdown; %d duplicate records of %d stored, %d calls, %.0f records sent again after a failed call; %d messages, %d missing, %d duplicated",
		spooled, drained.Seconds(), (spooledBytes-4_000_000)*4/3/rate, st.Duplicates, st.RecordsAccepted, st.Calls["PutRecordBatch"], resent, tl.sent, tl.missing, tl.duplicates)
	if tl.missing+tl.unexpected > 0 {
		t.Errorf("of %d messages: %d missing, %d unexpected", tl.sent, tl.missing, tl.unexpected)
	}
	if float64(st.Duplicates) > resent {
		t.Errorf("%d duplicate records stored, want at most the %.0f the relay sent again after a failed call", st.Duplicates, resent)
	}
}
