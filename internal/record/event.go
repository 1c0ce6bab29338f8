package record

import (
	"encoding/binary"
	"math/bits"
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
	dst = strconv.AppendInt(dst, timestampMillis, 10)
	dst = append(dst, `,"message":"`...)
	dst = appendEscaped(dst, msg, MaxEventBytes-eventOverheadBytes)
	return append(dst, `"}`...)
}

const hexDigits = "0123456789abcdef"

// uuidHexAt is where the two hex digits of each byte of a UUID go in its 36-character form
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx: a table, so that formatting has no branch per byte.
var uuidHexAt = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

func appendUUID(dst []byte, id UUID) []byte {
	b := [36]byte{8: '-', 13: '-', 18: '-', 23: '-'}
	for i, v := range id {
		at := uuidHexAt[i]
		b[at], b[at+1] = hexDigits[v>>4], hexDigits[v&0x0f]
	}
	return append(dst, b[:]...)
}

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
func appendEscaped(dst, msg []byte, maxBytes int) []byte {
	limit := len(dst) + maxBytes
	for i := 0; i < len(msg); {
		// Copy the longest run of bytes that need no escaping in one append.
		j := i + safePrefix(msg[i:])
		if j > i {
			if len(dst)+j-i > limit {
				return append(dst, msg[i:i+limit-len(dst)]...)
			}
			dst = append(dst, msg[i:j]...)
			i = j
			continue
		}
		b := msg[i]
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(msg[i:])
			if r != utf8.RuneError || size > 1 {
				if len(dst)+size > limit {
					return dst
				}
				dst = append(dst, msg[i:i+size]...)
				i += size
				continue
			}
			// An invalid byte: \xNN, whose backslash JSON escapes as \\.
			if len(dst)+5 > limit {
				return dst
			}
			dst = append(dst, '\\', '\\', 'x', hexDigits[b>>4], hexDigits[b&0x0f])
			i++
			continue
		}
		esc := controlEscapes[b]
		if len(dst)+len(esc) > limit {
			return dst
		}
		dst = append(dst, esc...)
		i++
	}
	return dst
}

// Constants of the SWAR ("SIMD within a register") tests of safePrefix: every byte of a uint64
// at once.
const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// safePrefix returns the length of the run of bytes at the start of b that JSON strings hold as
// they are. It tests eight bytes per step: messages are mostly such runs, and a loop over a table
// costs about a nanosecond per byte where this costs a fifth of that.
func safePrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := unsafeBytes(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			// The lowest flagged byte is always a true one: a false flag needs a borrow from a
			// true one below it.
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && b[i] < utf8.RuneSelf && safeJSON[b[i]] {
		i++
	}
	return i
}

// unsafeBytes sets the high bit of each byte of w, and possibly of bytes above such a byte, that is
// a control character, '"', '\\' or not ASCII. The tests are the classic "has less than" and
// "has zero byte" bit tricks.
func unsafeBytes(w uint64) uint64 {
	quote := w ^ (swarOnes * '"')
	backslash := w ^ (swarOnes * '\\')
	control := (w - swarOnes*0x20) &^ w
	quote = (quote - swarOnes) &^ quote
	backslash = (backslash - swarOnes) &^ backslash
	return (control | quote | backslash | w) & swarHigh
}
