package framing

import (
	"bytes"
	"fmt"
	"io"
)

// DefaultMaxMessageBytes is the maximum message size of a Scanner made with maxMessageBytes <= 0.
// RFC 5425 section 4.3.1 asks receivers to take at least 2,048 octets and says they SHOULD take
// 8,192; 64 KiB also covers what rsyslog and syslog-ng send when configured for large messages.
const DefaultMaxMessageBytes = 64 * 1024

const (
	// maxOctetCount is the largest MSG-LEN read as an octet count; RFC 6587 and RFC 5425 set
	// none. 1 GiB is far above any syslog message, and the bound makes a digit-first line that
	// was never octet-counted fall back to non-transparent framing instead of swallowing the
	// stream: a line starting with a Unix time in seconds, for one, is above 2^30 since 2004.
	maxOctetCount = 1 << 30
	// maxOctetCountDigits is the length of maxOctetCount in decimal (1073741824).
	maxOctetCountDigits = 10

	// readBufferBytes is the room a Scanner's buffer keeps beyond one maximum message, so that
	// reads stay large however much of a message is already buffered.
	readBufferBytes = 64 * 1024
	// initialBufferBytes is the buffer a Scanner starts with. It grows, up to one maximum message
	// plus readBufferBytes, only when the stream fills it: an idle or slow connection holds 4 KiB,
	// not the 128 KiB a busy one reads into.
	initialBufferBytes = 4 * 1024

	// maxConsecutiveEmptyReads is how many (0, nil) reads Scan tolerates before it gives up
	// with io.ErrNoProgress, as bufio does.
	maxConsecutiveEmptyReads = 100
)

// state is where a Scanner is in the stream.
type state uint8

const (
	stateFrameStart  state = iota // between frames
	stateLine                     // in a non-transparent frame
	stateCounted                  // in an octet-counted frame, before its message is returned
	stateSkipCounted              // discarding the octets of a counted frame past the maximum
	stateSkipLine                 // discarding a non-transparent frame past the maximum
)

// step is what one state transition achieved.
type step uint8

const (
	stepNeedData step = iota // buf[r:w] is not enough to go on
	stepAdvanced             // the state changed; go on
	stepMessage              // s.msg is the next message
)

// Scanner reads messages from a stream framed as RFC 6587 and RFC 5425 describe. Successive
// calls to Scan step through the messages; Message returns the current one. Make one with
// NewScanner; the zero value is not usable. A Scanner is not safe for concurrent use.
type Scanner struct {
	rd  io.Reader
	max int
	// nulOnly makes NUL the only terminator and turns octet counting off (GELF over TCP).
	nulOnly bool
	// bufBytes is the size buf may grow to.
	bufBytes int
	// filled reports that the last read filled all the room it had: more is likely waiting.
	filled bool
	// lastRead is how many bytes the last read returned.
	lastRead int
	// mem accounts for the bytes of buf beyond initialBufferBytes; nil: not accounted.
	mem Memory

	buf  []byte
	r, w int // buf[r:w] has been read from rd and not yet consumed

	state state
	// frameBytes and remaining are the MSG-LEN of the current octet-counted frame and how many
	// of its octets are still to be consumed.
	frameBytes, remaining int
	// searched is how many bytes of buf[r:w] are known to hold no terminator (stateLine), so
	// that a long line arriving in small reads is searched once, not once per read.
	searched int
	// term is the terminator found last: it is searched for first (see index).
	term byte

	msg        []byte
	truncated  bool
	incomplete bool

	readErr error // the sticky error of rd.Read
	err     error // what Err reports
	done    bool  // Scan returns false from now on
}

// Memory accounts for the memory a Scanner's buffer holds beyond its first 4 KiB: what a
// stream of large messages, or a large message still arriving, costs. Grow is called before the
// buffer grows by n bytes and may block until they are available; an error ends the scan, as a
// read error does. Shrink is called when the buffer gives n bytes back: once it is empty while
// the stream sends little, and when the scan ends.
type Memory interface {
	Grow(n int) error
	Shrink(n int)
}

