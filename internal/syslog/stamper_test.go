package syslog

import (
	"testing"
	"time"
)

func TestStamper(t *testing.T) {
	received := time.Date(2026, 11, 25, 2, 34, 55, 123456000, time.UTC)
	tests := []struct {
		name    string
		msg     string
		wantTS  time.Time
		wantOut string // "" when the message is kept as it is
	}{
		{name: "RFC5424", msg: "<13>1 2026-02-21T21:07:50.239881Z host app - - - hi",
			wantTS: time.Date(2026, 2, 21, 21, 7, 50, 239881000, time.UTC)},
		{name: "NILVALUE keeps the message", msg: "<13>1 - host app - - - hi", wantTS: received},
		{name: "no header is rewritten", msg: "just text", wantTS: received,
			wantOut: "<13>1 2026-11-25T02:34:55.123456Z 10.0.0.5 just text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, out := Stamper{}.Stamp(nil, []byte(tt.msg), received, "10.0.0.5")
			if !ts.Equal(tt.wantTS) || string(out) != tt.wantOut {
				t.Errorf("Stamp(%q) = %v, %q; want %v, %q", tt.msg, ts, out, tt.wantTS, tt.wantOut)
			}
		})
	}
}
