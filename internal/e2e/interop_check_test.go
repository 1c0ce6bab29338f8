package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

// The harness of the interop tests (interop_test.go): what a test expects of each message it
// sent, a relay whose metrics say when everything has arrived, and the checks of what it
// delivered, with a header parser of the test's own so that the relay's is not checked against
// itself.

// stampRule says how the timestamp of a delivered event is checked.
type stampRule int

const (
	// stampExact: the event's timestamp is expect.ts, known when the message was sent.
	stampExact stampRule = iota
	// stampHeader: the sender's clock wrote the stamp. The test reads it from the delivered
	// message's header with its own parser (RFC3164 stamps dated by the test's run, as the
	// relay's year inference should) and checks it lies within the test's run.
	stampHeader
	// stampReceived: the message has no stamp (RFC5424 NILVALUE); the timestamp is the receive
	// time, within the test's run.
	stampReceived
)

// expect is what the test wants to find for one message at one port.
type expect struct {
	sender  string         // the case that sent it, for error messages
	stamp   stampRule      // how to check the timestamp
	ts      int64          // epoch ms, for stampExact
	loc     *time.Location // zone of zone-less header stamps, for stampHeader; nil means UTC
	message string         // when not empty, the exact message to be delivered
	text    string         // when not empty, text the message must hold (a daemon rewrites the rest)
	match   *regexp.Regexp // when not nil, a pattern the message must match
}

// delivery names one expected event: a message's token at a listener port.
type delivery struct {
	token string
	port  int
}

// expectations collects what a test sent.
type expectations map[delivery]expect

func (e expectations) add(token string, port int, x expect) {
	if _, dup := e[delivery{token, port}]; dup {
		panic("token sent twice to one port: " + token)
	}
	e[delivery{token, port}] = x
}

// interopRelay is a relay that writes to a local directory and serves its metrics, so that a
// test can wait until it has received everything.
type interopRelay struct {
	*Relay
	out string
}

// startInteropRelay runs the relay on the given ports, with extra options.
func startInteropRelay(t *testing.T, tcpPorts, udpPorts []int, extra ...string) *interopRelay {
	t.Helper()
	r := &interopRelay{out: filepath.Join(t.TempDir(), "out")}
	args := []string{"--output", r.out, "--account-id", "123456789012"}
	for _, p := range tcpPorts {
		args = append(args, "--tcp-port", Port(p))
	}
	for _, p := range udpPorts {
		args = append(args, "--udp-port", Port(p))
	}
	r.Relay = Start(t, Options{Args: append(args, extra...), Metrics: true})
	return r
}

// waitReceived polls until the relay has counted n messages, so that nothing is still in
// flight (UDP, a daemon's queue) when the senders and the relay are stopped.
func (r *interopRelay) waitReceived(t *testing.T, n int) {
	t.Helper()
	r.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return int(v) >= n })
}

// stopAndRead stops the relay, which spools and delivers what it holds, and returns what it
// delivered.
func (r *interopRelay) stopAndRead(t *testing.T) []*record.Record {
	t.Helper()
	if err := r.Stop(); err != nil {
		t.Fatalf("relay exit: %v", err)
	}
	return Delivered(t, r.out)
}

// maxErrorsPerSender bounds the errors reported for one sender: when a case is wrong, it is
// usually wrong for every message.
const maxErrorsPerSender = 5

// reporter reports errors, at most maxErrorsPerSender per sender and then how many more.
type reporter struct {
	t      *testing.T
	counts map[string]int
}

func (r *reporter) errorf(sender, format string, args ...any) {
	r.t.Helper()
	if r.counts[sender]++; r.counts[sender] <= maxErrorsPerSender {
		r.t.Errorf(sender+": "+format, args...)
	}
}

func (r *reporter) summary() {
	r.t.Helper()
	for sender, n := range r.counts {
		if n > maxErrorsPerSender {
			r.t.Errorf("%s: %d more errors", sender, n-maxErrorsPerSender)
		}
	}
}

// checkInterop finds every expected event exactly once in recs and checks its timestamp and
// message. since and until bound the test's run, for stamps taken from a clock.
func checkInterop(t *testing.T, recs []*record.Record, want expectations, since, until time.Time) {
	t.Helper()
	r := &reporter{t: t, counts: map[string]int{}}
	defer r.summary()
	found := map[delivery]int{}
	ids := map[string]bool{}
	for _, rec := range recs {
		if rec.LogStream != "127.0.0.1" || rec.MessageType != "DATA_MESSAGE" || rec.Owner != "123456789012" ||
			len(rec.SubscriptionFilters) != 1 || rec.SubscriptionFilters[0] != rec.LogGroup {
			r.errorf("record", "stream %q type %q owner %q filters %q, want 127.0.0.1 DATA_MESSAGE 123456789012 [%q]",
				rec.LogStream, rec.MessageType, rec.Owner, rec.SubscriptionFilters, rec.LogGroup)
		}
		portText, ok := strings.CutPrefix(rec.LogGroup, "/kinesyslog/syslog/")
		port, err := strconv.Atoi(portText)
		if !ok || err != nil {
			r.errorf("record", "logGroup %q, want /kinesyslog/syslog/<port>", rec.LogGroup)
			continue
		}
		for _, ev := range rec.LogEvents {
			if !uuidV7.MatchString(ev.ID) || ids[ev.ID] {
				r.errorf("event", "id %q is not a fresh UUIDv7", ev.ID)
			}
			ids[ev.ID] = true
			key := delivery{tokenOf(ev.Message), port}
			w, ok := want[key]
			if !ok {
				r.errorf("unexpected", "event at port %d: %q", port, clip(ev.Message))
				continue
			}
			if found[key]++; found[key] == 1 {
				checkEvent(r, w, key, ev, since, until)
			}
		}
	}
	missing := map[string]int{}
	sent := map[string]int{}
	for key, w := range want {
		sent[w.sender]++
		switch n := found[key]; {
		case n == 0:
			missing[w.sender]++
		case n > 1:
			r.errorf(w.sender, "%s delivered %d times", key.token, n)
		}
	}
	senders := make([]string, 0, len(missing))
	for s := range missing {
		senders = append(senders, s)
	}
	sort.Strings(senders)
	for _, s := range senders {
		t.Errorf("%s: %d of %d messages missing", s, missing[s], sent[s])
	}
}

