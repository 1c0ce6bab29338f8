package upload

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The spool's own metrics (kinesyslog_spool_records, _bytes, _oldest_record_age_seconds,
// _quarantined_total) complete these.
type metrics struct {
	deliveredRecords prometheus.Counter
	deliveredBytes   prometheus.Counter
	failedRecords    *prometheus.CounterVec
	calls            *prometheus.CounterVec
	callErrors       *prometheus.CounterVec
	callDuration     prometheus.Histogram
	retries          prometheus.Counter
	inflight         prometheus.Gauge
	windowCalls      prometheus.Gauge
	windowBatchBytes prometheus.Gauge
}

// newMetrics registers the uploader's metrics with reg; a nil reg yields working but
// unregistered collectors.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "kinesyslog", Subsystem: "upload", Name: name, Help: help}
	}
	return &metrics{
		deliveredRecords: f.NewCounter(prometheus.CounterOpts(opts("delivered_records_total",
			"Records the destination acknowledged with a RecordId."))),
		deliveredBytes: f.NewCounter(prometheus.CounterOpts(opts("delivered_bytes_total",
			"Bytes of records the destination acknowledged."))),
		failedRecords: f.NewCounterVec(prometheus.CounterOpts(opts("failed_records_total",
			"Records the destination refused in a call that succeeded, by ErrorCode; each is sent again.")),
			[]string{"code"}),
		calls: f.NewCounterVec(prometheus.CounterOpts(opts("calls_total",
			"PutRecordBatch calls by outcome: ok, partial (some records refused), error, too_large.")),
			[]string{"outcome"}),
		callErrors: f.NewCounterVec(prometheus.CounterOpts(opts("call_errors_total",
			"PutRecordBatch calls that failed as a whole, by error code.")),
			[]string{"code"}),
		callDuration: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kinesyslog", Subsystem: "upload", Name: "call_duration_seconds",
			Help: "Duration of PutRecordBatch calls, failed ones included.",
			// From a fast local answer to the default 30 s call timeout.
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 9),
		}),
		retries: f.NewCounter(prometheus.CounterOpts(opts("retried_records_total",
			"Records scheduled to be sent again after a failure."))),
		inflight: f.NewGauge(prometheus.GaugeOpts(opts("inflight_batches",
			"Batches being delivered, retries included."))),
		windowCalls: f.NewGauge(prometheus.GaugeOpts(opts("window_calls",
			"PutRecordBatch calls allowed in flight at once: halved after a timeout, grown back after calls that went well."))),
		windowBatchBytes: f.NewGauge(prometheus.GaugeOpts(opts("window_batch_bytes",
			"Bytes of records allowed in one PutRecordBatch call: halved after a timeout at one call in flight or a call refused for its size, grown back after calls that went well."))),
	}
}