// SetMemory makes s account for its buffer's growth with m. Call it before the first Scan.
func (s *Scanner) SetMemory(m Memory) { s.mem = m }

// NewScanner returns a Scanner of the messages in r, each at most maxMessageBytes long;
// maxMessageBytes <= 0 means DefaultMaxMessageBytes, and values above 1 GiB mean 1 GiB. It
// allocates the Scanner's only buffer: maxMessageBytes plus 64 KiB.
func NewScanner(r io.Reader, maxMessageBytes int) *Scanner {
	if maxMessageBytes <= 0 {
		maxMessageBytes = DefaultMaxMessageBytes
	}
	maxMessageBytes = min(maxMessageBytes, maxOctetCount)
	return newScanner(r, maxMessageBytes, maxMessageBytes+readBufferBytes)
}

// NewNULScanner returns a Scanner of the messages in r that end at NUL only, as GELF over TCP
// frames them: LF and CR are message bytes (pretty-printed JSON holds them) and a leading digit
// starts no octet count. maxMessageBytes is as for NewScanner.
func NewNULScanner(r io.Reader, maxMessageBytes int) *Scanner {
	s := NewScanner(r, maxMessageBytes)
	s.nulOnly, s.term = true, 0
	return s
}

// newScanner lets tests choose a small buffer, so that every compaction path runs on short
// inputs. The buffer must be able to hold one message and the byte that shows it is longer
// than the maximum, or an undecided octet count and the byte after it.
func newScanner(r io.Reader, maxMessageBytes, bufBytes int) *Scanner {
	bufBytes = max(bufBytes, maxMessageBytes+1, maxOctetCountDigits+1)
	return &Scanner{
		rd:       r,
		max:      maxMessageBytes,
		buf:      make([]byte, min(initialBufferBytes, bufBytes)),
		bufBytes: bufBytes,
		term:     '\n',
	}
}

// Scan advances to the next message, which Message then returns. It returns false when the
// stream ends or a read fails; Err tells which. Empty frames are skipped.
func (s *Scanner) Scan() bool {
	s.msg, s.truncated, s.incomplete = nil, false, false
	for !s.done {
		var st step
		switch s.state {
		case stateFrameStart:
			st = s.frameStart()
		case stateLine:
			st = s.line()
		case stateCounted:
			st = s.counted()
		case stateSkipCounted:
			st = s.skipCounted()
		case stateSkipLine:
			st = s.skipLine()
		}
		switch {
		case st == stepMessage:
			return true
		case st == stepAdvanced:
			// Go on in the new state.
		case s.readErr == nil:
			s.fill()
		case s.end():
			return true
		}
	}
	s.release()
	return false
}

// release gives the memory of the buffer back to Memory once the scan has ended.
func (s *Scanner) release() {
	if s.mem != nil && len(s.buf) > initialBufferBytes {
		s.mem.Shrink(len(s.buf) - initialBufferBytes)
	}
	s.mem = nil
}

// Message returns the current message without its framing. It points into the Scanner's
// buffer: it is valid until the next call to Scan, which may overwrite it.
func (s *Scanner) Message() []byte { return s.msg }

// Truncated reports whether the current message was longer than the maximum and has been cut
// to it; the rest of its frame is discarded.
func (s *Scanner) Truncated() bool { return s.truncated }

// Incomplete reports whether the current message was cut off by the end of the stream before its
// frame ended: an octet-counted frame that got fewer octets than its count, or a non-transparent
// frame ended by a read error (a timeout, the connection closed under it) rather than by EOF,
// which by custom ends the last message of a stream. The message holds what arrived of it.
func (s *Scanner) Incomplete() bool { return s.incomplete }

// Buffered returns how many bytes have been read from the stream and not yet returned as or
// discarded with a message. 0 means that the next Scan will call Read, unless the stream has
// ended: a caller can flush its own work before Scan may block.
func (s *Scanner) Buffered() int { return s.w - s.r }

