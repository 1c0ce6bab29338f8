package bench

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"
	"unicode/utf8"
)

// Format is the syslog dialect of generated messages.
type Format string

// The formats a Generator writes.
const (
	// RFC5424 messages: "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG", the stamp in
	// UTC with microseconds, as rsyslog and syslog-ng forward them.
	RFC5424 Format = "rfc5424"
	// RFC3164 messages: "<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG", as most devices and
	// older daemons send them.
	RFC3164 Format = "rfc3164"
)

// tokenMarker starts the token that makes each message unique and tells the verifier which it is:
// "kbid=RUN.STREAM.SEQ", all decimal. It sits right after the header, before the text that
// padding and truncation act on.
const tokenMarker = "kbid="

// stampStep is how far apart the stamps of successive messages of a stream are, so that stamps
// vary as they do in real traffic and stay close to the time the run takes.
const stampStep = time.Microsecond

// A Generator makes the messages of one run: message seq of stream is a pure function of the
// Generator and (stream, seq), so the verifier regenerates every message it finds and compares it
// byte for byte. Its fields must be set; a Generator is safe for concurrent use.
type Generator struct {
	// Run identifies the run: it is in every token and seeds the content.
	Run uint32
	// Format is the syslog dialect.
	Format Format
	// MinBytes and MaxBytes bound the size of each message, which is drawn log-uniformly between
	// them (small messages are the common case) and exact, unless the header and token alone
	// are longer. Equal values give messages of one size.
	MinBytes, MaxBytes int
	// Base is the stamp of the first message of each stream.
	Base time.Time
}

// Validate reports what is wrong with g's fields.
func (g *Generator) Validate() error {
	switch {
	case g.Format != RFC5424 && g.Format != RFC3164:
		return fmt.Errorf("bench: unknown message format %q (want %s or %s)", g.Format, RFC5424, RFC3164)
	case g.MinBytes < 1 || g.MaxBytes < g.MinBytes:
		return fmt.Errorf("bench: message sizes %d to %d: want 1 <= min <= max", g.MinBytes, g.MaxBytes)
	case g.Base.IsZero():
		return fmt.Errorf("bench: generator has no base time")
	}
	return nil
}

// Append appends message seq of stream to dst and returns the extended slice. The message holds
// no LF, CR or NUL and is valid UTF-8, so that it survives any framing and any receiver's
// escaping unchanged. Append does not allocate when dst has room. A sender of many messages of
// one stream uses Stream, which makes the same bytes for less.
func (g *Generator) Append(dst []byte, stream, seq int) []byte {
	var m Messages
	m.reset(g, stream)
	return m.Append(dst, seq)
}

// Stream returns the maker of stream's messages.
func (g *Generator) Stream(stream int) *Messages {
	m := new(Messages)
	m.reset(g, stream)
	return m
}

// Messages makes the messages of one stream of a Generator: m.Append(dst, seq) appends what
// g.Append(dst, stream, seq) does, keeping from one message to the next what messages of the
// stream share: the token up to its seq, and the stamp up to its second (a stream's stamps are
// stampStep apart, so a million messages share one second). Its methods are not safe for
// concurrent use; distinct Messages are.
type Messages struct {
	g      *Generator
	stream int
	// token is "kbid=RUN.STREAM.", tokenLen bytes of it.
	token    [len(tokenMarker) + 2*20 + 2]byte
	tokenLen int
	// second is the stamp's second that stamp holds the text of, up to the seconds' digits:
	// "2006-01-02T15:04:05" or "Jan _2 15:04:05"; stampLen bytes of it, 0 when none yet.
	second   int64
	stamp    [len("2006-01-02T15:04:05")]byte
	stampLen int
	// baseSecond and baseNano are g.Base's, as Unix seconds and nanoseconds.
	baseSecond int64
	baseNano   int
}

func (m *Messages) reset(g *Generator, stream int) {
	*m = Messages{g: g, stream: stream, baseSecond: g.Base.Unix(), baseNano: g.Base.Nanosecond()}
	t := append(m.token[:0], tokenMarker...)
	t = appendUint(t, uint64(g.Run))
	t = appendUint(append(t, '.'), uint64(stream))
	m.tokenLen = len(append(t, '.'))
}

