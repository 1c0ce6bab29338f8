package dump

import (
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 12, 3, 6, 30, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "2h", want: now.Add(-2 * time.Hour)},
		{in: "7d", want: now.AddDate(0, 0, -7)},
		{in: "2026-12-01T00:30:00Z", want: time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC)},
		{in: "2026-12-01T01:30:00+01:00", want: time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC)},
		{in: "2026-12-01T00:30:15.5Z", want: time.Date(2026, 12, 1, 0, 30, 15, 5e8, time.UTC)},
		{in: "2026-12-01T00:30", want: time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC)},
		{in: "2026-12-01", want: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{in: "-1h", wantErr: true},
		{in: "yesterday", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestFilter(t *testing.T) {
	rec := &record.Record{LogGroup: "/kinesyslog/syslog/514", LogStream: "10.0.0.5"}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		filter     Filter
		wantRecord bool
		wantEvent  bool // of an event stamped at
	}{
		{name: "zero", wantRecord: true, wantEvent: true},
		{name: "exact group", filter: Filter{Group: "/kinesyslog/syslog/514"}, wantRecord: true, wantEvent: true},
		{name: "another group", filter: Filter{Group: "/kinesyslog/syslog/51"}, wantEvent: true},
		{name: "glob across /", filter: Filter{Group: "/kinesyslog/*"}, wantRecord: true, wantEvent: true},
		{name: "? is one character", filter: Filter{Group: "/kinesyslog/syslog/51?"}, wantRecord: true, wantEvent: true},
		{name: "regexp characters are literal", filter: Filter{Stream: "10.0.0.5|x"}, wantEvent: true},
		{name: "stream glob", filter: Filter{Stream: "10.0.*"}, wantRecord: true, wantEvent: true},
		{name: "since is inclusive", filter: Filter{Since: at}, wantRecord: true, wantEvent: true},
		{name: "until is exclusive", filter: Filter{Until: at}, wantRecord: true},
		{name: "within", filter: Filter{Since: at.Add(-time.Second), Until: at.Add(time.Millisecond)}, wantRecord: true, wantEvent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.filter.compile()
			if err != nil {
				t.Fatal(err)
			}
			if got := m.keepsRecord(rec); got != tt.wantRecord {
				t.Errorf("keepsRecord(%s %s) = %t, want %t", rec.LogGroup, rec.LogStream, got, tt.wantRecord)
			}
			if got := m.keepsEvent(at.UnixMilli()); got != tt.wantEvent {
				t.Errorf("keepsEvent(%v) = %t, want %t", at, got, tt.wantEvent)
			}
		})
	}
	if _, err := (Filter{Since: at, Until: at}).compile(); err == nil {
		t.Error("compile() of an empty time range succeeded")
	}
}
