package metrics_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/metrics"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

func TestHealth(t *testing.T) {
	var health metrics.Health
	spoolErr := error(nil)
	health.Ready("listeners", func() error { return nil })
	health.Ready("spool", func() error { return spoolErr })
	stopped := health.Stage("uploader")
	health.Live("process", func() error { return nil })

	address := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	srv, err := metrics.Serve(address, metrics.NewRegistry(), &health, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Serve(%q): %v", address, err)
	}
	defer srv.Close()

	type answer struct {
		Code        int
		ContentType string
		Body        string
	}
	get := func(path, accept string) answer {
		req, _ := http.NewRequest(http.MethodGet, "http://"+address+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(body)}
	}
	const text, jsonType = "text/plain; charset=utf-8", "application/json"
	tests := []struct {
		name   string
		before func()
		path   string
		accept string
		want   answer
	}{
		{name: "ready", path: "/readyz",
			want: answer{200, text, "ok\nlisteners: ok\nspool: ok\n"}},
		{name: "alive", path: "/healthz",
			want: answer{200, text, "ok\nstage uploader: ok\nprocess: ok\n"}},
		{name: "ready as JSON by query", path: "/readyz?format=json",
			want: answer{200, jsonType, `{"status":"ok","checks":{"listeners":"ok","spool":"ok"}}` + "\n"}},
		{name: "not ready", before: func() { spoolErr = errors.New("spool full: 8 of 8 bytes") }, path: "/readyz",
			want: answer{503, text, "unavailable\nlisteners: ok\nspool: spool full: 8 of 8 bytes\n"}},
		{name: "not ready as JSON by Accept", path: "/readyz", accept: "application/json, text/plain;q=0.5",
			want: answer{503, jsonType, `{"status":"unavailable","checks":{"listeners":"ok","spool":"spool full: 8 of 8 bytes"}}` + "\n"}},
		{name: "alive while not ready", path: "/healthz",
			want: answer{200, text, "ok\nstage uploader: ok\nprocess: ok\n"}},
		{name: "ready again", before: func() { spoolErr = nil }, path: "/readyz?format=text", accept: "application/json",
			want: answer{200, text, "ok\nlisteners: ok\nspool: ok\n"}},
		{name: "a stage stopped", before: stopped, path: "/healthz?format=json",
			want: answer{503, jsonType, `{"status":"unavailable","checks":{"process":"ok","stage uploader":"stopped"}}` + "\n"}},
	}
	for _, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		if diff := cmp.Diff(tt.want, get(tt.path, tt.accept)); diff != "" {
			t.Errorf("%s: GET %s (Accept %q) mismatch (-want +got):\n%s", tt.name, tt.path, tt.accept, diff)
		}
	}
}

func TestHealthNoChecks(t *testing.T) {
	address := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	srv, err := metrics.Serve(address, metrics.NewRegistry(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Serve(%q): %v", address, err)
	}
	defer srv.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + address + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok\n" {
			t.Errorf("GET %s with no checks = %d %q, want 200 \"ok\\n\"", path, resp.StatusCode, body)
		}
	}
}
