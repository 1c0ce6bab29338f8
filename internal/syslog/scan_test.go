package syslog

import (
	"sync"
	"testing"
	"time"
)

// received is the receive time used where a test does not choose one.
var received = time.Date(2026, time.February, 21, 21, 8, 0, 500_000_000, time.UTC)

// plusOne is a zone-less sender's zone in the tests that need one other than UTC.
var plusOne = time.FixedZone("UTC+1", 3600)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	if s == "" {
		return time.Time{}
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return ts
}

// checkHeader compares the exported fields of got with the wanted ones.
func checkHeader(t *testing.T, msg string, got Header, pri int, ts time.Time, rewrite bool) {
	t.Helper()
	if got.Priority != pri || !got.Timestamp.Equal(ts) || got.Rewrite != rewrite {
		t.Errorf("Scan(%q) = {Priority: %d, Timestamp: %v, Rewrite: %t}, want {Priority: %d, Timestamp: %v, Rewrite: %t}",
			msg, got.Priority, got.Timestamp, got.Rewrite, pri, ts, rewrite)
	}
	if !got.Timestamp.IsZero() && got.Timestamp.Location() != time.UTC {
		t.Errorf("Scan(%q).Timestamp = %v, want it in UTC", msg, got.Timestamp)
	}
}

func TestScan(t *testing.T) {
	tests := []struct {
		name    string
		loc     *time.Location
		msg     string
		pri     int
		ts      string // RFC 3339 with nanoseconds; empty for none
		rewrite bool
	}{
		// RFC 5424.
		{name: "5424 spec record", msg: `<13>1 2018-02-21T21:07:50.239881+00:00 host.example.com user 4326 - [timeQuality tzKnown="1" isSynced="0"] Hello, World!`, pri: 13, ts: "2018-02-21T21:07:50.239881Z"},
		{name: "5424 Z millis", msg: "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed", pri: 34, ts: "2003-10-11T22:14:15.003Z"},
		{name: "5424 negative offset", msg: "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.", pri: 165, ts: "2003-08-24T12:14:15.000003Z"},
		{name: "5424 positive half-hour offset", msg: "<14>1 2026-02-22T02:37:50+05:30 mumbai app - - - x", pri: 14, ts: "2026-02-21T21:07:50Z"},
		{name: "5424 no fraction", msg: "<14>1 2026-02-21T21:07:50Z h a - - - x", pri: 14, ts: "2026-02-21T21:07:50Z"},
		{name: "5424 one fraction digit", msg: "<14>1 1985-04-12T23:20:50.5Z h a - - - x", pri: 14, ts: "1985-04-12T23:20:50.5Z"},
		{name: "5424 nine fraction digits", msg: "<14>1 2026-02-21T21:07:50.123456789Z h", pri: 14, ts: "2026-02-21T21:07:50.123456789Z"},
		{name: "5424 ten fraction digits", msg: "<14>1 2026-02-21T21:07:50.1234567891Z h", pri: 14, rewrite: true},
		{name: "5424 empty fraction", msg: "<14>1 2026-02-21T21:07:50.Z h", pri: 14, rewrite: true},
		{name: "5424 lower-case t and z", msg: "<14>1 2026-02-21t21:07:50.25z h", pri: 14, ts: "2026-02-21T21:07:50.25Z"},
		{name: "5424 zone-less in UTC", msg: "<14>1 2026-02-21T21:07:50 h", pri: 14, ts: "2026-02-21T21:07:50Z"},
		{name: "5424 zone-less in Location", loc: plusOne, msg: "<14>1 2026-02-21T21:07:50 h", pri: 14, ts: "2026-02-21T20:07:50Z"},
		{name: "5424 offset wins over Location", loc: plusOne, msg: "<14>1 2026-02-21T21:07:50Z h", pri: 14, ts: "2026-02-21T21:07:50Z"},
		{name: "5424 stamp ends message", msg: "<14>1 2026-02-21T21:07:50Z", pri: 14, ts: "2026-02-21T21:07:50Z"},
		{name: "5424 leap year", msg: "<14>1 2024-02-29T12:00:00Z h", pri: 14, ts: "2024-02-29T12:00:00Z"},
		{name: "5424 NILVALUE", msg: "<13>1 - host app - - - msg", pri: 13},
		{name: "5424 NILVALUE ends message", msg: "<13>1 -", pri: 13},
		{name: "5424 dash word", msg: "<13>1 -host app", pri: 13, rewrite: true},
		{name: "5424 nothing after version", msg: "<13>1 ", pri: 13, rewrite: true},
		{name: "5424 month 13", msg: "<13>1 2026-13-01T00:00:00Z h", pri: 13, rewrite: true},
		{name: "5424 month 0", msg: "<13>1 2026-00-01T00:00:00Z h", pri: 13, rewrite: true},
		{name: "5424 day 32", msg: "<13>1 2026-01-32T00:00:00Z h", pri: 13, rewrite: true},
		{name: "5424 April 31", msg: "<13>1 2026-04-31T00:00:00Z h", pri: 13, rewrite: true},
		{name: "5424 Feb 29 common year", msg: "<13>1 2026-02-29T00:00:00Z h", pri: 13, rewrite: true},
		{name: "5424 hour 25", msg: "<13>1 2026-01-01T25:00:00Z h", pri: 13, rewrite: true},
		{name: "5424 minute 60", msg: "<13>1 2026-01-01T23:60:00Z h", pri: 13, rewrite: true},
		{name: "5424 leap second", msg: "<13>1 1990-12-31T23:59:60Z h", pri: 13, rewrite: true},
		{name: "5424 year 0", msg: "<13>1 0000-01-01T00:00:00Z h", pri: 13, rewrite: true},
		{name: "5424 offset hour 24", msg: "<13>1 2026-01-01T00:00:00+24:00 h", pri: 13, rewrite: true},
		{name: "5424 offset without colon", msg: "<13>1 2026-01-01T00:00:00+0100 h", pri: 13, rewrite: true},
		{name: "5424 truncated offset", msg: "<13>1 2026-01-01T00:00:00+01", pri: 13, rewrite: true},
		{name: "5424 colon after stamp", msg: "<13>1 2026-01-01T00:00:00Z: h", pri: 13, rewrite: true},
		{name: "5424 space separator", msg: "<13>1 2026-01-01 00:00:00Z h", pri: 13, rewrite: true},
		{name: "5424 text", msg: "<13>1 hello world", pri: 13, rewrite: true},

		// RFC 3339 without the RFC 5424 version.
		{name: "rsyslog forward format", msg: "<30>2026-02-21T21:07:50.239881+00:00 web01 nginx[812]: GET /", pri: 30, ts: "2026-02-21T21:07:50.239881Z"},
		{name: "rsyslog file format without PRI", msg: "2026-02-21T22:07:50.239881+01:00 web01 nginx[812]: GET /", pri: -1, ts: "2026-02-21T21:07:50.239881Z"},
		{name: "RFC 3339 then colon", msg: "<166>2026-02-21T21:07:50Z: %ASA-6-302013: Built", pri: 166, ts: "2026-02-21T21:07:50Z"},
		{name: "RFC 3339 zone-less in Location", loc: plusOne, msg: "<30>2026-02-21T22:07:50 web01 x", pri: 30, ts: "2026-02-21T21:07:50Z"},
		{name: "RFC 3339 not delimited", msg: "<30>2026-02-21T21:07:50Zweb01", pri: 30, rewrite: true},

		// RFC 3164 and variants; received is 2026-02-21, so later months are last year's.
		{name: "3164 spec example", msg: "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", pri: 34, ts: "2025-10-11T22:14:15Z"},
		{name: "3164 space-padded day", msg: "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", pri: 13, ts: "2026-02-05T17:32:18Z"},
		{name: "3164 zero-padded day", msg: "<13>Feb 05 17:32:18 10.0.0.99 Use the BFG!", pri: 13, ts: "2026-02-05T17:32:18Z"},
		{name: "3164 bare day", msg: "<13>Feb 5 17:32:18 10.0.0.99 Use the BFG!", pri: 13, ts: "2026-02-05T17:32:18Z"},
		{name: "3164 lower-case month", msg: "<13>feb 21 21:07:50 host x", pri: 13, ts: "2026-02-21T21:07:50Z"},
		{name: "3164 upper-case month", msg: "<13>FEB 21 21:07:50 host x", pri: 13, ts: "2026-02-21T21:07:50Z"},
		{name: "3164 zone-less in Location", loc: plusOne, msg: "<13>Feb 21 22:07:50 host x", pri: 13, ts: "2026-02-21T21:07:50Z"},
		{name: "3164 fraction", msg: "<13>Feb 21 21:07:50.123 host x", pri: 13, ts: "2026-02-21T21:07:50.123Z"},
		{name: "3164 microseconds", msg: "<13>Feb 21 21:07:50.123456 host x", pri: 13, ts: "2026-02-21T21:07:50.123456Z"},
		{name: "3164 year before time", msg: "<166>Feb 21 2025 21:07:50: %ASA-6-302013: Built outbound", pri: 166, ts: "2025-02-21T21:07:50Z"},
		{name: "3164 year before time, host", msg: "<166>Dec 31 2027 23:59:59 fw01 : %ASA-6-302013: Built", pri: 166, ts: "2027-12-31T23:59:59Z"},
		{name: "3164 year after time", msg: "<13>Feb 21 21:07:50 2024 host x", pri: 13, ts: "2024-02-21T21:07:50Z"},
		{name: "3164 numeric host is not a year", msg: "<13>Feb 21 21:07:50 1999 x", pri: 13, ts: "2026-02-21T21:07:50Z"},
		{name: "3164 missing hostname", msg: "<30>Feb 21 21:07:50 sshd[123]: Accepted publickey", pri: 30, ts: "2026-02-21T21:07:50Z"},
		{name: "3164 spaces after PRI", msg: "<13>  Feb 21 21:07:50 host x", pri: 13, ts: "2026-02-21T21:07:50Z"},
		{name: "3164 stamp ends message", msg: "<13>Feb 21 21:07:50", pri: 13, ts: "2026-02-21T21:07:50Z"},
		{name: "3164 without PRI", msg: "Feb 21 21:07:50 host tag: x", pri: -1, ts: "2026-02-21T21:07:50Z"},
		{name: "3164 zone name and year after", msg: "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% do-nuts", pri: 165, ts: "2025-08-24T05:34:00Z"},
		{name: "3164 not delimited", msg: "<13>Feb 21 21:07:50x", pri: 13, rewrite: true},
		{name: "3164 unknown month", msg: "<13>Foo 21 21:07:50 host", pri: 13, rewrite: true},
		{name: "3164 Feb 30", msg: "<13>Feb 30 12:00:00 host", pri: 13, rewrite: true},
		{name: "3164 day 32", msg: "<13>Jan 32 12:00:00 host", pri: 13, rewrite: true},
		{name: "3164 day 0", msg: "<13>Jan  0 12:00:00 host", pri: 13, rewrite: true},
		{name: "3164 hour 25", msg: "<13>Jan 21 25:00:00 host", pri: 13, rewrite: true},
		{name: "3164 minute 60", msg: "<13>Jan 21 21:60:00 host", pri: 13, rewrite: true},
		{name: "3164 short time", msg: "<13>Jan 21 21:07 host", pri: 13, rewrite: true},
		{name: "3164 year 0", msg: "<13>Jan 21 0000 21:07:00 host", pri: 13, rewrite: true},
		{name: "3164 ten fraction digits", msg: "<13>Feb 21 21:07:50.1234567891 host", pri: 13, rewrite: true},
		{name: "3164 year first", msg: "<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org sched[0]: That's All Folks!", pri: 0, ts: "1990-10-22T10:52:01Z"},
		{name: "3164 year first and before time", msg: "<0>1990 Oct 22 1990 10:52:01 host x", pri: 0, rewrite: true},
		{name: "3164 year first is 0", msg: "<0>0000 Oct 22 10:52:01 host x", pri: 0, rewrite: true},
		{name: "3164 number then text", msg: "<0>1990 was a good year", pri: 0, rewrite: true},

		// Cisco IOS.
		{name: "Cisco counter, star, UTC", msg: "<189>123: *Feb 21 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured from console by vty0", pri: 189, ts: "2026-02-21T18:48:50.483Z"},
		{name: "Cisco UTC overrides Location", loc: plusOne, msg: "<189>123: *Feb 21 18:48:50.483 UTC: %SYS-5-CONFIG_I: x", pri: 189, ts: "2026-02-21T18:48:50.483Z"},
		{name: "Cisco GMT", loc: plusOne, msg: "<189>12: Feb 21 18:48:50 GMT: %SYS-5-CONFIG_I: x", pri: 189, ts: "2026-02-21T18:48:50Z"},
		{name: "Cisco UT", loc: plusOne, msg: "<189>12: Feb 21 18:48:50 UT: %SYS-5-CONFIG_I: x", pri: 189, ts: "2026-02-21T18:48:50Z"},
		{name: "Cisco other zone in Location", loc: plusOne, msg: "<189>12: Feb 21 18:48:50 CET: %SYS-5-CONFIG_I: x", pri: 189, ts: "2026-02-21T17:48:50Z"},
		{name: "Cisco UTC-like host is not a zone", loc: plusOne, msg: "<189>12: Feb 21 18:48:50 UTCX: x", pri: 189, ts: "2026-02-21T17:48:50Z"},
		{name: "Cisco counter only", msg: "<189>45: Mar  1 18:48:50: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down", pri: 189, ts: "2025-03-01T18:48:50Z"},
		{name: "Cisco counter and hostname", msg: "<189>45: core-sw1: *Feb 20 18:48:50.001: %LINK-3-UPDOWN: x", pri: 189, ts: "2026-02-20T18:48:50.001Z"},
		{name: "Cisco counter, sequence, hostname", msg: "<189>45: 000012: router1: *Feb 20 18:48:50.001 UTC: %SYS-5-RESTART: x", pri: 189, ts: "2026-02-20T18:48:50.001Z"},
		{name: "Cisco empty counter", msg: "<189>: *Feb 20 18:48:50.001: %SYS-5-RESTART: x", pri: 189, ts: "2026-02-20T18:48:50.001Z"},
		{name: "Cisco dot marker", msg: "<189>7: .Feb 20 18:48:50.001: %SYS-5-RESTART: x", pri: 189, ts: "2026-02-20T18:48:50.001Z"},
		{name: "Cisco RFC 3339 after counter", msg: "<189>7: 2026-02-20T18:48:50.001Z: %SYS-5-RESTART: x", pri: 189, ts: "2026-02-20T18:48:50.001Z"},
		{name: "Cisco NX-OS", loc: plusOne, msg: "<189>: 2026 Feb 21 21:07:50 UTC: %ETHPORT-5-IF_UP: Interface Ethernet1/7 is up", pri: 189, ts: "2026-02-21T21:07:50Z"},
		{name: "Cisco NX-OS msec", msg: "<187>: 2025 Dec 31 23:59:59.999 UTC: %ETHPORT-3-IF_ERROR_VLANS_SUSPENDED: x", pri: 187, ts: "2025-12-31T23:59:59.999Z"},
		{name: "Cisco WLC task prefix", msg: "<133>WLC01: *spamApTask4: Feb 21 21:07:50.123: %LWAPP-3-REPLAY_ERR: x", pri: 133, ts: "2026-02-21T21:07:50.123Z"},
		{name: "Cisco four prefixes", msg: "<189>1: 2: 3: 4: Feb 20 18:48:50: x", pri: 189, rewrite: true},
		{name: "Cisco prefix without PRI", msg: "45: Feb 20 18:48:50: x", pri: -1, rewrite: true},
		{name: "Cisco counter without stamp", msg: "<189>45: %SYS-5-RESTART: x", pri: 189, rewrite: true},

		// PRI.
		{name: "PRI 0", msg: "<0>Feb 21 21:07:50 host x", pri: 0, ts: "2026-02-21T21:07:50Z"},
		{name: "PRI 191", msg: "<191>Feb 21 21:07:50 host x", pri: 191, ts: "2026-02-21T21:07:50Z"},
		{name: "PRI leading zero", msg: "<013>Feb 21 21:07:50 host x", pri: 13, ts: "2026-02-21T21:07:50Z"},
		{name: "PRI 192", msg: "<192>Feb 21 21:07:50 host x", pri: -1, rewrite: true},
		{name: "PRI 999", msg: "<999>1 2026-02-21T21:07:50Z host x", pri: -1, rewrite: true},
		{name: "PRI empty", msg: "<>Feb 21 21:07:50 host x", pri: -1, rewrite: true},
		{name: "PRI four digits", msg: "<0001>Feb 21 21:07:50 host x", pri: -1, rewrite: true},
		{name: "PRI letter", msg: "<1a>Feb 21 21:07:50 host x", pri: -1, rewrite: true},
		{name: "PRI unclosed", msg: "<13", pri: -1, rewrite: true},
		{name: "PRI only", msg: "<13>", pri: 13, rewrite: true},
		{name: "lone angle bracket", msg: "<", pri: -1, rewrite: true},
		{name: "empty", msg: "", pri: -1, rewrite: true},
		{name: "text", msg: "Use the BFG!", pri: -1, rewrite: true},
		{name: "PRI and text", msg: "<13>hello world", pri: 13, rewrite: true},
		{name: "Fortinet key-values", msg: `<189>date=2026-02-21 time=21:07:50 devname="fg1" type="traffic"`, pri: 189, rewrite: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parser{Location: tt.loc}.Scan([]byte(tt.msg), received)
			checkHeader(t, tt.msg, got, tt.pri, mustTime(t, tt.ts), tt.rewrite)
		})
	}
}

