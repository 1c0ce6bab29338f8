package s3read

import (
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Location
		wantErr bool
	}{
		{in: "s3://logs", want: Location{Bucket: "logs"}},
		{in: "s3://logs/", want: Location{Bucket: "logs"}},
		{in: "s3://logs/firehose/2026/", want: Location{Bucket: "logs", Prefix: "firehose/2026/"}},
		{in: "s3:///prefix", wantErr: true},
		{in: "https://logs/prefix", wantErr: true},
		{in: "s3://logs/p?versionId=1", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestMayHold checks which objects --since skips: only those of Firehose's layout whose hour
// ended an hour or more before since, consistently with the key the listing starts after.
func TestMayHold(t *testing.T) {
	since := time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC)
	const name = "/kinesyslog-1-2026-11-30-22-59-59-0a6b1b36-3f5d-4d71-9a53-5f0e2b8c6d11"
	tests := []struct {
		key  string
		want bool
	}{
		{key: "logs/2026/11/30/22" + name, want: false}, // ended 01:30 before since
		{key: "logs/2026/11/30/23" + name, want: true},  // ended 00:30 before since
		{key: "logs/2026/12/01/00" + name, want: true},
		{key: "2026/11/30/21" + name, want: false},
		{key: "logs/errors/processing-failed/kinesyslog-1", want: true}, // not the layout
		{key: "logs/2026/11/30/22/sub/object", want: true},
	}
	l := Location{Bucket: "b", Prefix: "logs/"}
	start := l.StartAfter(since)
	for _, tt := range tests {
		if got := MayHold(tt.key, since); got != tt.want {
			t.Errorf("MayHold(%q, %v) = %t, want %t", tt.key, since, got, tt.want)
		}
		if _, ok := HourOf(tt.key); ok && len(tt.key) > len("logs/") && tt.key[:5] == "logs/" && (tt.key > start) != tt.want {
			t.Errorf("key %q listed after %q: %t, want %t", tt.key, start, tt.key > start, tt.want)
		}
		if !MayHold(tt.key, time.Time{}) {
			t.Errorf("MayHold(%q, zero time) = false, want true", tt.key)
		}
	}
	if got := (Location{Bucket: "b", Prefix: "logs/kinesyslog-"}).StartAfter(since); got != "" {
		t.Errorf("StartAfter of a prefix not ending in / = %q, want none", got)
	}
	if got := l.StartAfter(time.Time{}); got != "" {
		t.Errorf("StartAfter(zero) = %q, want none", got)
	}
}

// FuzzHourOf reads the hour of keys a bucket lists, which anyone who can write to it chooses:
// no panic, and an hour found is one the key spells out, whole hours only, consistent with
// MayHold.
func FuzzHourOf(f *testing.F) {
	f.Add("firehose/2026/11/30/22/kinesyslog-test-1-2026-11-30-22-59-59-uuid")
	f.Add("2026/02/30/25/x")
	f.Add("a/0000/00/00/00/")
	f.Fuzz(func(t *testing.T, key string) {
		hour, ok := HourOf(key)
		if !ok {
			if !MayHold(key, time.Now()) {
				t.Errorf("MayHold(%q) = false for a key without an hour", key)
			}
			return
		}
		if !strings.Contains(key, hour.Format(HourLayout)+"/") || hour.Truncate(time.Hour) != hour {
			t.Errorf("HourOf(%q) = %v, not an hour the key names", key, hour)
		}
		if !MayHold(key, hour) || MayHold(key, hour.Add(2*time.Hour)) {
			t.Errorf("MayHold(%q) skips its own hour %v, or keeps it two hours on", key, hour)
		}
	})
}
