package syslog

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/ciscoios"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus.golden from the current results")

// corpusReceived is when the tests receive every corpus message (see testdata/corpus.txt).
var corpusReceived = time.Date(2026, time.February, 21, 21, 8, 0, 500_000_000, time.UTC)

// corpusSource is the sender's address in the corpus rewrites.
const corpusSource = "192.0.2.7"

type corpusLine struct {
	line int // 1-based line number in corpus.txt
	msg  []byte
}

func loadCorpus(t *testing.T) []corpusLine {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "corpus.txt"))
	if err != nil {
		t.Fatalf("open corpus: %v", err)
	}
	defer f.Close()
	var lines []corpusLine
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		if s.Text() == "" || strings.HasPrefix(s.Text(), "#") {
			continue
		}
		lines = append(lines, corpusLine{line: n, msg: bytes.Clone(s.Bytes())})
	}
	if err := s.Err(); err != nil {
		t.Fatalf("read corpus: %v", err)
	}
	if len(lines) < 200 {
		t.Fatalf("corpus has %d messages, want at least 200", len(lines))
	}
	return lines
}

// TestCorpusGolden pins what Scan and AppendRewritten make of every corpus message, so any change
// in behaviour shows up as a reviewable diff of testdata/corpus.golden (go test -update).
func TestCorpusGolden(t *testing.T) {
	var out bytes.Buffer
	fmt.Fprintf(&out, "# line\tpriority\ttimestamp\tevent message (the rewrite, or \"kept\")\n")
	for _, c := range loadCorpus(t) {
		h := Parser{}.Scan(c.msg, corpusReceived)
		stamp := "-"
		if !h.Timestamp.IsZero() {
			stamp = h.Timestamp.Format(time.RFC3339Nano)
		}
		event := "kept"
		if h.Rewrite {
			event = string(AppendRewritten(nil, c.msg, h, corpusReceived, corpusSource))
		}
		fmt.Fprintf(&out, "%d\t%d\t%s\t%s\n", c.line, h.Priority, stamp, event)
	}
	golden := filepath.Join("testdata", "corpus.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatalf("update golden file: %v", err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), out.String()); diff != "" {
		t.Errorf("corpus results differ from %s (-want +got):\n%s", golden, diff)
	}
}

// knownDisagreements lists the corpus lines (by line number) where go-syslog finds a timestamp
// and Scan finds another one or none, whatever the zone, with the reason Scan is right.
var knownDisagreements = map[int]string{
	226: "go-syslog reads year-less stamps in year 0, a leap year, then adds years, which turns " +
		"Feb 29 into March 1st of a common year; Feb 29, 2025 does not exist, so Scan has no stamp",
	238: "go-syslog takes the year after the time for the hostname; the original relay read " +
		"\"hh:mm:ss 20yy\" as a year, and so does Scan",
	295: "year 0 is not a Gregorian year; it is what senders without a year write, and an event " +
		"dated 0000 is useless downstream, so Scan uses the receive time",
	302: "RFC 5424 requires SP after TIMESTAMP; go-syslog's best-effort mode returns the stamp it " +
		"read before failing on the missing space, Scan does not take a stamp that runs into the " +
		"next field",
}

// knownZoneDisagreements are the further disagreements when zone-less stamps are read in a zone
// other than UTC: stamps that name UTC or GMT, which go-syslog does not interpret.
var knownZoneDisagreements = map[int]string{
	98:  "Cisco stamp ending in \"UTC:\"",
	99:  "Cisco stamp ending in \"UTC:\"",
	100: "Cisco stamp ending in \"UTC:\"",
	107: "Cisco stamp ending in \"GMT:\"",
	243: "BSD stamp followed by \" UTC \"",
}

// rfc5424Header is what decides that a message goes to go-syslog's RFC 5424 machine.
var rfc5424Header = regexp.MustCompile(`^<[0-9]{1,3}>1 `)

// TestCorpusMatchesGoSyslog is the differential test of issue 3: wherever
// github.com/leodido/go-syslog/v4 reads a timestamp from a corpus message, Scan must read the
// same instant, or the line must be listed in knownDisagreements with the reason.
func TestCorpusMatchesGoSyslog(t *testing.T) {
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("UTC-5", -5*3600)} {
		t.Run(loc.String(), func(t *testing.T) { testCorpusMatchesGoSyslog(t, loc) })
	}
}

