package relp

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a session is ended (or, for reasonUnknownCommand, a frame refused) for what its client
// sent or failed to do: the values of the reason label of kinesyslog_relp_protocol_errors_total.
const (
	reasonMalformed      = "malformed_frame"   // not a frame, TXNR 0, or the stream ends inside one
	reasonTooLarge       = "frame_too_large"   // DATALEN above the maximum message size
	reasonNoOpen         = "no_open"           // first frame not open
	reasonBadOffer       = "bad_offer"         // open without commands=syslog
	reasonUnknownCommand = "unknown_command"   // answered rsp 500; the session goes on
	reasonWindow         = "window_exceeded"   // more unacknowledged frames than the window
	reasonWriteTimeout   = "ack_write_timeout" // the client does not read its acknowledgements
)

var protocolReasons = []string{reasonMalformed, reasonTooLarge, reasonNoOpen, reasonBadOffer,
	reasonUnknownCommand, reasonWindow, reasonWriteTimeout}

// metrics counts what the sessions of a Server see.
type metrics struct {
	sessions     prometheus.Gauge
	acknowledged prometheus.Counter
	refused      prometheus.Counter
	protocol     *prometheus.CounterVec
}

// newMetrics registers the RELP metrics with reg; a nil reg counts them without registering.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kinesyslog_relp_sessions", Help: "Open RELP sessions."}),
		acknowledged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_relp_acknowledged_messages_total", Help: "RELP syslog messages acknowledged (rsp 200) once durable."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_relp_refused_messages_total", Help: "RELP syslog messages refused (rsp 500) because the relay refused them for good."}),
		protocol: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinesyslog_relp_protocol_errors_total", Help: "RELP sessions ended, or frames refused, for what the client sent or failed to do, by reason."},
			[]string{"reason"}),
	}
	// Every series exists from the start, so that rates and alerts work before the first event.
	for _, r := range protocolReasons {
		m.protocol.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sessions, m.acknowledged, m.refused, m.protocol} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("relp: register metrics: %w", err)
		}
	}
	return m, nil
}
