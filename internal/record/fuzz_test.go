package record

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceEscape is appendEscaped one byte at a time: the obvious reading of the rules that
// the fast path must match. It writes at most maxBytes, stopping before the first byte's escape
// or character that does not fit.
func referenceEscape(dst, msg []byte, maxBytes int) []byte {
	limit := len(dst) + maxBytes
	for i := 0; i < len(msg); {
		n := len(dst)
		b := msg[i]
		switch {
		case b >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(msg[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, '\\', '\\', 'x', hexDigits[b>>4], hexDigits[b&0x0f])
			} else {
				dst = append(dst, msg[i:i+size]...)
			}
			if len(dst) > limit {
				return dst[:n]
			}
			i += size
			continue
		case b == '"':
			dst = append(dst, '\\', '"')
		case b == '\\':
			dst = append(dst, '\\', '\\')
		case b == '\n':
			dst = append(dst, '\\', 'n')
		case b == '\r':
			dst = append(dst, '\\', 'r')
		case b == '\t':
			dst = append(dst, '\\', 't')
		case b < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0x0f])
		default:
			dst = append(dst, b)
		}
		if len(dst) > limit {
			return dst[:n]
		}
		i++
	}
	return dst
}

// FuzzAppendEvent checks that every message becomes a valid JSON event, escaped exactly as the
// byte-at-a-time reference escapes it, that decodes back to the message with invalid bytes
// spelled \xNN.
func FuzzAppendEvent(f *testing.F) {
	for _, s := range []string{
		"", "plain ASCII that is longer than eight bytes", `q"uote`, `back\slash`, "\x00\x1f\x7f",
		"tab\there", "Grüße, 世界 🚀", "caf\xc3", "\xff\xfe", "x\xed\xa0\x80y", "12345678\"",
		"1234567\x80", "\x20\x21\x22\x23\x5b\x5c\x5d\x7e\x7f\x80",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := AppendEvent(nil, UUID{}, 1519247270240, msg)
		var ev Event
		if err := json.Unmarshal(out, &ev); err != nil {
			t.Fatalf("AppendEvent(%q) = %s: not JSON: %v", msg, out, err)
		}
		want := referenceEscape(nil, msg, len(msg)*maxEscapedBytes)
		if got := out[len(out)-len(want)-2 : len(out)-2]; !bytes.Equal(got, want) {
			t.Fatalf("AppendEvent(%q) escaped the message as %q, want %q", msg, got, want)
		}
		// Each cut of the escaped message (every one of a short message) is where the
		// reference stops.
		for limit := 0; limit <= len(want); limit += 1 + len(want)/256 {
			if got, want := appendEscaped(nil, msg, limit), referenceEscape(nil, msg, limit); !bytes.Equal(got, want) {
				t.Fatalf("appendEscaped(%q, %d) = %q, want %q", msg, limit, got, want)
			}
		}
		var decoded strings.Builder
		for i := 0; i < len(msg); {
			r, size := utf8.DecodeRune(msg[i:])
			if r == utf8.RuneError && size == 1 {
				decoded.WriteString(`\x` + strconv.FormatUint(uint64(msg[i])|0x100, 16)[1:])
			} else {
				decoded.Write(msg[i : i+size])
			}
			i += size
		}
		if ev.Message != decoded.String() {
			t.Fatalf("AppendEvent(%q) decodes to %q, want %q", msg, ev.Message, decoded.String())
		}
	})
}

// TestSafePrefix puts each byte value at each position of runs of safe bytes of every length up
// to four of safePrefix's 16-byte steps and a tail of every overlap, alone and above a NUL, which
// must be the answer whatever borrow it lends the bytes above.
func TestSafePrefix(t *testing.T) {
	const maxLen = 72
	for c := range 256 {
		safe := c < utf8.RuneSelf && safeJSON[c]
		for n := 1; n <= maxLen; n++ {
			for pos := range n {
				b := []byte(strings.Repeat("abcdefgh", maxLen/8)[:n])
				b[pos] = byte(c)
				want := pos
				if safe {
					want = n
				}
				if got := safePrefix(b); got != want {
					t.Errorf("safePrefix(%q) = %d, want %d", b, got, want)
				}
				if pos > 0 {
					b[pos-1] = 0
					if got := safePrefix(b); got != pos-1 {
						t.Errorf("safePrefix(%q) = %d, want %d", b, got, pos-1)
					}
				}
			}
		}
	}
}

// FuzzAppendMillis checks that appendMillis writes what strconv.AppendInt does, for any value.
func FuzzAppendMillis(f *testing.F) {
	for _, ms := range []int64{0, -1, 1764038095123, minMillis13 - 1, minMillis13, maxMillis13, maxMillis13 + 1,
		math.MinInt64, math.MaxInt64, 1_999_999_999_999, 1_000_099_999_999, 1_099_900_000_000} {
		f.Add(ms)
	}
	f.Fuzz(func(t *testing.T, ms int64) {
		for _, v := range []int64{ms, minMillis13 + ms%(maxMillis13-minMillis13+1)} {
			if got, want := appendMillis([]byte("x"), v), strconv.AppendInt([]byte("x"), v, 10); !bytes.Equal(got, want) {
				t.Fatalf("appendMillis(%d) = %q, want %q", v, got, want)
			}
		}
	})
}
