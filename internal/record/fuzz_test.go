package record

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceEscape is appendEscaped without a limit, one byte at a time: the obvious reading of
// the rules that the fast path must match.
func referenceEscape(dst, msg []byte) []byte {
	for i := 0; i < len(msg); {
		b := msg[i]
		switch {
		case b >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(msg[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, '\\', '\\', 'x', hexDigits[b>>4], hexDigits[b&0x0f])
			} else {
				dst = append(dst, msg[i:i+size]...)
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
		want := referenceEscape(nil, msg)
		if got := out[len(out)-len(want)-2 : len(out)-2]; !bytes.Equal(got, want) {
			t.Fatalf("AppendEvent(%q) escaped the message as %q, want %q", msg, got, want)
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

func TestUnsafeBytes(t *testing.T) {
	for c := range 256 {
		safe := c < utf8.RuneSelf && safeJSON[c]
		for pos := range 8 {
			word := [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}
			word[pos] = byte(c)
			if got := safePrefix(word[:]); safe && got != 8 || !safe && got != pos {
				t.Errorf("safePrefix(%q) = %d, want %d", word, got, map[bool]int{true: 8, false: pos}[safe])
			}
		}
	}
}