func TestScanYear(t *testing.T) {
	utcPlus10 := time.FixedZone("UTC+10", 10*3600)
	tests := []struct {
		name     string
		loc      *time.Location
		received string
		msg      string
		ts       string // empty when the stamp is not usable
	}{
		{name: "same day", received: "2026-07-04T12:00:00Z", msg: "Jul  4 11:59:00", ts: "2026-07-04T11:59:00Z"},
		{name: "New Year's Day, stamp from Eve", received: "2026-01-01T00:00:05Z", msg: "Dec 31 23:59:59", ts: "2025-12-31T23:59:59Z"},
		{name: "New Year's Eve, clock ahead into the new year", received: "2025-12-31T23:59:50Z", msg: "Jan  1 00:00:10", ts: "2026-01-01T00:00:10Z"},
		{name: "New Year's Eve, stamp from Eve", received: "2025-12-31T12:00:00Z", msg: "Dec 31 11:00:00", ts: "2025-12-31T11:00:00Z"},
		{name: "New Year's Day, stamp from Day", received: "2026-01-01T12:00:00Z", msg: "Jan  1 11:00:00", ts: "2026-01-01T11:00:00Z"},
		{name: "New Year's Eve, January stamp 47h ahead", received: "2025-12-30T23:00:00Z", msg: "Jan  1 22:00:00", ts: "2026-01-01T22:00:00Z"},
		{name: "New Year's Eve, January stamp 49h ahead", received: "2025-12-30T23:00:00Z", msg: "Jan  2 00:00:00", ts: "2025-01-02T00:00:00Z"},
		{name: "exactly 48h ahead", received: "2026-03-01T00:00:00Z", msg: "Mar  3 00:00:00", ts: "2026-03-03T00:00:00Z"},
		{name: "48h and a nanosecond ahead", received: "2026-03-01T00:00:00Z", msg: "Mar  3 00:00:00.000000001", ts: "2025-03-03T00:00:00.000000001Z"},
		{name: "Location decides the year", loc: utcPlus10, received: "2025-12-31T14:00:05Z", msg: "Dec 31 23:59:59", ts: "2025-12-31T13:59:59Z"},
		{name: "Location decides the year, new year", loc: utcPlus10, received: "2025-12-31T14:00:05Z", msg: "Jan  1 00:00:01", ts: "2025-12-31T14:00:01Z"},
		{name: "Feb 29 in a leap year", received: "2024-02-29T10:00:00Z", msg: "Feb 29 09:59:00", ts: "2024-02-29T09:59:00Z"},
		{name: "Feb 29 received on Mar 1", received: "2024-03-01T00:00:30Z", msg: "Feb 29 23:59:59", ts: "2024-02-29T23:59:59Z"},
		{name: "Feb 29 ahead in a leap year", received: "2028-02-27T12:00:00Z", msg: "Feb 29 00:00:00", ts: "2028-02-29T00:00:00Z"},
		{name: "Feb 29 after a leap year", received: "2025-01-01T00:00:00Z", msg: "Feb 29 12:00:00", ts: "2024-02-29T12:00:00Z"},
		{name: "Feb 29 past in a common year", received: "2025-03-05T00:00:00Z", msg: "Feb 29 12:00:00"},
		{name: "Feb 29 ahead in a common year", received: "2027-02-27T12:00:00Z", msg: "Feb 29 00:00:00"},
		{name: "Feb 29 two common years", received: "2026-01-10T00:00:00Z", msg: "Feb 29 12:00:00"},
		{name: "explicit year is kept", received: "2026-01-01T00:00:00Z", msg: "Dec 31 2026 23:59:59", ts: "2026-12-31T23:59:59Z"},
		{name: "explicit year after time is kept", received: "2026-01-01T00:00:00Z", msg: "Dec 31 23:59:59 2026", ts: "2026-12-31T23:59:59Z"},
		{name: "explicit Feb 29 in a common year", received: "2026-01-01T00:00:00Z", msg: "Feb 29 2026 00:00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := "<13>" + tt.msg + " host app: x"
			got := Parser{Location: tt.loc}.Scan([]byte(msg), mustTime(t, tt.received))
			checkHeader(t, msg, got, 13, mustTime(t, tt.ts), tt.ts == "")
		})
	}
}

