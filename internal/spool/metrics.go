package spool

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	writes        prometheus.Counter
	writtenBytes  prometheus.Counter
	writeErrors   prometheus.Counter
	blockedWrites prometheus.Gauge
	quarantined   prometheus.Counter
}

// newMetrics registers the spool's metrics with reg; a nil reg yields working but unregistered
// collectors.
func newMetrics(reg prometheus.Registerer, s *Spool) *metrics {
	f := promauto.With(reg)
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "kinesyslog", Subsystem: "spool", Name: name, Help: help}
	}
	f.NewGaugeFunc(prometheus.GaugeOpts(opts("records", "Records pending in the spool.")),
		func() float64 { return float64(s.Len()) })
	f.NewGaugeFunc(prometheus.GaugeOpts(opts("bytes", "Bytes of records pending in the spool.")),
		func() float64 { return float64(s.Bytes()) })
	f.NewGaugeFunc(prometheus.GaugeOpts(opts("max_bytes", "Cap on the bytes of the spool; 0 means none.")),
		func() float64 { return float64(s.maxBytes) })
	f.NewGaugeFunc(prometheus.GaugeOpts(opts("oldest_record_age_seconds",
		"Age of the oldest pending record; grows while the destination is unreachable.")),
		func() float64 {
			e, ok := s.First()
			if !ok {
				return 0
			}
			return time.Since(e.Time).Seconds()
		})
	return &metrics{
		writes:       f.NewCounter(prometheus.CounterOpts(opts("writes_total", "Records written to the spool."))),
		writtenBytes: f.NewCounter(prometheus.CounterOpts(opts("written_bytes_total", "Bytes of records written to the spool."))),
		writeErrors: f.NewCounter(prometheus.CounterOpts(opts("write_errors_total",
			"Failed attempts to write a record, including attempts retried because the disk was full."))),
		blockedWrites: f.NewGauge(prometheus.GaugeOpts(opts("blocked_writes",
			"Writes waiting for space: the spool is at its cap or the disk is full."))),
		quarantined: f.NewCounter(prometheus.CounterOpts(opts("quarantined_total",
			"Records moved to quarantine, never to be sent."))),
	}
}
