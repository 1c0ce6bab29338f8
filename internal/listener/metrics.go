package listener

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what the listeners see. A nil *Metrics counts nothing.
type Metrics struct {
	messages     prometheus.Counter
	bytes        prometheus.Counter
	truncations  prometheus.Counter
	framing      prometheus.Counter
	connections  prometheus.Gauge
	connsTotal   prometheus.Counter
	connsRefused prometheus.Counter
}

// NewMetrics registers the listener metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_messages_received_total", Help: "Messages received on all listeners."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_message_bytes_received_total", Help: "Bytes of messages received, without framing."}),
		truncations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_messages_truncated_total", Help: "Messages cut to the maximum message size."}),
		framing: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_framing_errors_total", Help: "Connections that ended with a framing or read error."}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kinesyslog_connections", Help: "Open TCP and TLS connections."}),
		connsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_connections_total", Help: "TCP and TLS connections accepted."}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_connections_refused_total", Help: "Connections closed because the maximum was reached."}),
	}
	reg.MustRegister(m.messages, m.bytes, m.truncations, m.framing, m.connections, m.connsTotal, m.connsRefused)
	return m
}

// received counts messages and their bytes; connections call it once per read, not per message.
func (m *Metrics) received(messages, bytes int) {
	if m != nil && messages > 0 {
		m.messages.Add(float64(messages))
		m.bytes.Add(float64(bytes))
	}
}

func (m *Metrics) truncated() {
	if m != nil {
		m.truncations.Inc()
	}
}

func (m *Metrics) framingError() {
	if m != nil {
		m.framing.Inc()
	}
}

func (m *Metrics) opened() {
	if m != nil {
		m.connections.Inc()
		m.connsTotal.Inc()
	}
}

func (m *Metrics) closed() {
	if m != nil {
		m.connections.Dec()
	}
}

func (m *Metrics) refused() {
	if m != nil {
		m.connsRefused.Inc()
	}
}
