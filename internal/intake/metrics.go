package intake

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the kind label of kinesyslog_intake_corrupt_entries_total.
const (
	damageEntry  = "entry"  // a damaged stretch with intact entries after it, skipped
	damageTail   = "tail"   // a torn or corrupt tail, cut
	damageHeader = "header" // a damaged or missing segment header
)

type metrics struct {
	collectors []prometheus.Collector
	appended   prometheus.Counter
	replayed   prometheus.Counter
	corrupt    *prometheus.CounterVec
	sync       prometheus.Histogram
	blocked    prometheus.Gauge
	// writeErrors counts the rounds whose write or sync failed and were tried again.
	writeErrors prometheus.Counter
}

// newMetrics makes the log's metrics, registered later by register so that an Open that fails
// registers nothing.
func newMetrics(l *Log) *metrics {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "kinesyslog", Subsystem: "intake", Name: name, Help: help}
	}
	m := &metrics{
		appended: prometheus.NewCounter(prometheus.CounterOpts(opts("appended_messages_total",
			"Messages appended to the intake log."))),
		replayed: prometheus.NewCounter(prometheus.CounterOpts(opts("replayed_messages_total",
			"Unreleased messages of an earlier run replayed from the intake log."))),
		corrupt: prometheus.NewCounterVec(prometheus.CounterOpts(opts("corrupt_entries_total",
			"Damaged stretches found in the intake log at start: kind entry (skipped, later entries recovered), tail (torn or corrupt tail, cut) or header (segment header).")),
			[]string{"kind"}),
		sync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kinesyslog", Subsystem: "intake", Name: "sync_seconds",
			Help:    "Time of each write and fdatasync of the intake log.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}),
		blocked: prometheus.NewGauge(prometheus.GaugeOpts(opts("blocked_appends",
			"Appends, and listeners before they read (WaitRoom), waiting for room: the intake log is at its cap, its disk is down to the reserve left for the spool, or 8 MiB wait to be written."))),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts(opts("write_errors_total",
			"Writes or fdatasyncs of the intake log that failed (a full disk, an I/O error) and were tried again, the round rewritten."))),
	}
	for _, kind := range []string{damageEntry, damageTail, damageHeader} {
		m.corrupt.WithLabelValues(kind)
	}
	m.collectors = []prometheus.Collector{m.appended, m.replayed, m.corrupt, m.sync, m.blocked, m.writeErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("bytes", "Bytes of the live intake log.")),
			func() float64 { return float64(l.Bytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("segments", "Live segment files of the intake log.")),
			func() float64 { return float64(l.Segments()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("disk_free_bytes",
			"Free bytes of the intake log's disk as last measured, less what the log appended since; appends wait while it is below the reserve left for the spool (-1: not known).")),
			func() float64 { return float64(l.diskFree()) }),
	}
	return m
}

// register registers the metrics with reg; a nil reg registers nothing.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, r := range m.collectors[:i] {
				reg.Unregister(r)
			}
			return fmt.Errorf("intake: register metrics: %w", err)
		}
	}
	return nil
}
