package spread

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the Spreader's collectors, each with the label stream.
type metrics struct {
	records, bytes, throttled, failed *prometheus.CounterVec
	rate, backedOff                   *prometheus.GaugeVec
}

// streamMetrics are one stream's collectors.
type streamMetrics struct {
	records, bytes, throttled, failed prometheus.Counter
	rate, backedOff                   prometheus.Gauge
}

// newMetrics registers the Spreader's metrics with reg; a nil reg yields working but
// unregistered collectors.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "kinesyslog", Subsystem: "stream", Name: name, Help: help}
	}
	labels := []string{"stream"}
	return &metrics{
		records: f.NewCounterVec(prometheus.CounterOpts(opts("delivered_records_total",
			"Records the stream stored (answered with a RecordId).")), labels),
		bytes: f.NewCounterVec(prometheus.CounterOpts(opts("delivered_bytes_total",
			"Bytes of records the stream stored.")), labels),
		throttled: f.NewCounterVec(prometheus.CounterOpts(opts("throttled_calls_total",
			"Calls to the stream refused for its throughput quota, as a whole or some of their records.")), labels),
		failed: f.NewCounterVec(prometheus.CounterOpts(opts("failed_calls_total",
			"Calls to the stream that failed otherwise (5xx, timeouts, refused connections): each backs the stream off.")), labels),
		rate: f.NewGaugeVec(prometheus.GaugeOpts(opts("rate_bytes_per_second",
			"The sending rate learned for the stream from its throttling answers.")), labels),
		backedOff: f.NewGaugeVec(prometheus.GaugeOpts(opts("backed_off",
			"1 while the stream is backed off after failures, the other streams carrying its share.")), labels),
	}
}

func (m *metrics) stream(name string) streamMetrics {
	return streamMetrics{
		records:   m.records.WithLabelValues(name),
		bytes:     m.bytes.WithLabelValues(name),
		throttled: m.throttled.WithLabelValues(name),
		failed:    m.failed.WithLabelValues(name),
		rate:      m.rate.WithLabelValues(name),
		backedOff: m.backedOff.WithLabelValues(name),
	}
}