// Append appends message seq of the stream to dst and returns the extended slice; see
// Generator.Append.
func (m *Messages) Append(dst []byte, seq int) []byte {
	g := m.g
	r := rng(uint64(g.Run)<<44 ^ uint64(m.stream)<<32 ^ uint64(seq))
	start := len(dst)
	size := g.size(&r)
	host := &hosts[r.intn(len(hosts))]
	kind := r.intn(len(kinds))
	tmpl := &kinds[kind]
	micro := m.setStamp(seq)
	pid := 300 + r.intn(60000)
	pri := tmpl.facility*8 + tmpl.severities[r.intn(len(tmpl.severities))]

	dst = append(dst, '<')
	dst = appendUint(dst, uint64(pri))
	dst = append(dst, '>')
	if g.Format == RFC5424 {
		dst = append(dst, "1 "...)
		dst = append(dst, m.stamp[:m.stampLen]...)
		dst = append2(append2(append2(append(dst, '.'), micro/10000), micro/100%100), micro%100)
		dst = appendHost(append(dst, 'Z', ' '), host, r.intn(64)+1)
		dst = append(append(dst, ' '), tmpl.app...)
		dst = appendUint(append(dst, ' '), uint64(pid))
		dst = append(dst, " - "...)
		if r.intn(4) == 0 {
			dst = append(dst, `[origin ip="10.`...)
			dst = appendIPTail(dst, &r)
			dst = append(dst, `" software="`...)
			dst = append(dst, tmpl.app...)
			dst = append(dst, `"] `...)
		} else {
			dst = append(dst, "- "...)
		}
	} else {
		dst = append(dst, m.stamp[:m.stampLen]...)
		dst = appendHost(append(dst, ' '), host, r.intn(64)+1)
		dst = append(append(dst, ' '), tmpl.app...)
		dst = append(dst, '[')
		dst = appendUint(dst, uint64(pid))
		dst = append(dst, "]: "...)
	}
	dst = append(dst, m.token[:m.tokenLen]...)
	dst = appendUint(dst, uint64(seq))
	// Neither the header nor the token is ever cut.
	size = max(size, len(dst)-start)
	dst = appendBody(append(dst, ' '), kind, &r)
	for len(dst)-start < size {
		dst = appendFiller(dst, &r)
	}
	return fitSize(dst, start, size)
}

// setStamp makes m.stamp that of message seq, g.Base plus seq stampSteps, up to its second, and
// returns its microseconds. It computes in integers what time.Time.Add, Date and Clock took a
// tenth of Append's instructions for, and formats the second only when it changes.
func (m *Messages) setStamp(seq int) (micro int) {
	const stepsPerSecond = int(time.Second / stampStep)
	nano := m.baseNano + seq%stepsPerSecond*int(stampStep)
	second := m.baseSecond + int64(seq/stepsPerSecond) + int64(nano/int(time.Second))
	nano %= int(time.Second)
	if m.stampLen == 0 || second != m.second {
		t := time.Unix(second, 0).UTC()
		if m.g.Format == RFC5424 {
			m.stampLen = len(appendRFC3339Second(m.stamp[:0], t))
		} else {
			m.stampLen = len(appendStamp(m.stamp[:0], t))
		}
		m.second = second
	}
	return nano / int(time.Microsecond)
}

// fitSize cuts the message at dst[start:] to size bytes, if the header left room for that: a
// character cut in two is replaced by dots, and a final space by a dot (some receivers trim
// trailing spaces).
func fitSize(dst []byte, start, size int) []byte {
	end := start + size
	if len(dst) <= end {
		return dst
	}
	dst = dst[:end]
	lead := end - 1
	for lead > start && !utf8.RuneStart(dst[lead]) {
		lead--
	}
	if !utf8.FullRune(dst[lead:end]) {
		for i := lead; i < end; i++ {
			dst[i] = '.'
		}
	}
	if dst[end-1] == ' ' {
		dst[end-1] = '.'
	}
	return dst
}

// size draws a message size log-uniformly from [MinBytes, MaxBytes].
func (g *Generator) size(r *rng) int {
	if g.MaxBytes <= g.MinBytes {
		return g.MinBytes
	}
	u := r.float()
	return min(g.MaxBytes, int(float64(g.MinBytes)*math.Pow(float64(g.MaxBytes)/float64(g.MinBytes), u)))
}

// Token is what identifies one generated message.
type Token struct {
	Run    uint32
	Stream int
	Seq    int
}