// Err returns the error that ended the scan: nil at a clean EOF, an error wrapping
// io.ErrUnexpectedEOF when the stream ended inside an octet-counted frame, else the wrapped
// read error.
func (s *Scanner) Err() error { return s.err }

// frameStart skips empty frames and chooses the framing of the next one by its first byte.
func (s *Scanner) frameStart() step {
	for s.r < s.w && s.isTerminator(s.buf[s.r]) {
		s.r++
	}
	if s.r == s.w {
		return stepNeedData
	}
	if c := s.buf[s.r]; c < '1' || c > '9' || s.nulOnly {
		s.startLine()
		return stepAdvanced
	}
	n, size := parseOctetCount(s.buf[s.r:s.w])
	switch {
	case size > 0:
		s.r += size
		s.frameBytes, s.remaining = n, n
		s.state = stateCounted
		return stepAdvanced
	case size < 0:
		s.startLine()
		return stepAdvanced
	}
	return stepNeedData
}

func (s *Scanner) startLine() {
	s.state, s.searched = stateLine, 0
}

// line returns the message of a non-transparent frame once its terminator is buffered, or its
// first s.max bytes once the frame is known to be longer.
func (s *Scanner) line() step {
	end := min(s.w, s.r+s.max+1)
	if i := s.index(s.buf[s.r+s.searched : end]); i >= 0 {
		i += s.searched
		s.msg = s.buf[s.r : s.r+i]
		s.r += i + 1
		s.state = stateFrameStart
		return stepMessage
	}
	s.searched = end - s.r
	if s.searched <= s.max {
		return stepNeedData
	}
	s.msg, s.truncated = s.buf[s.r:s.r+s.max], true
	s.r += s.max
	s.state = stateSkipLine
	return stepMessage
}

// counted returns the message of an octet-counted frame, cut to s.max, once it is buffered.
func (s *Scanner) counted() step {
	n := min(s.remaining, s.max)
	if s.w-s.r < n {
		return stepNeedData
	}
	s.msg = s.buf[s.r : s.r+n]
	s.r += n
	s.remaining -= n
	s.state = stateFrameStart
	if s.remaining > 0 {
		s.truncated = true
		s.state = stateSkipCounted
	}
	return stepMessage
}

func (s *Scanner) skipCounted() step {
	n := min(s.remaining, s.w-s.r)
	s.r += n
	s.remaining -= n
	if s.remaining > 0 {
		return stepNeedData
	}
	s.state = stateFrameStart
	return stepAdvanced
}

func (s *Scanner) skipLine() step {
	i := s.index(s.buf[s.r:s.w])
	if i < 0 {
		s.r = s.w
		return stepNeedData
	}
	s.r += i + 1
	s.state = stateFrameStart
	return stepAdvanced
}

// end handles the end of the stream, once the buffer holds too little to go on. It reports
// whether it made s.msg the last message; Scan returns false once s.done is set.
func (s *Scanner) end() bool {
	switch s.state {
	case stateFrameStart:
		if s.r < s.w {
			// Digits with no space after them are not an octet count.
			s.startLine()
			return false
		}
	case stateLine:
		s.msg = s.buf[s.r:s.w]
		s.r = s.w
		s.state = stateFrameStart
		s.incomplete = s.readErr != io.EOF
		return true
	case stateCounted, stateSkipCounted:
		got := s.frameBytes - s.remaining + s.w - s.r
		if s.readErr == io.EOF {
			s.err = fmt.Errorf("framing: octet-counted frame of %d bytes cut short after %d: %w",
				s.frameBytes, got, io.ErrUnexpectedEOF)
		}
		if s.state == stateCounted && s.r < s.w {
			s.msg = s.buf[s.r:s.w]
			s.r = s.w
			s.incomplete = true
		}
	case stateSkipLine:
		// EOF ends the discarded frame as a terminator would.
	}
	if s.err == nil && s.readErr != io.EOF {
		s.err = fmt.Errorf("framing: read: %w", s.readErr)
	}
	s.done = true
	return s.msg != nil
}

