package buffer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	dropped prometheus.Counter
	waiting prometheus.Gauge
}

// newMetrics registers the metrics of b with reg; a nil reg yields working but unregistered
// collectors.
func newMetrics(reg prometheus.Registerer, b *Buffers) *metrics {
	f := promauto.With(reg)
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "kinesyslog", Subsystem: "buffer", Name: name, Help: help}
	}
	f.NewGaugeFunc(prometheus.GaugeOpts(opts("bytes",
		"Bytes of events held in memory, lost if the process dies without shutting down.")),
		func() float64 { return float64(b.Bytes()) })
	f.NewGaugeFunc(prometheus.GaugeOpts(opts("connection_bytes",
		"Bytes that connections reserved under the cap for messages they are still reading.")),
		func() float64 { return float64(b.ConnectionBytes()) })
	f.NewGaugeFunc(prometheus.GaugeOpts(opts("max_bytes",
		"Cap on the bytes of events held in memory and of messages connections are still reading.")),
		func() float64 { return float64(b.mem.max) })
	f.NewGaugeFunc(prometheus.GaugeOpts(opts("flush_bytes",
		"Bytes of events that make a batch full; follows the compression ratio.")),
		func() float64 { return float64(b.FlushBytes()) })
	return &metrics{
		dropped: f.NewCounter(prometheus.CounterOpts(opts("dropped_messages_total",
			"Messages dropped because the buffers were full when they could not wait: UDP datagrams."))),
		waiting: f.NewGauge(prometheus.GaugeOpts(opts("waiting_commits",
			"Commits waiting for memory or for the encoder stage: senders feeling backpressure."))),
	}
}