func testCorpusMatchesGoSyslog(t *testing.T, loc *time.Location) {
	year := corpusReceived.In(loc).Year()
	rfc3164Options := func(year int, extra ...gosyslog.MachineOption) []gosyslog.MachineOption {
		return append([]gosyslog.MachineOption{
			rfc3164.WithBestEffort(),
			rfc3164.WithYear(rfc3164.Year{YYYY: year}),
			rfc3164.WithLocaleTimezone(loc),
			rfc3164.WithRFC3339(),
			rfc3164.WithSecondFractions(),
			rfc3164.WithLenientDay(),
			rfc3164.WithOptionalPriority(),
		}, extra...)
	}
	// go-syslog must be told which Cisco fields a device sends; the first configuration that
	// yields a timestamp is the library's answer.
	ciscoConfigs := []ciscoios.Component{
		ciscoios.DisableMessageCounter | ciscoios.DisableSequenceNumber | ciscoios.DisableHostname,
		ciscoios.DisableSequenceNumber | ciscoios.DisableHostname,
		ciscoios.DisableHostname,
		ciscoios.DisableSequenceNumber,
		ciscoios.All,
	}
	// libStamp parses msg as RFC 3164 with the given year for year-less stamps.
	libStamp := func(msg []byte, year int) (time.Time, bool) {
		for _, c := range ciscoConfigs {
			opts := rfc3164Options(year)
			if c != ciscoios.DisableMessageCounter|ciscoios.DisableSequenceNumber|ciscoios.DisableHostname {
				opts = append(opts, rfc3164.WithCiscoIOSComponents(c))
			}
			m, _ := rfc3164.NewParser(opts...).Parse(msg)
			if ts, ok := timestampOf(m); ok {
				return ts, true
			}
		}
		return time.Time{}, false
	}
	parse5424 := rfc5424.NewParser(rfc5424.WithBestEffort())
	known := maps.Clone(knownDisagreements)
	if loc != time.UTC {
		maps.Copy(known, knownZoneDisagreements)
	}

	var compared, agreed, onlyOurs int
	for _, c := range loadCorpus(t) {
		var want time.Time
		var ok bool
		if rfc5424Header.Match(c.msg) {
			m, _ := parse5424.Parse(c.msg)
			want, ok = timestampOf(m)
		} else if want, ok = libStamp(c.msg, year); ok {
			// A stamp whose year moves with WithYear has none of its own: apply the relay's
			// year rule, which go-syslog leaves to its caller.
			if other, _ := libStamp(c.msg, year+4); !other.Equal(want) {
				want = inferYearAsTheRelayDoes(want, corpusReceived)
			}
		}
		got := Parser{Location: loc}.Scan(c.msg, corpusReceived).Timestamp
		if !ok {
			if !got.IsZero() {
				onlyOurs++
			}
			continue
		}
		compared++
		reason, listed := known[c.line]
		switch {
		case got.Equal(want) && listed:
			t.Errorf("line %d: Scan now agrees with go-syslog (%v); unlist it (%s)", c.line, want, reason)
		case got.Equal(want):
			agreed++
		case !listed:
			t.Errorf("line %d %q: Scan = %v, go-syslog = %v", c.line, c.msg, got, want)
		}
	}
	corpus := loadCorpus(t)
	for line := range known {
		if !slices.ContainsFunc(corpus, func(c corpusLine) bool { return c.line == line }) {
			t.Errorf("line %d is listed as a disagreement but is not a corpus message", line)
		}
	}
	t.Logf("go-syslog read %d timestamps, Scan agreed on %d; Scan alone read %d more", compared, agreed, onlyOurs)
}

// inferYearAsTheRelayDoes moves ts, which go-syslog dated in received's year, to the latest year
// that puts it at most two days after received. It restates the documented rule independently of
// the code under test, with AddDate as go-syslog would.
func inferYearAsTheRelayDoes(ts, received time.Time) time.Time {
	for _, years := range []int{1, 0, -1} {
		if c := ts.AddDate(years, 0, 0); c.Sub(received) <= 48*time.Hour {
			return c
		}
	}
	return ts.AddDate(-2, 0, 0)
}

func timestampOf(m gosyslog.Message) (time.Time, bool) {
	switch m := m.(type) {
	case *rfc5424.SyslogMessage:
		if m != nil && m.Timestamp != nil {
			return *m.Timestamp, true
		}
	case *rfc3164.SyslogMessage:
		if m != nil && m.Timestamp != nil {
			return *m.Timestamp, true
		}
	}
	return time.Time{}, false
}
