package syslog

import (
	"encoding/binary"
	"time"
)

// The stamps are read by hand rather than with time.Parse: Scan runs once per message on the
// relay's hot path and must not allocate, and no single layout covers the variants senders write
// (optional fractions and offsets, three ways to pad a day, a year on either side of the time).

const (
	// maxFuture is how far past the receive time a year-less stamp may lie before it is taken
	// to be from the previous year: the original relay's "more than 2 days in the future".
	maxFuture = 48 * time.Hour
	// maxFractionDigits is the most fractional-second digits read: nanoseconds. RFC 5424 section
	// 6.2.3 allows 6, but some senders write 9.
	maxFractionDigits = 9
	// rfc3339DateTimeLen is len("YYYY-MM-DDThh:mm:ss").
	rfc3339DateTimeLen = 19
	// bsdTimeLen is len("hh:mm:ss").
	bsdTimeLen = 8
)

// rfc3339 reads YYYY-MM-DDThh:mm:ss[.f][Z|±hh:mm] at the start of b. A stamp without an offset
// is in the parser's Location. The stamp must end b or be followed by a space, or by a colon
// when colonEnds is set (Cisco writes one after the stamp; RFC 5424 does not allow it). c holds
// the date and time of the stream's last stamp.
func (p Parser) rfc3339(b []byte, colonEnds bool, c *stampCache) (time.Time, bool) {
	if !c.read(b) {
		return time.Time{}, false
	}
	dt := &c.dt
	i := rfc3339DateTimeLen
	nsec, n, ok := fraction(b[i:])
	if !ok {
		return time.Time{}, false
	}
	i += n

	zoned, offset := false, 0
	if i < len(b) {
		switch b[i] {
		case 'Z', 'z':
			zoned = true
			i++
		case '+', '-':
			if len(b) < i+6 || b[i+3] != ':' {
				return time.Time{}, false
			}
			oh, okh := twoDigits(b[i+1:])
			om, okm := twoDigits(b[i+4:])
			if !okh || !okm || oh > 23 || om > 59 {
				return time.Time{}, false
			}
			offset = oh*3600 + om*60
			if b[i] == '-' {
				offset = -offset
			}
			zoned = true
			i += 6
		}
	}
	if !endsStamp(b, i, colonEnds) {
		return time.Time{}, false
	}
	if !zoned && p.location() != time.UTC {
		return time.Date(dt.year, time.Month(dt.month), dt.day, dt.hour, dt.minute, dt.sec, nsec, p.location()).UTC(), true
	}
	return time.Unix(dt.secs-int64(offset), int64(nsec)).UTC(), true
}

// dateTime is the date and time of an RFC 3339 stamp, "YYYY-MM-DDThh:mm:ss", as its fields and as
// the seconds from the Unix epoch it names in UTC.
type dateTime struct {
	year, month, day, hour, minute, sec int
	secs                                int64
}

// read reads the valid date and time at the start of b into dt.
func (dt *dateTime) read(b []byte) bool {
	if b[4] != '-' || b[7] != '-' || b[10]|0x20 != 't' || b[13] != ':' || b[16] != ':' {
		return false
	}
	y1, ok1 := twoDigits(b[0:])
	y2, ok2 := twoDigits(b[2:])
	month, ok3 := twoDigits(b[5:])
	day, ok4 := twoDigits(b[8:])
	hour, ok5 := twoDigits(b[11:])
	minute, ok6 := twoDigits(b[14:])
	sec, ok7 := twoDigits(b[17:])
	year := y1*100 + y2
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || !validDate(year, month, day) || !validTime(hour, minute, sec) {
		return false
	}
	*dt = dateTime{year: year, month: month, day: day, hour: hour, minute: minute, sec: sec,
		secs: civilSeconds(year, month, day, hour, minute, sec)}
	return true
}

// stampCache is the date and time of a stream's last RFC 3339 stamp, kept by its streamStamper: the stamps of consecutive messages of a connection nearly always share
// their second, and comparing its 19 bytes with the last costs a fraction of reading them. The
// zero value is empty.
type stampCache struct {
	key [3]uint64 // the 19 bytes, as overlapping words (dateTimeKey)
	dt  dateTime
	ok  bool // dt is the date and time of key
}

// read reads the valid date and time at the start of b into c.dt, unless c holds them already.
func (c *stampCache) read(b []byte) bool {
	if len(b) < rfc3339DateTimeLen {
		return false
	}
	key := dateTimeKey(b)
	if c.ok && key == c.key {
		return true
	}
	c.key, c.ok = key, c.dt.read(b)
	return c.ok
}

