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

// TestForStream stamps a stream's messages with the Stamper of ForStream, which keeps the last RFC
// 3339 date and time: each stamp is what Stamp gives, whether it shares the last one's date and
// time (with another fraction or zone, or a zone that is not valid) or not.
func TestForStream(t *testing.T) {
	received := time.Date(2026, 11, 25, 2, 34, 55, 123456000, time.UTC)
	tests := []struct {
		name string
		loc  *time.Location
		msgs []string
	}{
		{name: "same second", msgs: []string{
			"<13>1 2026-02-21T21:07:50.239881Z h a - - - x",
			"<13>1 2026-02-21T21:07:50.5Z h a - - - x",
			"<13>1 2026-02-21T21:07:50+01:00 h a - - - x",
			"<13>1 2026-02-21T21:07:50-23:59 h a - - - x",
			"<13>1 2026-02-21T21:07:50+01:0x h a - - - x",
			"<13>1 2026-02-21T21:07:50.239881Z h a - - - x",
		}},
		{name: "seconds change", msgs: []string{
			"<13>1 2026-02-21T21:07:50Z h a - - - x",
			"<13>1 2026-02-21T21:07:51Z h a - - - x",
			"<13>1 2026-02-22T21:07:51Z h a - - - x",
			"<13>1 2026-02-21T21:07:50Z h a - - - x",
		}},
		{name: "invalid dates are not kept", msgs: []string{
			"<13>1 2026-02-29T21:07:50Z h a - - - x",
			"<13>1 2026-02-29T21:07:50Z h a - - - x",
			"<13>1 2024-02-29T21:07:50Z h a - - - x",
			"<13>1 2024-02-29T21:07:5xZ h a - - - x",
		}},
		{name: "zone-less in a Location", loc: time.FixedZone("UTC-5", -5*3600), msgs: []string{
			"<13>2026-02-21T21:07:50.1 h a: x",
			"<13>2026-02-21T21:07:50.2 h a: x",
			"<13>2026-02-21T21:07:50.3Z h a: x",
			"<13>Feb 21 21:07:50 h a: x",
			"<13>2026-02-21T21:07:50.4 h a: x",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Stamper{Parser: Parser{Location: tt.loc}}
			stamp := s.ForStream()
			for _, msg := range tt.msgs {
				wantTS, wantOut := s.Stamp(nil, []byte(msg), received, "10.0.0.5")
				ts, out := stamp.Stamp(nil, []byte(msg), received, "10.0.0.5")
				if ts != wantTS || string(out) != string(wantOut) {
					t.Errorf("ForStream's Stamp(%q) = %v, %q; Stamp gives %v, %q", msg, ts, out, wantTS, wantOut)
				}
			}
		})
	}
}
