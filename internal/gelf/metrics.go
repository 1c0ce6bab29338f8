package gelf

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics counts what the Assembler drops by itself. Errors of Add are counted by its caller,
// which knows the listener they belong to.
type metrics struct {
	expired    prometheus.Counter
	evicted    prometheus.Counter
	duplicates prometheus.Counter
}

// newMetrics registers the Assembler's metrics with reg; a nil reg yields working but
// unregistered collectors.
func newMetrics(reg prometheus.Registerer, a *Assembler) *metrics {
	f := promauto.With(reg)
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "kinesyslog", Subsystem: "gelf", Name: name, Help: help}
	}
	f.NewGaugeFunc(prometheus.GaugeOpts(opts("pending_chunk_sets", "Chunked messages waiting for more chunks.")),
		func() float64 { n, _ := a.stats(); return float64(n) })
	f.NewGaugeFunc(prometheus.GaugeOpts(opts("pending_chunk_bytes",
		"Memory the assembler holds for chunked messages, in use by pending ones or kept free for the next chunks, as counted against the maximum.")),
		func() float64 { _, n := a.stats(); return float64(n) })
	return &metrics{
		expired: f.NewCounter(prometheus.CounterOpts(opts("chunk_sets_expired_total",
			"Chunked messages dropped because their chunks did not all arrive in time."))),
		evicted: f.NewCounter(prometheus.CounterOpts(opts("chunk_sets_evicted_total",
			"Chunked messages dropped incomplete to keep pending chunks within their memory bound."))),
		duplicates: f.NewCounter(prometheus.CounterOpts(opts("duplicate_chunks_total",
			"Chunks ignored because their message already had that sequence number."))),
	}
}

func (m *metrics) dropped(d drops) {
	m.expired.Add(float64(d.expired))
	m.evicted.Add(float64(d.evicted))
}

func (m *metrics) duplicate() { m.duplicates.Inc() }

// newInvalidCounter registers the Stamper's counter of messages that are not JSON objects.
func newInvalidCounter(reg prometheus.Registerer) prometheus.Counter {
	return promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Namespace: "kinesyslog", Subsystem: "gelf", Name: "invalid_messages_total",
		Help: "GELF messages that are not well-formed JSON objects, recorded as received with the receive time.",
	})
}
