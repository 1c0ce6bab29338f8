package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLogRateLimited(t *testing.T) {
	var out bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&out, nil)), time.Minute)
	now := time.Unix(1_700_000_000, 0)
	l.now = func() time.Time { return now }

	for range 5 {
		l.Warn("bad frame", "source", "10.0.0.1")
	}
	l.Warn("other problem")
	now = now.Add(time.Minute)
	l.Warn("bad frame", "source", "10.0.0.2")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), out.String())
	}
	if strings.Contains(lines[0], "suppressed") {
		t.Errorf("first line %q reports suppressed lines", lines[0])
	}
	if !strings.Contains(lines[1], "other problem") {
		t.Errorf("second line %q, want the other message", lines[1])
	}
	if !strings.Contains(lines[2], "source=10.0.0.2") || !strings.Contains(lines[2], "suppressed=4") {
		t.Errorf("third line %q, want source=10.0.0.2 and suppressed=4", lines[2])
	}
}

func TestNilLogger(t *testing.T) {
	var l *Logger
	l.Error("nothing happens") // must not panic
}
