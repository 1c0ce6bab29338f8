package record

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MaxEventBytes bounds one encoded event, so that a record holding a single event still fits
// TargetBytes whatever its content. Longer messages are cut (at a character boundary) to fit.
const MaxEventBytes = TargetBytes - 4096

// eventOverheadBytes is the largest encoding of everything in an event but its message:
// {"id":"<36>","timestamp":<up to 20>,"message":""}.
const eventOverheadBytes = len(`{"id":"","timestamp":,"message":""}`) + 36 + 20

// maxEscapedBytes is the most AppendEvent writes for one byte of a message: JSON escapes a
// control character as six (\u001f); an invalid byte takes five (\\xff).
const maxEscapedBytes = len(`\u001f`)

// MaxWholeMessageBytes is the longest message AppendEvent keeps whole whatever its bytes: even
// when every byte takes maxEscapedBytes, its event stays within MaxEventBytes. A longer message
// is kept whole only when it escapes to little enough, and the cut otherwise depends on its
// content, so a relay bounds messages by this (config.MaxMessageBytes), never beyond.
//
// Escaping, not compression, sets it: a record of one event must fit TargetBytes even for data
// that does not compress. Allowing such a record the service's 1,024,000 bytes would not keep
// much longer messages whole: 1,000,000 bytes of random data escape and compress to 1.55 MB,
// and half control characters, half invalid bytes to 1.69 MB (measured with the Encoder).
const MaxWholeMessageBytes = (MaxEventBytes - eventOverheadBytes) / maxEscapedBytes

// AppendEvent appends the JSON object of one log event, {"id":…,"timestamp":…,"message":…}, to
// dst and returns the extended slice. id is written in its canonical form, as it is (IDs makes the
// relay's); timestampMillis is milliseconds since the Unix epoch.
//
// The message is escaped as JSON requires. Bytes that are not valid UTF-8 are written as the four
// characters \xNN (NN its hexadecimal value), as the Python original's backslashreplace did, so
// that no byte is lost and the rest of the message is untouched. If the encoded event would exceed
// MaxEventBytes, the message is cut to fit: never one of at most MaxWholeMessageBytes.
// AppendEvent does not allocate when dst has room.
func AppendEvent(dst []byte, id UUID, timestampMillis int64, msg []byte) []byte {
	dst = append(dst, `{"id":"`...)
	dst = appendUUID(dst, id)
	dst = append(dst, `","timestamp":`...)
	dst = appendMillis(dst, timestampMillis)
	dst = append(dst, `,"message":"`...)
	dst = appendEscaped(dst, msg, MaxEventBytes-eventOverheadBytes)
	return append(dst, `"}`...)
}

const hexDigits = "0123456789abcdef"

// hexPairs[v] is the two hexadecimal digits of the byte v, as a big-endian uint16: one load and
// one store per byte.
var hexPairs = func() (t [256]uint16) {
	for v := range t {
		t[v] = uint16(hexDigits[v>>4])<<8 | uint16(hexDigits[v&0x0f])
	}
	return t
}()

// appendUUID appends id in its 36-character form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx. The
// stores are written out, at constant offsets, so that they need no bounds checks nor a loop.
func appendUUID(dst []byte, id UUID) []byte {
	b := [36]byte{8: '-', 13: '-', 18: '-', 23: '-'}
	be := binary.BigEndian
	be.PutUint16(b[0:], hexPairs[id[0]])
	be.PutUint16(b[2:], hexPairs[id[1]])
	be.PutUint16(b[4:], hexPairs[id[2]])
	be.PutUint16(b[6:], hexPairs[id[3]])
	be.PutUint16(b[9:], hexPairs[id[4]])
	be.PutUint16(b[11:], hexPairs[id[5]])
	be.PutUint16(b[14:], hexPairs[id[6]])
	be.PutUint16(b[16:], hexPairs[id[7]])
	be.PutUint16(b[19:], hexPairs[id[8]])
	be.PutUint16(b[21:], hexPairs[id[9]])
	be.PutUint16(b[24:], hexPairs[id[10]])
	be.PutUint16(b[26:], hexPairs[id[11]])
	be.PutUint16(b[28:], hexPairs[id[12]])
	be.PutUint16(b[30:], hexPairs[id[13]])
	be.PutUint16(b[32:], hexPairs[id[14]])
	be.PutUint16(b[34:], hexPairs[id[15]])
	return append(dst, b[:]...)
}

// Bounds of the timestamps appendMillis writes without strconv: those of 13 digits, from
// 2001-09-09 to 2286-11-20.
const (
	minMillis13 = 1_000_000_000_000
	maxMillis13 = 9_999_999_999_999
)

// appendMillis appends ms in decimal, as strconv.AppendInt does. The 13 digits of every
// timestamp of this century are written by 32-bit arithmetic, two at a time, since no other
// field of an event costs as much to format.
func appendMillis(dst []byte, ms int64) []byte {
	if ms < minMillis13 || ms > maxMillis13 {
		return strconv.AppendInt(dst, ms, 10)
	}
	hi, lo := uint32(ms/100_000_000), uint32(ms%100_000_000) // 5 and 8 digits
	var b [13]byte
	b[0] = byte('0' + hi/10_000)
	be := binary.BigEndian
	be.PutUint16(b[1:], decimalPairs[hi/100%100])
	be.PutUint16(b[3:], decimalPairs[hi%100])
	be.PutUint16(b[5:], decimalPairs[lo/1_000_000])
	be.PutUint16(b[7:], decimalPairs[lo/10_000%100])
	be.PutUint16(b[9:], decimalPairs[lo/100%100])
	be.PutUint16(b[11:], decimalPairs[lo%100])
	return append(dst, b[:]...)
}

