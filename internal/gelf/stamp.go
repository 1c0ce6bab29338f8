package gelf

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// maxUnixSeconds is 9999-12-31T23:59:59Z, the last second a four-digit year can name; later
// stamps are not taken from a message.
const maxUnixSeconds = 253402300799

// maxSecondsDigits is the most significant digits a stamp within maxUnixSeconds has.
const maxSecondsDigits = 12

// nanoDigits is the number of fractional digits a time.Time keeps.
const nanoDigits = 9

// Stamper reads the event time of GELF messages. It implements the event stage's Stamper: the
// message is always recorded as it arrived (Stamp returns out == nil), whole, which for GELF
// means its complete JSON object.
//
// The event time is the value of the object's top-level "timestamp" member, which GELF 1.1
// defines as seconds since the Unix epoch with optional decimal places:
//
//   - a JSON number, in any notation JSON allows (1700000000, 1700000000.123, 1.7000000001e9),
//     read exactly in decimal; digits beyond nanoseconds are dropped;
//   - a JSON string holding such a number ("1700000000.123"), which some clients send although
//     the specification asks for a number: the sender's time is still the best one there is;
//   - the member is looked up after JSON unescaping of the key, and only at the top level: a
//     "timestamp" inside a nested object, an array or a string is not it. When the key appears
//     more than once, the last one counts, as with encoding/json.
//
// A message without the member, or whose value is anything else (null, a date string, an object,
// a negative number, a time after the year 9999), is stamped with the time it was received.
//
// A message that is not a well-formed JSON object (RFC 8259; the same test as encoding/json's
// Valid, with an object at the top) is not GELF. It may still be worth keeping (a syslog sender
// pointed at the GELF port, a message cut at the maximum size), so it is recorded as received,
// stamped with the receive time, and counted in Invalid. Neither the fields GELF requires
// ("version", "host", "short_message") nor the UTF-8 encoding are checked: the relay keeps what
// the sender wrote, and the record encoder already escapes bytes that are not UTF-8.
//
// The scan is a single pass by hand, without allocation: a message is read once, and decoding it
// with encoding/json would allocate for every member. The zero value counts nothing; Stamper is
// safe for concurrent use.
type Stamper struct {
	// Invalid counts the messages that are not well-formed JSON objects; nil counts nothing.
	Invalid prometheus.Counter
}

// StamperOptions configures NewStamper.
type StamperOptions struct {
	// Registerer receives the count of invalid messages; nil counts without registering.
	Registerer prometheus.Registerer
}

// NewStamper returns a Stamper that counts invalid messages as opts says.
func NewStamper(opts StamperOptions) Stamper {
	return Stamper{Invalid: newInvalidCounter(opts.Registerer)}
}

// Stamp returns the event time of msg as the type's documentation describes, or received when
// msg has none, and a nil out: msg is recorded as it is.
func (s Stamper) Stamp(_, msg []byte, received time.Time, _ string) (ts time.Time, out []byte) {
	raw, ok := scanObject(msg)
	if !ok {
		if s.Invalid != nil {
			s.Invalid.Inc()
		}
		return received, nil
	}
	if t, ok := parseTimestamp(raw); ok {
		return t, nil
	}
	return received, nil
}

// parseTimestamp reads raw, the JSON value of a "timestamp" member, as seconds since the epoch.
func parseTimestamp(raw []byte) (time.Time, bool) {
	if len(raw) >= 2 && raw[0] == '"' {
		// The content of a string is read as a number as it stands: no number needs an escape,
		// so a string with one is not a number.
		raw = raw[1 : len(raw)-1]
	}
	if len(raw) == 0 {
		return time.Time{}, false
	}
	if end, ok := numberEnd(raw, 0); !ok || end != len(raw) {
		return time.Time{}, false
	}
	sec, nsec, ok := decimalSeconds(raw)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(sec, nsec), true
}

// decimalSeconds converts num, a valid JSON number, to whole seconds and nanoseconds within
// [0, maxUnixSeconds]. It works on the decimal digits rather than through a float64, which holds
// about 16 significant digits: 1700000000.123 as a float64 is 1700000000.1229999, a millisecond
// early once truncated.
func decimalSeconds(num []byte) (sec, nsec int64, ok bool) {
	neg := num[0] == '-'
	if neg {
		num = num[1:]
	}
	var d digits
	i := 0
	for i < len(num) && isDigit(num[i]) {
		i++
	}
	d.whole = num[:i]
	if i < len(num) && num[i] == '.' {
		j := i + 1
		for j < len(num) && isDigit(num[j]) {
			j++
		}
		d.frac = num[i+1 : j]
		i = j
	}
	exp := 0
	if i < len(num) { // 'e' or 'E'
		i++
		expNeg := num[i] == '-'
		if num[i] == '-' || num[i] == '+' {
			i++
		}
		for ; i < len(num); i++ {
			// Saturate: any exponent this large puts the stamp out of range or below a
			// nanosecond, and the digit count never comes near it.
			exp = min(exp*10+int(num[i]-'0'), 1<<30)
		}
		if expNeg {
			exp = -exp
		}
	}

	n := len(d.whole) + len(d.frac)
	first := 0
	for first < n && d.at(first) == 0 {
		first++
	}
	if first == n {
		return 0, 0, true // zero, whatever its sign or notation
	}
	if neg {
		return 0, 0, false
	}
	// point is the index in the digit sequence before which the decimal point stands.
	point := len(d.whole) + exp
	if point-first > maxSecondsDigits {
		return 0, 0, false
	}
	for k := first; k < point; k++ {
		sec = sec*10 + int64(d.at(k))
	}
	for k := point; k < point+nanoDigits; k++ {
		nsec = nsec*10 + int64(d.at(k))
	}
	if sec > maxUnixSeconds {
		return 0, 0, false
	}
	return sec, nsec, true
}

// digits is the digit sequence of a number, its whole and fractional digits end to end.
type digits struct{ whole, frac []byte }

// at returns the value of digit k of the sequence, 0 outside it.
func (d digits) at(k int) byte {
	switch {
	case k < 0:
		return 0
	case k < len(d.whole):
		return d.whole[k] - '0'
	case k-len(d.whole) < len(d.frac):
		return d.frac[k-len(d.whole)] - '0'
	}
	return 0
}
