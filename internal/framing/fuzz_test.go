package framing

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// reference frames the whole of in at once, as the package documentation describes, written
// without the streaming machinery so that FuzzScanner can hold the Scanner to it. cutShort
// reports that in ends inside an octet-counted frame.
func reference(in []byte, max int) (msgs []result, cutShort bool) {
	cut := func(m []byte) result {
		if len(m) > max {
			return result{string(m[:max]), true}
		}
		return result{Msg: string(m)}
	}
	for len(in) > 0 {
		if bytes.IndexByte([]byte("\n\x00\r"), in[0]) >= 0 {
			in = in[1:]
			continue
		}
		if n, size, ok := referenceOctetCount(in); ok {
			body := in[size:]
			if len(body) < n {
				switch {
				case n > max && len(body) >= max:
					msgs = append(msgs, result{string(body[:max]), true})
				case len(body) > 0:
					msgs = append(msgs, result{Msg: string(body)})
				}
				return msgs, true
			}
			msgs = append(msgs, cut(body[:n]))
			in = body[n:]
			continue
		}
		i := bytes.IndexAny(in, "\n\x00\r")
		if i < 0 {
			return append(msgs, cut(in)), false
		}
		msgs = append(msgs, cut(in[:i]))
		in = in[i+1:]
	}
	return msgs, false
}

// referenceOctetCount reports whether in starts with "MSG-LEN SP", MSG-LEN a decimal without
// a leading zero of at most 1 GiB.
func referenceOctetCount(in []byte) (n, size int, ok bool) {
	sp := bytes.IndexByte(in, ' ')
	if sp < 1 || in[0] == '0' || bytes.ContainsFunc(in[:sp], func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, 0, false
	}
	n, err := strconv.Atoi(string(in[:sp]))
	if err != nil || n > 1<<30 {
		return 0, 0, false
	}
	return n, sp + 1, true
}

// sizedReader returns at most sizes[i]+1 bytes from its i-th Read, cycling through sizes.
type sizedReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *sizedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	size := int(r.sizes[r.i%len(r.sizes)]) + 1
	r.i++
	n := copy(p[:min(len(p), size)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func FuzzScanner(f *testing.F) {
	f.Add([]byte("a\nbc\r\n\x00\n3 abc<13>hi\n4 defg"), []byte{0, 3}, uint16(0), false)
	f.Add([]byte("2024-01-01 12:00:00 host app: hi\n123abc\n0123 x\n1073741825 y\n"), []byte{1}, uint16(8), true)
	f.Add([]byte("10 0123456789abcdefgh\nok\n2 no1073741824 xyz"), []byte{2, 0, 5}, uint16(3), true)
	f.Add([]byte("12 "), []byte{0}, uint16(100), false)
	f.Add(octetCounted(rfc5424Messages(5)), []byte{200, 7}, uint16(150), false)
	f.Add(terminated(rfc5424Messages(5), "\r\n"), []byte{255}, uint16(1023), true)
	f.Fuzz(func(t *testing.T, in, sizes []byte, maxBytes uint16, smallBuffer bool) {
		max := int(maxBytes)%1024 + 1
		bufBytes := max + readBufferBytes
		if smallBuffer {
			bufBytes = 0 // the least newScanner allows
		}
		if len(sizes) == 0 {
			sizes = []byte{255}
		}
		want, wantCut := reference(in, max)
		readers := map[string]io.Reader{
			"whole":   bytes.NewReader(in),
			"onebyte": iotest.OneByteReader(bytes.NewReader(in)),
			"sized":   &sizedReader{data: in, sizes: sizes},
		}
		for name, r := range readers {
			s := newScanner(r, max, bufBytes)
			var got []result
			total := 0
			for s.Scan() {
				m := s.Message()
				if len(m) == 0 || len(m) > max {
					t.Fatalf("%s: message of %d bytes, want 1 to %d", name, len(m), max)
				}
				if s.Truncated() && len(m) != max {
					t.Fatalf("%s: truncated message of %d bytes, want %d", name, len(m), max)
				}
				total += len(m)
				got = append(got, result{string(m), s.Truncated()})
			}
			if total > len(in) {
				t.Fatalf("%s: %d message bytes out of %d input bytes", name, total, len(in))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s: Scan(%q) with max %d (-reference +got):\n%s", name, in, max, diff)
			}
			if err := s.Err(); errors.Is(err, io.ErrUnexpectedEOF) != wantCut || (err != nil) != wantCut {
				t.Fatalf("%s: Err() = %v, want cut short %t", name, err, wantCut)
			}
		}
	})
}
