package firehosetest

import (
	"net/http"
	"time"
)

// DefaultQuotaBurst is the Burst of a Quota whose Burst is zero: a stream that was idle takes one
// second of its quota at once, then no more than the quota's rate. The service does not document
// its burst; one second is the smallest that still takes a full-size record at the smallest
// regional quota (1 MiB/s).
const DefaultQuotaBurst = time.Second

// A Quota is a delivery stream's Direct PUT throughput quota ("Amazon Data Firehose Quota": 5 MiB/s,
// 2,000 requests/s and 500,000 records/s in us-east-1, us-west-2 and eu-west-1; 1 MiB/s and 1,000
// requests/s in most other regions). The zero Quota, and each zero rate, is unlimited.
//
// Each rate is a token bucket holding Burst's worth of the rate (and never less than one request,
// one record or one record of the largest size allowed), full at start. A PutRecordBatch call
// past RequestsPerSecond is refused as a whole with ServiceUnavailableException "Slow down."
// (HTTP 503), as the service refuses a call when a quota is exceeded; in a call that goes ahead,
// each record the byte or record bucket cannot hold any more is refused alone, with the
// per-record ServiceUnavailableException "Slow down." in RequestResponses and FailedPutCount,
// while the records that fit are stored.
type Quota struct {
	BytesPerSecond    int
	RecordsPerSecond  int
	RequestsPerSecond int
	// Burst is how much of each rate an idle stream saves up; zero means DefaultQuotaBurst.
	Burst time.Duration
}

// The answers of a stream past its quota.
var (
	errSlowDown    = apiError{http.StatusServiceUnavailable, "ServiceUnavailableException", "Slow down."}
	recordSlowDown = putRecordBatchResponseEntry{ErrorCode: RecordThrottled.Code, ErrorMessage: RecordThrottled.Message}
)

// A meter enforces one stream's Quota. It belongs to the server and is used with the server's
// lock held.
type meter struct {
	bytes, records, requests *bucket // nil: unlimited
}

func newMeter(q Quota, maxRecordBytes int, now time.Time) *meter {
	burst := q.Burst
	if burst <= 0 {
		burst = DefaultQuotaBurst
	}
	return &meter{
		bytes:    newBucket(q.BytesPerSecond, burst, maxRecordBytes, now),
		records:  newBucket(q.RecordsPerSecond, burst, 1, now),
		requests: newBucket(q.RequestsPerSecond, burst, 1, now),
	}
}

// call reports whether one more call fits the request rate, and takes it.
func (m *meter) call(now time.Time) bool { return m.requests.take(now, 1) }

// record reports whether a record of size bytes fits the byte and record rates, and takes it.
func (m *meter) record(now time.Time, size int) bool {
	if !m.bytes.holds(now, size) || !m.records.holds(now, 1) {
		return false
	}
	m.bytes.take(now, size)
	m.records.take(now, 1)
	return true
}

// A bucket is a token bucket: tokens flow in at rate per second up to capacity. A nil bucket
// holds everything.
type bucket struct {
	rate     float64 // tokens per second
	capacity float64
	tokens   float64
	last     time.Time // when tokens was last brought up to date
}

// newBucket returns a full bucket of rate tokens per second holding burst's worth of them, and
// at least least; nil when rate is zero.
func newBucket(rate int, burst time.Duration, least int, now time.Time) *bucket {
	if rate <= 0 {
		return nil
	}
	capacity := max(float64(rate)*burst.Seconds(), float64(least))
	return &bucket{rate: float64(rate), capacity: capacity, tokens: capacity, last: now}
}

// holds reports whether n tokens are there at now.
func (b *bucket) holds(now time.Time, n int) bool {
	if b == nil {
		return true
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.capacity, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	return b.tokens >= float64(n)
}

// take takes n tokens when they are there, and reports whether it did.
func (b *bucket) take(now time.Time, n int) bool {
	if !b.holds(now, n) {
		return false
	}
	if b != nil {
		b.tokens -= float64(n)
	}
	return true
}
