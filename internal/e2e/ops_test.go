package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestLogFormatJSON runs the relay with --log-format json through a start, a message from
// logger, and a shutdown, and checks that every line it writes is a JSON object and that the
// one "relay started" line lists its listeners, destination, spool, intake log and limits.
func TestLogFormatJSON(t *testing.T) {
	loggerPath := Program(t, "logger")
	out := filepath.Join(t.TempDir(), "out")
	tcp, udp := testenv.FreePort(t), testenv.FreePort(t)
	relay := Start(t, Options{Args: []string{"--output", out, "--address", "127.0.0.1", "--log-format", "json",
		"--tcp-port", Port(tcp), "--udp-port", Port(udp), "--max-message-size", "8KiB"}})
	if b, err := exec.Command(loggerPath, "--tcp", "-n", "127.0.0.1", "-P", Port(tcp), "json log test").CombinedOutput(); err != nil {
		t.Fatalf("logger: %v\n%s", err, b)
	}
	if err := relay.Stop(); err != nil {
		t.Fatalf("relay exit: %v", err)
	}

	type startup struct {
		Listeners   []string
		Destination string
		Spool       string
		IntakeLog   string `json:"intake_log"`
		Limits      map[string]any
	}
	var started []startup
	var msgs []string
	for line := range strings.Lines(relay.Log()) {
		var entry struct {
			Time, Level, Msg string
			startup
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil || entry.Time == "" || entry.Level == "" {
			t.Errorf("log line is not a slog JSON object (%v): %q", err, line)
			continue
		}
		msgs = append(msgs, entry.Msg)
		if entry.Msg == "relay started" {
			started = append(started, entry.startup)
		}
	}
	if !slices.Contains(msgs, "relay stopped") {
		t.Errorf("no relay stopped line among %q", msgs)
	}
	if len(started) != 1 {
		t.Fatalf("%d relay started lines, want 1", len(started))
	}
	s := started[0]
	wantListeners := []string{"tcp 127.0.0.1:" + Port(tcp), "udp 127.0.0.1:" + Port(udp)}
	if !slices.Equal(s.Listeners, wantListeners) {
		t.Errorf("listeners = %q, want %q", s.Listeners, wantListeners)
	}
	if !strings.Contains(s.Destination, out) || s.Spool != relay.SpoolDir || s.IntakeLog == "" {
		t.Errorf("destination, spool, intake log = %q, %q, %q; want %s, %s and the log's state", s.Destination, s.Spool, s.IntakeLog, out, relay.SpoolDir)
	}
	for _, k := range []string{"max_message_bytes", "buffer_max_bytes", "spool_max_bytes", "intake_max_bytes",
		"max_connections", "idle_timeout", "upload_timeout", "shutdown_timeout"} {
		if _, ok := s.Limits[k]; !ok {
			t.Errorf("limits lack %s: %v", k, s.Limits)
		}
	}
	if got := s.Limits["max_message_bytes"]; got != float64(8192) {
		t.Errorf("limits.max_message_bytes = %v, want 8192", got)
	}
}