// dateTimeKey is the first 19 bytes of b as three words, the last overlapping the second.
func dateTimeKey(b []byte) [3]uint64 {
	_ = b[rfc3339DateTimeLen-1]
	return [3]uint64{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]),
		binary.LittleEndian.Uint64(b[rfc3339DateTimeLen-8:])}
}

// utcTime is time.Date(year, month, day, hour, minute, sec, nsec, time.UTC) less offset seconds,
// for a valid date and time: the same Time, computed with integer arithmetic, without the
// normalisation and zone lookup time.Date makes for any input.
func utcTime(year, month, day, hour, minute, sec, nsec, offset int) time.Time {
	return time.Unix(civilSeconds(year, month, day, hour, minute, sec)-int64(offset), int64(nsec)).UTC()
}

// civilSeconds is the seconds from the Unix epoch to a valid date and time of UTC.
func civilSeconds(year, month, day, hour, minute, sec int) int64 {
	return unixDays(year, month, day)*secondsPerDay + int64(hour*3600+minute*60+sec)
}

// secondsPerDay is the length of a day of UTC as Unix time counts it: without leap seconds.
const secondsPerDay = 24 * 60 * 60

// unixDays returns the number of days from 1970-01-01 to year-month-day, a valid date of years 1
// to 9999 in the proleptic Gregorian calendar: the days_from_civil algorithm of Howard Hinnant's
// "chrono-Compatible Low-Level Date Algorithms", which counts from March so that the leap day
// ends each year of the 400-year era.
func unixDays(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400 // year >= 0: no rounding toward zero to correct
	yoe := year - era*400
	doy := (153*((month+9)%12)+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468) // 719468: days from 0000-03-01 to 1970-01-01
}

