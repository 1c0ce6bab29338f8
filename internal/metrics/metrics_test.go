package metrics_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/metrics"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

func TestServe(t *testing.T) {
	reg := metrics.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "kinesyslog_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(3)
	address := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	srv, err := metrics.Serve(address, reg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Serve(%q): %v", address, err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + address + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"kinesyslog_test_total 3", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	if _, err := metrics.Serve(address, reg, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Errorf("Serve(%q) twice: no error", address)
	}
}

func TestServeNoAddress(t *testing.T) {
	srv, err := metrics.Serve("", metrics.NewRegistry(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf(`Serve(""): %v`, err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close of an unstarted server: %v", err)
	}
}
