package syslog

import "time"

const (
	// maxPriority is the largest PRIVAL, facility 23 with severity 7 (RFC 5424 section 6.2.1).
	maxPriority = 191
	// maxPriorityDigits bounds PRIVAL to 1*3DIGIT (RFC 5424 section 6.2.1).
	maxPriorityDigits = 3
	// maxCiscoPrefixes is how many "token:" fields Cisco IOS can put before the stamp: the message
	// counter, the service sequence number and the origin hostname.
	maxCiscoPrefixes = 3
	// maxCiscoPrefixBytes bounds one such token, so a long line of text without a colon is given
	// up on quickly; IOS hostnames are at most 63 bytes, counters a few digits.
	maxCiscoPrefixBytes = 255
)

// Parser scans syslog headers. The zero value reads zone-less stamps as UTC. Safe for concurrent
// use: Scan only reads its fields.
type Parser struct {
	// Location is the zone for stamps that carry none (RFC 3164); nil means UTC. Year inference
	// also takes the receive time's year in this zone.
	Location *time.Location
}

// Header is what [Parser.Scan] found in one message.
type Header struct {
	// Priority is the PRI value, 0 to 191, or -1 when the message has no valid PRI.
	Priority int
	// Timestamp is the sender's stamp in UTC, or the zero Time when the message has no usable
	// timestamp; the relay then uses the receive time.
	Timestamp time.Time
	// Rewrite reports that the message has no usable header and must be replaced by
	// [AppendRewritten]. It is false for a zero Timestamp only when the message is RFC 5424 with
	// the NILVALUE timestamp, which is kept as it is and stamped with the receive time.
	Rewrite bool

	// content is the offset of the bytes after the PRI, which AppendRewritten keeps.
	content int
}

// Scan reads the PRI and timestamp at the start of msg, a single message without framing.
// received is when the message arrived; it decides the year of stamps that carry none. Scan
// does not allocate, does not keep msg and accepts any bytes.
func (p Parser) Scan(msg []byte, received time.Time) Header {
	return p.scan(msg, received, new(stampCache))
}

// scan is Scan with c, the date and time of the stream's last stamp.
func (p Parser) scan(msg []byte, received time.Time, c *stampCache) Header {
	h := Header{Priority: -1}
	i := 0
	if pri, n, ok := scanPriority(msg); ok {
		h.Priority, h.content, i = pri, n, n
	} else if len(msg) > 0 && msg[0] == '<' {
		h.Rewrite = true
		return h
	}
	for i < len(msg) && msg[i] == ' ' {
		i++
	}

	if i+1 < len(msg) && msg[i] == '1' && msg[i+1] == ' ' {
		// RFC 5424 VERSION: only a NILVALUE or an RFC 3339 stamp may follow.
		rest := msg[i+2:]
		if len(rest) > 0 && rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ') {
			return h
		}
		if t, ok := p.rfc3339(rest, false, c); ok {
			h.Timestamp = t
		} else {
			h.Rewrite = true
		}
		return h
	}

	prefixes := maxCiscoPrefixes
	if h.Priority >= 0 {
		prefixes = 0
	}
	for {
		if t, ok := p.stamp(msg[i:], received, c); ok {
			h.Timestamp = t
			return h
		}
		if prefixes == maxCiscoPrefixes {
			break
		}
		n, ok := ciscoPrefix(msg[i:])
		if !ok {
			break
		}
		i += n
		prefixes++
	}
	h.Rewrite = true
	return h
}

// scanPriority reads "<PRIVAL>" at the start of b and returns its value and length.
func scanPriority(b []byte) (pri, n int, ok bool) {
	if len(b) < 3 || b[0] != '<' {
		return 0, 0, false
	}
	i := 1
	for ; i < len(b) && i <= maxPriorityDigits && isDigit(b[i]); i++ {
		pri = pri*10 + int(b[i]-'0')
	}
	if i == 1 || i == len(b) || b[i] != '>' || pri > maxPriority {
		return 0, 0, false
	}
	return pri, i + 1, true
}

// ciscoPrefix returns the length of a Cisco "token: " field at the start of b: bytes other than
// space and colon (possibly none), a colon, and the spaces after it.
func ciscoPrefix(b []byte) (int, bool) {
	i := 0
	for i < len(b) && i < maxCiscoPrefixBytes && b[i] != ':' && b[i] != ' ' {
		i++
	}
	if i == len(b) || b[i] != ':' {
		return 0, false
	}
	i++
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return i, true
}

// stamp reads an RFC 3339 or RFC 3164 stamp at the start of b, after an optional Cisco
// synchronisation marker. A BSD stamp may be preceded by its year. c is the stream's stampCache.
func (p Parser) stamp(b []byte, received time.Time, c *stampCache) (time.Time, bool) {
	if len(b) > 0 && (b[0] == '*' || b[0] == '.') {
		b = b[1:]
	}
	if len(b) == 0 {
		return time.Time{}, false
	}
	if !isDigit(b[0]) {
		return p.bsd(b, 0, received)
	}
	if year, n := leadingDigits(b, 4); n == 4 && len(b) > 5 && b[4] == ' ' {
		if year == 0 {
			return time.Time{}, false
		}
		return p.bsd(b[5:], year, received)
	}
	return p.rfc3339(b, true, c)
}

// location is the zone for zone-less stamps.
func (p Parser) location() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
