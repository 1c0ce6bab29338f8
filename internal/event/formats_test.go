package event_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/event"
	"github.com/kinesyslog/kinesyslog/internal/gelf"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/syslog"
)

// eventsByPort closes b and returns the events of its batches by port.
func eventsByPort(t *testing.T, b *buffer.Buffers) map[uint16][]record.Event {
	t.Helper()
	done := make(chan map[uint16][]record.Event, 1)
	go func() {
		byPort := map[uint16][]record.Event{}
		for batch := range b.Batches() {
			byPort[batch.Key.Port] = append(byPort[batch.Key.Port], events(t, batch)...)
		}
		done <- byPort
	}()
	b.Close()
	return <-done
}

// TestStreamsFormats reads syslog on one port and GELF on another (Read), with the intake log:
// each port's messages are stamped by their format's Stamper, and Replay stamps each entry by the
// format it was logged with, also when no port reads that format any more.
func TestStreamsFormats(t *testing.T) {
	const syslogPort, gelfPort = 514, 12201
	syslogStamper, gelfStamper := syslog.Stamper{}, gelf.NewStamper(gelf.StamperOptions{})
	msgs := map[uint16]string{
		syslogPort: "<13>1 2026-11-25T02:34:55.125Z host app - - - syslog",
		gelfPort:   `{"version":"1.1","host":"h","short_message":"gelf","timestamp":1764038095.25}`,
	}
	want := map[uint16][]record.Event{
		syslogPort: {{Timestamp: 1795574095125, Message: msgs[syslogPort]}},
		gelfPort:   {{Timestamp: 1764038095250, Message: msgs[gelfPort]}},
	}
	ignoreIDs := cmp.Transformer("noID", func(e record.Event) record.Event { e.ID = ""; return e })

	dir := t.TempDir()
	log := openLog(t, dir)
	b := buffer.New(buffer.Options{Queue: 10})
	streams := event.NewStreams(b, syslogStamper, log, event.FormatSyslog)
	streams.Read(event.FormatGELF, gelfStamper, gelfPort)
	for port, msg := range msgs {
		s := streams.Stream(source, port)
		s.Add(context.Background(), []byte(msg), t0)
		if _, err := s.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(want, eventsByPort(t, b), ignoreIDs); diff != "" {
		t.Errorf("events by port (-want +got):\n%s", diff)
	}
	closeLog(t, log)

	// The next run reads no GELF port, yet replays the GELF entry as GELF.
	log = openLog(t, dir)
	b = buffer.New(buffer.Options{Queue: 10})
	streams = event.NewStreams(b, syslogStamper, log, event.FormatSyslog)
	streams.Read(event.FormatGELF, gelfStamper)
	if n, err := streams.Replay(context.Background()); err != nil || n != 2 {
		t.Fatalf("Replay() = %d, %v; want 2 entries", n, err)
	}
	if diff := cmp.Diff(want, eventsByPort(t, b), ignoreIDs); diff != "" {
		t.Errorf("replayed events by port (-want +got):\n%s", diff)
	}
	closeLog(t, log)
}
