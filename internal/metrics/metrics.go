// Package metrics serves the relay's Prometheus metrics over HTTP, at /metrics, from the one
// registry every stage registers its metrics with (each stage's Options.Registerer), and its
// health, at /healthz (alive: the process and its stages run) and /readyz (ready: it can take
// messages and deliver them), from the checks the wiring registers with a Health.
package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readHeaderTimeout bounds how long a client may take to send its request headers, so that a
// scraper that stalls holds no connection for long.
const readHeaderTimeout = 10 * time.Second

// NewRegistry returns a registry with the Go runtime's and the process's collectors, for the
// stages to register theirs.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Serve listens on address and serves reg at /metrics, and health at /healthz and /readyz (nil:
// no checks), in a goroutine of its own until the returned server is closed. An empty address
// serves nothing: the server is returned unstarted, so that closing it is always right. A failure to listen is returned; one while serving is
// logged.
func Serve(address string, reg *prometheus.Registry, health *Health, logger *slog.Logger) (*http.Server, error) {
	if health == nil {
		health = new(Health)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/healthz", health.handler(true))
	mux.Handle("/readyz", health.handler(false))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	if address == "" {
		return srv, nil
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", address, err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", "error", err)
		}
	}()
	logger.Info("serving metrics", "address", ln.Addr().String())
	return srv, nil
}