// fill reads once more from the stream into the buffer, after moving the unconsumed bytes to
// its start. The states need at most one message and one byte buffered before they can go
// on, and the buffer is larger than that, so there is always room.
//
// The buffer grows, with Memory's leave, while the stream fills it, and shrinks back to its
// initial size once it is empty between frames and the last read would have fit that: a
// connection that only
// once sent a large message, or that pauses in the middle of one, does not keep the memory.
func (s *Scanner) fill() {
	if s.r > 0 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	if s.w == 0 && s.state == stateFrameStart && !s.filled && s.lastRead <= initialBufferBytes &&
		len(s.buf) > initialBufferBytes {
		if s.mem != nil {
			s.mem.Shrink(len(s.buf) - initialBufferBytes)
		}
		s.buf = make([]byte, initialBufferBytes)
	}
	if (s.w == len(s.buf) || s.filled) && len(s.buf) < s.bufBytes {
		size := min(2*len(s.buf), s.bufBytes)
		if n := size - max(len(s.buf), initialBufferBytes); s.mem != nil && n > 0 {
			if err := s.mem.Grow(n); err != nil {
				s.readErr = fmt.Errorf("grow buffer: %w", err)
				return
			}
		}
		grown := make([]byte, size)
		copy(grown, s.buf[:s.w])
		s.buf = grown
	}
	for range maxConsecutiveEmptyReads {
		n, err := s.rd.Read(s.buf[s.w:])
		if n < 0 || n > len(s.buf)-s.w {
			panic(fmt.Sprintf("framing: Read returned impossible count %d", n))
		}
		s.filled = s.w+n == len(s.buf)
		s.lastRead = n
		s.w += n
		if err != nil {
			s.readErr = err
			return
		}
		if n > 0 {
			return
		}
	}
	s.readErr = io.ErrNoProgress
}

// index returns the index in b of its first LF, NUL or CR, or -1.
//
// It runs bytes.IndexByte (SIMD) for the terminator found last, then for the other two only in
// the bytes before that hit. A stream keeps to one terminator, so this costs one search of the
// message and two of nothing. Measured on this machine over 200-byte messages: 18 ns here,
// 75 ns for a loop over a 256-entry table, 150 ns for bytes.IndexAny, 53 ns for 8-byte SWAR.
// A stream that changes terminator pays one search up to the next of the old one, at worst
// the whole window of s.max+1 bytes that line passes.
func (s *Scanner) index(b []byte) int {
	if s.nulOnly {
		return bytes.IndexByte(b, 0)
	}
	second, third := byte(0), byte('\r')
	switch s.term {
	case 0:
		second = '\n'
	case '\r':
		second, third = '\n', 0
	}
	i := bytes.IndexByte(b, s.term)
	before := b
	if i >= 0 {
		before = b[:i]
	}
	if j := bytes.IndexByte(before, second); j >= 0 {
		i, before = j, b[:j]
	}
	if j := bytes.IndexByte(before, third); j >= 0 {
		i = j
	}
	if i >= 0 {
		s.term = b[i]
	}
	return i
}

// isTerminator reports whether c ends a non-transparent frame (RFC 6587 section 3.4.2: LF,
// and the NUL and CR that senders use in its place; only NUL for NUL-delimited streams).
func (s *Scanner) isTerminator(c byte) bool {
	return c == 0 || !s.nulOnly && (c == '\n' || c == '\r')
}

// parseOctetCount parses the "MSG-LEN SP" that starts b, whose first byte is a digit 1-9
// (RFC 6587 section 3.4.1: MSG-LEN = NONZERO-DIGIT *DIGIT). It returns the count and the size
// of the prefix with its space; size 0 when b ends before that is known; size -1 when b does
// not start with a valid count (a non-digit before the space, or a count above maxOctetCount).
func parseOctetCount(b []byte) (n, size int) {
	for i, c := range b {
		switch {
		case c == ' ':
			return n, i + 1
		case c < '0' || c > '9':
			return 0, -1
		}
		n = n*10 + int(c-'0')
		if n > maxOctetCount {
			return 0, -1
		}
	}
	return 0, 0
}