// ParseToken finds the token of a generated message in msg.
func ParseToken(msg []byte) (Token, bool) {
	i := bytes.Index(msg, []byte(tokenMarker))
	if i < 0 {
		return Token{}, false
	}
	b := msg[i+len(tokenMarker):]
	run, b, ok1 := cutNumber(b, '.')
	stream, b, ok2 := cutNumber(b, '.')
	seq, _, ok3 := cutNumber(b, 0)
	if !ok1 || !ok2 || !ok3 || run > math.MaxUint32 {
		return Token{}, false
	}
	return Token{Run: uint32(run), Stream: stream, Seq: seq}, true
}

// cutNumber reads a decimal number at the start of b that ends at sep or at the end of b; a sep
// of 0 lets any byte end it.
func cutNumber(b []byte, sep byte) (int, []byte, bool) {
	n, i := 0, 0
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		if i == 12 {
			return 0, nil, false
		}
		n = n*10 + int(b[i]-'0')
	}
	if i == 0 || (i < len(b) && sep != 0 && b[i] != sep) {
		return 0, nil, false
	}
	if i < len(b) && sep != 0 {
		i++
	}
	return n, b[i:], true
}

// rng is SplitMix64: a few nanoseconds per draw, and seeded by the message's identity so that a
// message is the same wherever it is generated.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn returns a number in [0, n).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// uintn returns a number in [0, n), as intn does. Both are inlined, so that with a constant n
// the remainder is a multiplication: a helper that took n and passed it on divided, at some 40
// cycles a draw, a tenth of the generator's time.
func (r *rng) uintn(n uint64) uint64 { return r.next() % n }

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// appendRFC3339Second appends t, in UTC, as 2006-01-02T15:04:05, the part of an RFC 3339 stamp
// that the messages of one second share. It and appendStamp write the digits themselves:
// time.Time.AppendFormat took a third of the time to generate a message.
func appendRFC3339Second(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	dst = append2(append2(dst, year/100), year%100)
	dst = append2(append(dst, '-'), int(month))
	dst = append2(append(dst, '-'), day)
	return appendClock(append(dst, 'T'), t)
}

// appendStamp appends t as the RFC 3164 stamp Jan _2 15:04:05.
func appendStamp(dst []byte, t time.Time) []byte {
	_, month, day := t.Date()
	dst = append(dst, month.String()[:3]...)
	if day < 10 {
		dst = append(dst, ' ', ' ', byte('0'+day))
	} else {
		dst = append2(append(dst, ' '), day)
	}
	return appendClock(append(dst, ' '), t)
}

func appendClock(dst []byte, t time.Time) []byte {
	hour, minute, second := t.Clock()
	return append2(append(append2(append(append2(dst, hour), ':'), minute), ':'), second)
}

// append2 appends n, 0 to 99, as two digits.
func append2(dst []byte, n int) []byte { return append(dst, digitPairs[2*n], digitPairs[2*n+1]) }

// digitPairs holds the two digits of 0 to 99.
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendUint appends v in decimal. It writes the digits in place, two at a time, where
// strconv.AppendUint formats them into a buffer of its own and copies that (a call of memmove
// per number): a message holds about ten numbers, and strconv took a third of Append's
// instructions.
func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 10:
		return append(dst, byte('0'+v))
	case v < 100:
		return append(dst, digitPairs[2*v], digitPairs[2*v+1])
	}
	n := decimalLen(v)
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	b := dst[start:]
	i := n
	for v >= 100 && i >= 2 {
		d := v % 100 * 2
		v /= 100
		i -= 2
		b[i+1], b[i] = digitPairs[d+1], digitPairs[d]
	}
	if v >= 10 && i >= 2 {
		b[1], b[0] = digitPairs[2*v+1], digitPairs[2*v]
	} else if i >= 1 {
		b[0] = byte('0' + v)
	}
	return dst
}

// decimalLen returns the number of decimal digits of v: log10 from the bit length (1233/4096 is
// just over log10(2)), plus one at or above the power of ten.
func decimalLen(v uint64) int {
	n := bits.Len64(v) * 1233 >> 12
	if v >= powersOf10[n] {
		n++
	}
	return max(n, 1)
}

// powersOf10 holds 10 to the n, n < 20.
var powersOf10 = [20]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
	1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}