// bsd reads an RFC 3164 stamp and its variants at the start of b: "Mmm dd[ yyyy] hh:mm:ss[.f]",
// "Mmm dd hh:mm:ss[.f] 20yy", then optionally " UTC", " GMT" or " UT". year is what preceded
// the month (Cisco NX-OS writes "2026 Feb 21 ..."), or 0. A stamp without a year gets one from
// received.
func (p Parser) bsd(b []byte, year int, received time.Time) (time.Time, bool) {
	month, ok := parseMonth(b)
	if !ok || len(b) < 5 || b[3] != ' ' {
		return time.Time{}, false
	}
	i := 4
	if b[i] == ' ' {
		i++
	}
	day, n := leadingDigits(b[i:], 2)
	if n == 0 || i+n >= len(b) || b[i+n] != ' ' {
		return time.Time{}, false
	}
	i += n + 1

	if y, n := leadingDigits(b[i:], 4); n == 4 && i+n < len(b) && b[i+n] == ' ' {
		if year != 0 || y == 0 {
			return time.Time{}, false
		}
		year = y
		i += n + 1
	}
	if len(b) < i+bsdTimeLen || b[i+2] != ':' || b[i+5] != ':' {
		return time.Time{}, false
	}
	hour, ok1 := twoDigits(b[i:])
	minute, ok2 := twoDigits(b[i+3:])
	sec, ok3 := twoDigits(b[i+6:])
	if !(ok1 && ok2 && ok3) || !validTime(hour, minute, sec) {
		return time.Time{}, false
	}
	i += bsdTimeLen
	nsec, n, ok := fraction(b[i:])
	if !ok {
		return time.Time{}, false
	}
	i += n
	if year == 0 && len(b) >= i+5 && b[i] == ' ' && b[i+1] == '2' && b[i+2] == '0' && endsStamp(b, i+5, true) {
		if y, ok := digits(b[i+1 : i+5]); ok {
			year = y
			i += 5
		}
	}
	if !endsStamp(b, i, true) || day < 1 || day > maxDays[month] {
		return time.Time{}, false
	}

	loc := p.location()
	if utcZoneFollows(b[i:]) {
		loc = time.UTC
	}
	if year != 0 {
		if !validDate(year, int(month), day) {
			return time.Time{}, false
		}
		if loc == time.UTC {
			return utcTime(year, int(month), day, hour, minute, sec, nsec, 0), true
		}
		return time.Date(year, month, day, hour, minute, sec, nsec, loc).UTC(), true
	}

	// The year is the latest that puts the stamp at most maxFuture after received. time.Date
	// turns Feb 29 of a common year into March 1st, which is where it belongs for this test.
	year, recvMonth, _ := received.In(loc).Date()
	t := time.Date(year, month, day, hour, minute, sec, nsec, loc)
	switch {
	case t.Sub(received) > maxFuture:
		year--
		t = time.Date(year, month, day, hour, minute, sec, nsec, loc)
	case month == time.January && recvMonth == time.December:
		// A sender whose clock runs a little ahead has already seen the new year.
		if next := t.AddDate(1, 0, 0); next.Sub(received) <= maxFuture {
			year++
			t = next
		}
	}
	if !validDate(year, int(month), day) {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// utcZoneFollows reports whether b, the rest of a message after a BSD stamp, names UTC: " UTC",
// " GMT" or " UT" followed by a space, a colon or the end. Other zone names are left alone; see
// the package documentation.
func utcZoneFollows(b []byte) bool {
	if len(b) < 3 || b[0] != ' ' {
		return false
	}
	b = b[1:]
	var n int
	switch {
	case len(b) >= 3 && (string(b[:3]) == "UTC" || string(b[:3]) == "GMT"):
		n = 3
	case string(b[:2]) == "UT":
		n = 2
	default:
		return false
	}
	return endsStamp(b, n, true)
}

// endsStamp reports whether a stamp ending at b[i] is properly delimited.
func endsStamp(b []byte, i int, colonEnds bool) bool {
	return i == len(b) || b[i] == ' ' || (colonEnds && b[i] == ':')
}

// fraction reads "." and 1 to 9 digits at the start of b as nanoseconds. Without a leading "."
// there is no fraction: zero nanoseconds, zero bytes, ok.
func fraction(b []byte) (nsec, n int, ok bool) {
	if len(b) == 0 || b[0] != '.' {
		return 0, 0, true
	}
	v, d := leadingDigits(b[1:], maxFractionDigits+1)
	if d == 0 || d > maxFractionDigits {
		return 0, 0, false
	}
	return v * nanosPerDigit[d], d + 1, true
}

// nanosPerDigit is the nanoseconds of a unit of a fraction's last digit, by the fraction's
// number of digits: one multiplication instead of a loop of them.
var nanosPerDigit = [maxFractionDigits + 1]int{1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1}

// twoDigits reads the two decimal digits at the start of b, without a loop: each stamp's fields
// are fixed-width.
func twoDigits(b []byte) (int, bool) {
	d0, d1 := b[0]-'0', b[1]-'0' // a byte below '0' wraps past 9
	return int(d0)*10 + int(d1), d0 <= 9 && d1 <= 9
}

// digits reads b, which must be all decimal digits, as a number.
func digits(b []byte) (int, bool) {
	v, n := leadingDigits(b, len(b))
	return v, n == len(b)
}

// leadingDigits reads up to max decimal digits at the start of b and says how many it read.
func leadingDigits(b []byte, max int) (v, n int) {
	for n < len(b) && n < max && isDigit(b[n]) {
		v = v*10 + int(b[n]-'0')
		n++
	}
	return v, n
}

// maxDays is the longest each month can be, indexed by time.Month.
var maxDays = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// validDate reports whether year-month-day exists, for years 1 to 9999 (RFC 3339 date-fullyear;
// year 0 is what misconfigured senders and parsers write when they lack one).
func validDate(year, month, day int) bool {
	if year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || day > maxDays[month] {
		return false
	}
	return month != 2 || day != 29 || isLeap(year)
}

// validTime reports whether hour:minute:sec is a time of day. Leap seconds (sec 60) are
// refused: RFC 5424 section 6.2.3 forbids them.
func validTime(hour, minute, sec int) bool {
	return hour <= 23 && minute <= 59 && sec <= 59
}

func isLeap(year int) bool {
	return year%4 == 0 && (year%100 != 0 || year%400 == 0)
}

// parseMonth reads an English three-letter month abbreviation in any case at the start of b.
func parseMonth(b []byte) (time.Month, bool) {
	if len(b) < 3 {
		return 0, false
	}
	// OR-ing 0x20 lower-cases ASCII letters and maps no other byte onto a letter.
	switch string([]byte{b[0] | 0x20, b[1] | 0x20, b[2] | 0x20}) {
	case "jan":
		return time.January, true
	case "feb":
		return time.February, true
	case "mar":
		return time.March, true
	case "apr":
		return time.April, true
	case "may":
		return time.May, true
	case "jun":
		return time.June, true
	case "jul":
		return time.July, true
	case "aug":
		return time.August, true
	case "sep":
		return time.September, true
	case "oct":
		return time.October, true
	case "nov":
		return time.November, true
	case "dec":
		return time.December, true
	}
	return 0, false
}
