package dump

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

// A Filter says which records and events are printed. Its zero value keeps everything.
type Filter struct {
	// Since keeps the events stamped at Since or later; zero keeps every one.
	Since time.Time
	// Until keeps the events stamped before Until; zero keeps every one.
	Until time.Time
	// Group keeps the records whose logGroup it matches: an exact name, or a glob where '*'
	// matches any characters ('/' included) and '?' one. Empty keeps every group.
	Group string
	// Stream keeps the records whose logStream (the source address) it matches, as Group.
	Stream string
}

// matcher is a compiled Filter.
type matcher struct {
	since, until  int64 // milliseconds since the epoch; 0 for none
	group, stream *regexp.Regexp
}

func (f Filter) compile() (matcher, error) {
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return matcher{}, fmt.Errorf("dump: --until %s is not after --since %s",
			f.Until.UTC().Format(time.RFC3339), f.Since.UTC().Format(time.RFC3339))
	}
	m := matcher{group: glob(f.Group), stream: glob(f.Stream)}
	if !f.Since.IsZero() {
		m.since = f.Since.UnixMilli()
	}
	if !f.Until.IsZero() {
		m.until = f.Until.UnixMilli()
	}
	return m, nil
}

// glob compiles pattern, in which '*' matches any characters and '?' one, to an anchored
// regular expression; an empty pattern compiles to nil, which matches everything.
func glob(pattern string) *regexp.Regexp {
	if pattern == "" {
		return nil
	}
	var b strings.Builder
	b.WriteString("^")
	for _, c := range pattern {
		switch c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// keepsRecord reports whether rec's group and stream pass.
func (m matcher) keepsRecord(rec *record.Record) bool {
	return (m.group == nil || m.group.MatchString(rec.LogGroup)) &&
		(m.stream == nil || m.stream.MatchString(rec.LogStream))
}

// keepsEvent reports whether an event stamped at ms passes.
func (m matcher) keepsEvent(ms int64) bool {
	return (m.since == 0 || ms >= m.since) && (m.until == 0 || ms < m.until)
}

// errTime is the error of ParseTime.
var errTime = errors.New("want a duration before now (90m, 2h, 7d), an RFC 3339 time (2026-12-03T06:00:00Z), or a UTC date (2026-12-03) or time (2026-12-03T06:00)")

// ParseTime reads the value of --since or --until: a duration before now ("90m", "2h", "7d";
// Go's units and d for days), an RFC 3339 time, or a UTC date and time without a zone
// ("2026-12-03", "2026-12-03T06:00", "2026-12-03T06:00:00").
func ParseTime(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: %w", s, errTime)
}