// checkEvent checks the timestamp and message of one event.
func checkEvent(r *reporter, w expect, key delivery, ev record.Event, since, until time.Time) {
	r.t.Helper()
	if w.message != "" && ev.Message != w.message {
		r.errorf(w.sender, "%s: message differs at byte %d (length %d, want %d):\n got %q\nwant %q", key.token,
			firstDiff(ev.Message, w.message), len(ev.Message), len(w.message), clip(ev.Message), clip(w.message))
	}
	if w.text != "" && !strings.Contains(ev.Message, w.text) {
		r.errorf(w.sender, "%s: message %q does not hold %q", key.token, clip(ev.Message), w.text)
	}
	if w.match != nil && !w.match.MatchString(ev.Message) {
		r.errorf(w.sender, "%s: message %q does not match %v", key.token, clip(ev.Message), w.match)
	}
	want := w.ts
	switch w.stamp {
	case stampHeader:
		ts, err := headerStamp(ev.Message, w.loc, since, until)
		if err != nil {
			r.errorf(w.sender, "%s: %v", key.token, err)
			return
		}
		want = ts
	case stampReceived:
		// The relay rounds the receive time to the millisecond.
		if lo, hi := since.Add(-time.Millisecond), until.Add(time.Millisecond); ev.Timestamp < lo.UnixMilli() || ev.Timestamp > hi.UnixMilli() {
			r.errorf(w.sender, "%s: timestamp %v is not a receive time within the test's run [%v, %v]",
				key.token, time.UnixMilli(ev.Timestamp).UTC(), since.UTC(), until.UTC())
		}
		return
	}
	if ev.Timestamp != want {
		r.errorf(w.sender, "%s: timestamp %d (%v), want %d (%v); message %q", key.token,
			ev.Timestamp, time.UnixMilli(ev.Timestamp).UTC(), want, time.UnixMilli(want).UTC(), clip(ev.Message))
	}
}

var (
	// rfc3339Header is RFC5424's header, and the RFC3339 stamp right after the PRI of
	// RSYSLOG_ForwardFormat and syslog-ng's ISODATE.
	rfc3339Header = regexp.MustCompile(`^<\d{1,3}>(?:1 )?(\d{4}-\d\d-\d\d[Tt]\S+) `)
	// bsdAfterPRI is RFC3164's "Mmm dd hh:mm:ss", the day space-padded, with the fractional
	// seconds syslog-ng's frac-digits() adds.
	bsdAfterPRI = regexp.MustCompile(`^<\d{1,3}>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d{1,6})?) `)
	// rewritten is the relay's rewrite of a message without a usable header.
	rewritten = `^<%d>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) 127\.0\.0\.1 %s$`
)

// headerStamp reads the stamp of msg's header with the test's own parser, independent of the
// relay's, and returns it in epoch ms as the relay should: RFC3339 stamps rounded to the
// millisecond; RFC3164 stamps in loc with the year that puts them within [since, until], the
// test's run (the relay infers the year from its receive time, which lies in the same run).
// A stamp outside the run is an error: the sender's clock wrote it during the test.
func headerStamp(msg string, loc *time.Location, since, until time.Time) (int64, error) {
	if loc == nil {
		loc = time.UTC
	}
	// Senders' stamps have second precision at worst, and the sender's and the test's clocks
	// are the same one.
	lo, hi := since.Add(-time.Second).Truncate(time.Second), until
	var ts time.Time
	if m := rfc3339Header.FindStringSubmatch(msg); m != nil {
		t, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			return 0, fmt.Errorf("RFC3339 stamp %q: %w", m[1], err)
		}
		ts = t
	} else if m := bsdAfterPRI.FindStringSubmatch(msg); m != nil {
		t, err := time.ParseInLocation(time.Stamp, m[1], loc)
		if err != nil {
			return 0, fmt.Errorf("RFC3164 stamp %q: %w", m[1], err)
		}
		for _, year := range []int{until.In(loc).Year(), until.In(loc).Year() - 1} {
			ts = time.Date(year, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
			if !ts.Before(lo) && !ts.After(hi) {
				break
			}
		}
	} else {
		return 0, fmt.Errorf("no header stamp in %q", clip(msg))
	}
	if ts.Before(lo) || ts.After(hi) {
		return 0, fmt.Errorf("header stamp %v outside the test's run [%v, %v] in %q", ts, lo, hi, clip(msg))
	}
	return ts.Round(time.Millisecond).UnixMilli(), nil
}

// clip shortens long messages in failure output.
func clip(s string) string {
	if len(s) > 300 {
		return s[:150] + fmt.Sprintf("…(%d bytes)…", len(s)-300) + s[len(s)-150:]
	}
	return s
}

// firstDiff returns the first byte offset at which a and b differ.
func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
