package syslog

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAppendRewritten(t *testing.T) {
	const stamp = "2026-02-21T21:08:00.500000Z"
	tests := []struct {
		name     string
		msg      string
		source   string
		received time.Time
		want     string
	}{
		{name: "PRI and text", msg: "<13>hello world", source: "192.0.2.7", want: "<13>1 " + stamp + " 192.0.2.7 hello world"},
		{name: "PRI kept", msg: "<165>%ASA-6-302013: Built", source: "192.0.2.7", want: "<165>1 " + stamp + " 192.0.2.7 %ASA-6-302013: Built"},
		{name: "PRI 0 kept", msg: "<0>panic", source: "192.0.2.7", want: "<0>1 " + stamp + " 192.0.2.7 panic"},
		{name: "PRI normalised", msg: "<013>x", source: "192.0.2.7", want: "<13>1 " + stamp + " 192.0.2.7 x"},
		{name: "no PRI", msg: "Use the BFG!", source: "192.0.2.7", want: "<13>1 " + stamp + " 192.0.2.7 Use the BFG!"},
		{name: "invalid PRI kept as content", msg: "<192>x", source: "192.0.2.7", want: "<13>1 " + stamp + " 192.0.2.7 <192>x"},
		{name: "empty PRI kept as content", msg: "<>x", source: "192.0.2.7", want: "<13>1 " + stamp + " 192.0.2.7 <>x"},
		{name: "bad stamp kept", msg: "<13>Feb 30 12:00:00 host tag: x", source: "192.0.2.7", want: "<13>1 " + stamp + " 192.0.2.7 Feb 30 12:00:00 host tag: x"},
		{name: "bad RFC 5424 stamp kept", msg: "<13>1 2026-13-01T00:00:00Z h a - - - x", source: "192.0.2.7", want: "<13>1 " + stamp + " 192.0.2.7 1 2026-13-01T00:00:00Z h a - - - x"},
		{name: "IPv6 source", msg: "x", source: "2001:db8::7", want: "<13>1 " + stamp + " 2001:db8::7 x"},
		{name: "no source", msg: "x", want: "<13>1 " + stamp + " - x"},
		{name: "empty message", msg: "", source: "192.0.2.7", want: "<13>1 " + stamp + " 192.0.2.7 "},
		{name: "PRI only", msg: "<14>", source: "192.0.2.7", want: "<14>1 " + stamp + " 192.0.2.7 "},
		{name: "receive time in UTC", msg: "x", source: "192.0.2.7", received: received.In(plusOne), want: "<13>1 " + stamp + " 192.0.2.7 x"},
		{name: "whole microseconds", msg: "x", source: "192.0.2.7", received: time.Date(2026, 1, 2, 3, 4, 5, 6_999, time.UTC), want: "<13>1 2026-01-02T03:04:05.000006Z 192.0.2.7 x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recv := tt.received
			if recv.IsZero() {
				recv = received
			}
			h := Parser{}.Scan([]byte(tt.msg), recv)
			if !h.Rewrite {
				t.Fatalf("Scan(%q).Rewrite = false, want true", tt.msg)
			}
			prefix := []byte("kept|")
			got := AppendRewritten(prefix, []byte(tt.msg), h, recv, tt.source)
			if diff := cmp.Diff("kept|"+tt.want, string(got)); diff != "" {
				t.Errorf("AppendRewritten(%q) mismatch (-want +got):\n%s", tt.msg, diff)
			}
			// The rewrite is itself a message with a usable header.
			rh := Parser{}.Scan(got[len(prefix):], recv)
			if rh.Rewrite || !rh.Timestamp.Equal(recv.Truncate(time.Microsecond)) {
				t.Errorf("Scan(%q) = %+v, want a header stamped %v", got[len(prefix):], rh, recv)
			}
		})
	}
}

func TestAppendRewrittenAllocs(t *testing.T) {
	msg := []byte("<13>hello world")
	h := Parser{}.Scan(msg, received)
	dst := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		dst = AppendRewritten(dst[:0], msg, h, received, "192.0.2.7")
	}); n != 0 {
		t.Errorf("AppendRewritten into a large enough buffer: %v allocations, want 0", n)
	}
}