// decimalPairs[v] is the two decimal digits of v, 0 to 99, as a big-endian uint16.
var decimalPairs = func() (t [100]uint16) {
	for v := range t {
		t[v] = uint16('0'+v/10)<<8 | uint16('0'+v%10)
	}
	return t
}()

// safeJSON[b] is true for the ASCII bytes that JSON strings hold as they are.
var safeJSON = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// controlEscapes[b] is the JSON escape of the ASCII byte b that safeJSON does not pass.
var controlEscapes = func() (t [utf8.RuneSelf]string) {
	for b := range 0x20 {
		t[b] = `\u00` + string(hexDigits[b>>4]) + string(hexDigits[b&0x0f])
	}
	t['\n'], t['\r'], t['\t'] = `\n`, `\r`, `\t`
	t['"'], t['\\'] = `\"`, `\\`
	return t
}()

// appendEscaped appends msg as the contents of a JSON string, writing at most maxBytes bytes.
// Bytes that need no escaping, and valid multi-byte UTF-8 characters, are gathered into runs that
// are copied with one append each: messages are mostly such runs.
func appendEscaped(dst, msg []byte, maxBytes int) []byte {
	limit := len(dst) + maxBytes
	dst = slices.Grow(dst, min(len(msg), maxBytes))
	run := 0 // msg[run:i] is copied as it is
	for i := 0; ; {
		i += safePrefix(msg[i:])
		if i == len(msg) {
			break
		}
		b := msg[i]
		if b >= utf8.RuneSelf {
			if r, size := utf8.DecodeRune(msg[i:]); r != utf8.RuneError || size > 1 {
				i += size
				continue
			}
		}
		if len(dst)+i-run > limit {
			return appendCut(dst, msg[run:i], limit)
		}
		dst = append(dst, msg[run:i]...)
		if b >= utf8.RuneSelf {
			// An invalid byte: \xNN, whose backslash JSON escapes as \\.
			if len(dst)+5 > limit {
				return dst
			}
			dst = append(dst, '\\', '\\', 'x', hexDigits[b>>4], hexDigits[b&0x0f])
		} else if esc := controlEscapes[b]; len(dst)+len(esc) > limit {
			return dst
		} else if len(esc) == 2 {
			dst = append(dst, esc[0], esc[1]) // the common \" without a copy's call
		} else {
			dst = append(dst, esc...)
		}
		i++
		run = i
	}
	if len(dst)+len(msg)-run > limit {
		return appendCut(dst, msg[run:], limit)
	}
	return append(dst, msg[run:]...)
}

// appendCut appends the longest prefix of run, bytes that need no escaping and whole UTF-8
// characters, that keeps dst within limit bytes: a character is never cut.
func appendCut(dst, run []byte, limit int) []byte {
	n := limit - len(dst)
	for n > 0 && !utf8.RuneStart(run[n]) {
		n--
	}
	return append(dst, run[:n]...)
}

// Constants of the SWAR ("SIMD within a register") tests of safePrefix: every byte of a uint64
// at once.
const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// safePrefixWords returns the length of the run of bytes at the start of b that JSON strings hold
// as they are: safePrefix where it has no vector instructions, and for runs under 16 bytes where it
// has. It tests sixteen bytes per step, and the last few bytes as one word too: messages are
// mostly such runs, and a loop over a table costs about a nanosecond per byte where this costs a
// fifth of that or less.
func safePrefixWords(all []byte) int {
	// The lowest flagged byte of a word is always a true one (see unsafeBytes). The loops shorten
	// b rather than index it, which spares the compiler's bounds checks.
	b, n := all, len(all)
	for len(b) >= 16 {
		lo, hi := unsafeBytes(binary.LittleEndian.Uint64(b)), unsafeBytes(binary.LittleEndian.Uint64(b[8:]))
		if lo|hi != 0 {
			if lo != 0 {
				return n - len(b) + bits.TrailingZeros64(lo)>>3
			}
			return n - len(b) + 8 + bits.TrailingZeros64(hi)>>3
		}
		b = b[16:]
	}
	if len(b) >= 8 {
		if m := unsafeBytes(binary.LittleEndian.Uint64(b)); m != 0 {
			return n - len(b) + bits.TrailingZeros64(m)>>3
		}
		b = b[8:]
	}
	rest := len(b)
	if rest == 0 {
		return n
	}
	if n >= 8 {
		// The last word of the whole, overlapping bytes already tested, which the shift drops;
		// the zero bytes it shifts in are flagged above every byte of the rest, and the mask
		// drops them.
		w := binary.LittleEndian.Uint64(all[n-8:])
		if m := unsafeBytes(w>>(64-8*rest)) & (1<<(8*rest) - 1); m != 0 {
			return n - rest + bits.TrailingZeros64(m)>>3
		}
		return n
	}
	i := 0
	for i < rest && b[i] < utf8.RuneSelf && safeJSON[b[i]] {
		i++
	}
	return n - rest + i
}

// unsafeBytes sets the high bit of each byte of w that is a control character, '"', '\\' or not
// ASCII, and possibly of bytes above such a byte. A subtraction flags a control character by
// wrapping below zero, and a quote or backslash by the zero its XOR leaves; it flags nothing else
// but non-ASCII bytes, which w's own high bits flag anyway, and the borrow it carries into the byte
// above, which only a flagged byte lends.
func unsafeBytes(w uint64) uint64 {
	control := w - swarOnes*0x20
	quote := (w ^ swarOnes*'"') - swarOnes
	backslash := (w ^ swarOnes*'\\') - swarOnes
	return (control | quote | backslash | w) & swarHigh
}