func TestScanAllocs(t *testing.T) {
	msgs := []string{
		"<13>1 2026-02-21T21:07:50.239881+00:00 host app 4326 - - msg",
		"<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
		"<189>45: 000012: router1: *Feb 20 18:48:50.001 UTC: %SYS-5-RESTART: x",
		"<13>1 - host app - - - msg",
		"no header at all",
	}
	for _, loc := range []*time.Location{nil, plusOne} {
		p := Parser{Location: loc}
		for _, msg := range msgs {
			b := []byte(msg)
			if n := testing.AllocsPerRun(100, func() { p.Scan(b, received) }); n != 0 {
				t.Errorf("Scan(%q) with Location %v: %v allocations, want 0", msg, loc, n)
			}
		}
	}
}

// TestScanConcurrent backs the promise that one Parser serves many goroutines; run it with -race.
func TestScanConcurrent(t *testing.T) {
	p := Parser{Location: plusOne}
	msgs := [][]byte{
		[]byte("<13>Feb 21 22:07:50 host x"),
		[]byte("<13>1 2026-02-21T21:07:50Z h"),
		[]byte("<189>45: *Feb 21 21:07:50.123 UTC: %SYS-5-RESTART: x"),
	}
	want := make([]Header, len(msgs))
	for i, m := range msgs {
		want[i] = p.Scan(m, received)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				for i, m := range msgs {
					if got := p.Scan(m, received); got != want[i] {
						t.Errorf("concurrent Scan(%q) = %+v, want %+v", m, got, want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestUTCTime compares utcTime with time.Date on every day of years 1 to 9999, at times and
// offsets that cross the day's ends.
func TestUTCTime(t *testing.T) {
	times := []struct{ hour, minute, sec, nsec, offset int }{
		{0, 0, 0, 0, 0}, {23, 59, 59, 999_999_999, 0}, {0, 0, 0, 1, 23*3600 + 59*60}, {23, 59, 59, 0, -(23*3600 + 59*60)},
	}
	for day := time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC); day.Year() < 10000; day = day.AddDate(0, 0, 1) {
		y, m, d := day.Date()
		for _, tt := range times {
			want := time.Date(y, m, d, tt.hour, tt.minute, tt.sec, tt.nsec, time.UTC).Add(-time.Duration(tt.offset) * time.Second)
			if got := utcTime(y, int(m), d, tt.hour, tt.minute, tt.sec, tt.nsec, tt.offset); got != want {
				t.Fatalf("utcTime(%d, %d, %d, %+v) = %v, want %v", y, m, d, tt, got, want)
			}
		}
	}
}
