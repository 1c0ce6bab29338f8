package listener

import (
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a connection is closed before any of its data is accepted: the values of the reason
// label of kinesyslog_connections_refused_total.
const (
	reasonMaxConnections   = "max_connections"              // --max-connections reached
	reasonProxyHeader      = "proxy_header"                 // no valid PROXY header in time
	reasonHandshake        = "tls_handshake"                // not TLS, no common version, timed out
	reasonNoClientCert     = "client_certificate_missing"   // required and not sent
	reasonUntrustedClient  = "client_certificate_untrusted" // not signed by a --client-ca, expired
	reasonClientNotAllowed = "client_not_allowed"           // matches no --client-allow pattern
)

var refusalReasons = []string{reasonMaxConnections, reasonProxyHeader, reasonHandshake,
	reasonNoClientCert, reasonUntrustedClient, reasonClientNotAllowed}

// metrics counts what the listeners see. A nil *metrics counts nothing.
type metrics struct {
	messages     prometheus.Counter
	bytes        prometheus.Counter
	truncations  prometheus.Counter
	incompletes  prometheus.Counter
	framing      prometheus.Counter
	datagrams    prometheus.Counter
	connections  prometheus.Gauge
	connsTotal   prometheus.Counter
	connsRefused *prometheus.CounterVec
	certReloads  *prometheus.CounterVec
	certExpiry   prometheus.Gauge
	udpKernel    prometheus.CounterFunc // reads kernelDrops

	mu        sync.Mutex
	udpInodes map[uint64]bool // the listeners' UDP sockets, for their kernel drop counters
	udpDrops  uint64          // the last sum of those counters read
}

// newMetrics registers the listener metrics with reg; a nil reg yields working but unregistered
// collectors.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_messages_received_total", Help: "Messages received on all listeners."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_message_bytes_received_total", Help: "Bytes of messages received, without framing."}),
		truncations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_messages_truncated_total", Help: "Messages cut to the maximum message size."}),
		incompletes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_messages_incomplete_total", Help: "Messages cut off by the end of their TCP or TLS connection (EOF, the idle timeout, shutdown) before their frame ended; delivered as far as they arrived."}),
		framing: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_framing_errors_total", Help: "Connections that ended with a framing or read error."}),
		datagrams: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_datagrams_refused_total", Help: "UDP datagrams that could not be assembled into a message (bad GELF chunks or compression)."}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kinesyslog_connections", Help: "Open TCP and TLS connections, including those still in their PROXY header or TLS handshake."}),
		connsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinesyslog_connections_total", Help: "TCP and TLS connections accepted."}),
		connsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinesyslog_connections_refused_total", Help: "Connections closed before any of their data was accepted, by reason."},
			[]string{"reason"}),
		certReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinesyslog_tls_certificate_reloads_total", Help: "Reloads of the TLS certificate files, by result (ok, error: the old certificate stays)."},
			[]string{"result"}),
		certExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kinesyslog_tls_certificate_expiry_timestamp_seconds", Help: "When the TLS certificate in use expires, in seconds since the Unix epoch."}),
	}
	// Every series exists from the start, so that rates and alerts work before the first event.
	for _, r := range refusalReasons {
		m.connsRefused.WithLabelValues(r)
	}
	m.certReloads.WithLabelValues("ok")
	m.certReloads.WithLabelValues("error")
	m.udpKernel = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "kinesyslog_udp_kernel_drops_total",
		Help: "UDP datagrams the kernel dropped for the listeners' sockets, nearly always because a socket's receive buffer was full: the readers fell behind. Linux only."},
		m.kernelDrops)
	if reg == nil {
		return m
	}
	reg.MustRegister(m.udpKernel, m.messages, m.bytes, m.truncations, m.incompletes, m.framing, m.datagrams, m.connections, m.connsTotal, m.connsRefused,
		m.certReloads, m.certExpiry)
	return m
}

// watchUDP makes the kernel's drop counters of conns count in kinesyslog_udp_kernel_drops_total.
func (m *metrics) watchUDP(conns []*net.UDPConn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.udpInodes == nil {
		m.udpInodes = make(map[uint64]bool)
	}
	for _, c := range conns {
		if inode, ok := socketInode(c); ok {
			m.udpInodes[inode] = true
		}
	}
}

// kernelDrops sums the kernel's drop counters of the watched UDP sockets, when a scrape asks.
func (m *metrics) kernelDrops() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.udpInodes) > 0 {
		// A counter never goes down: a failed read reports what the last one found.
		if drops, ok := kernelDrops(m.udpInodes); ok {
			m.udpDrops = max(m.udpDrops, drops)
		}
	}
	return float64(m.udpDrops)
}

// received counts messages and their bytes; connections call it once per read, not per message.
func (m *metrics) received(messages, bytes int) {
	if messages > 0 {
		m.messages.Add(float64(messages))
		m.bytes.Add(float64(bytes))
	}
}

func (m *metrics) truncated() {
	m.truncations.Inc()
}

func (m *metrics) incomplete() {
	m.incompletes.Inc()
}

func (m *metrics) refusedDatagram() {
	m.datagrams.Inc()
}

func (m *metrics) framingError() {
	m.framing.Inc()
}

func (m *metrics) opened() {
	m.connections.Inc()
	m.connsTotal.Inc()
}

func (m *metrics) closed() {
	m.connections.Dec()
}

func (m *metrics) refused(reason string) {
	m.connsRefused.WithLabelValues(reason).Inc()
}

// certificate records the expiry of the certificate in use.
func (m *metrics) certificate(notAfter time.Time) {
	m.certExpiry.Set(float64(notAfter.Unix()))
}

func (m *metrics) reloaded(ok bool) {
	result := "ok"
	if !ok {
		result = "error"
	}
	m.certReloads.WithLabelValues(result).Inc()
}
