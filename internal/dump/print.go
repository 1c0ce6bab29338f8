package dump

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

// A Format is what Printer prints of each record.
type Format string

// The formats.
const (
	// Text prints each event's message as received, followed by a newline (a message that
	// holds newlines spans several lines).
	Text Format = "text"
	// JSON prints each record whole as one JSON line, with only the events the filter keeps.
	JSON Format = "json"
	// JSONL prints each event as one JSON line: {"group", "stream", "id", "timestamp",
	// "message"}.
	JSONL Format = "jsonl"
)

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Text, JSON, JSONL:
		return f, nil
	}
	return "", fmt.Errorf("dump: --format %q: want text, json or jsonl", s)
}

// A WriteError is a failure to write the output: nothing more can be printed.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "dump: write: " + e.Err.Error() }

// Unwrap returns the writer's error.
func (e *WriteError) Unwrap() error { return e.Err }

// event is one line of JSONL.
type event struct {
	Group     string `json:"group"`
	Stream    string `json:"stream"`
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

// A Printer prints the records of the sources it is given, in Format, as Filter says. Create it
// with NewPrinter, and call Flush when done.
type Printer struct {
	format Format
	since  time.Time // Filter.Since, for skipping objects unread
	match  matcher
	out    *bufio.Writer
	enc    *json.Encoder
}

// NewPrinter returns a Printer writing to w.
func NewPrinter(w io.Writer, format Format, filter Filter) (*Printer, error) {
	if _, err := ParseFormat(string(format)); err != nil {
		return nil, err
	}
	m, err := filter.compile()
	if err != nil {
		return nil, err
	}
	out := bufio.NewWriter(w)
	enc := json.NewEncoder(out)
	// Messages are syslog: keep their '<', '>' and '&' readable.
	enc.SetEscapeHTML(false)
	return &Printer{format: format, since: filter.Since, match: m, out: out, enc: enc}, nil
}

// Flush writes what is buffered.
func (p *Printer) Flush() error {
	if err := p.out.Flush(); err != nil {
		return &WriteError{err}
	}
	return nil
}

// Records prints the records read from r; name says where from in errors. It is the one path
// every source is decoded by.
func (p *Printer) Records(r io.Reader, name string) error {
	rd := record.NewReader(r)
	for n := 1; ; n++ {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dump: %s: record %d: %w", name, n, err)
		}
		if !p.match.keepsRecord(rec) {
			continue
		}
		if err := p.record(rec); err != nil {
			return &WriteError{err}
		}
	}
}

// record prints the events of rec the filter keeps.
func (p *Printer) record(rec *record.Record) error {
	events := rec.LogEvents[:0:0]
	for _, ev := range rec.LogEvents {
		if p.match.keepsEvent(ev.Timestamp) {
			events = append(events, ev)
		}
	}
	if len(events) == 0 {
		return nil
	}
	switch p.format {
	case JSON:
		if len(events) < len(rec.LogEvents) {
			kept := *rec
			kept.LogEvents = events
			rec = &kept
		}
		return p.enc.Encode(rec)
	case JSONL:
		for _, ev := range events {
			if err := p.enc.Encode(event{Group: rec.LogGroup, Stream: rec.LogStream, ID: ev.ID,
				Timestamp: ev.Timestamp, Message: ev.Message}); err != nil {
				return err
			}
		}
		return nil
	default:
		for _, ev := range events {
			// bufio.Writer keeps its first error and returns it from every later call, so
			// checking WriteByte checks WriteString too.
			p.out.WriteString(ev.Message)
			if err := p.out.WriteByte('\n'); err != nil {
				return err
			}
		}
		return nil
	}
}
