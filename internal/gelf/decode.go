package gelf

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
)

// minMessageCap is the least room decode makes in dst for a compressed message, whose length
// is unknown until it is read.
const minMessageCap = 1024

// decoder decompresses one payload at a time. The Assembler pools them so that the
// decompressors' windows and tables are reset and reused rather than allocated per datagram.
type decoder struct {
	in    partsReader
	gz    gzip.Reader
	zl    io.ReadCloser // a zlib reader, made by the first zlib payload: making one reads a header
	probe [1]byte
}

// decode appends a payload to dst, decompressed when it is gzip or zlib, and returns the
// extended slice. With s nil, the payload is all of data; otherwise it is the chunks of s in
// sequence order, read from its pages where they lie: nothing but dst holds the message, which
// grows no longer than MaxMessageBytes however far the payload would inflate.
//
// A message of nothing but NUL, CR and LF bytes is ErrEmpty: the listener trims those from the
// end of every message, so it would vanish there without a count (a bomb of NULs, say).
func (a *Assembler) decode(data []byte, s *set, dst []byte) ([]byte, error) {
	start := len(dst)
	msg, err := a.inflate(data, s, dst)
	if msg != nil && onlyLineEnds(msg[start:]) {
		return nil, fmt.Errorf("%w: %d bytes of nothing but NUL, CR and LF", ErrEmpty, len(msg)-start)
	}
	return msg, err
}

// onlyLineEnds reports whether msg holds nothing but the NUL, CR and LF bytes that end messages.
// It reads from the end, so that a message that ends otherwise costs one test.
func onlyLineEnds(msg []byte) bool {
	for i := len(msg) - 1; i >= 0; i-- {
		if c := msg[i]; c != 0 && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// inflate is decode without the check of what the message holds.
func (a *Assembler) inflate(data []byte, s *set, dst []byte) ([]byte, error) {
	d := a.decoders.Get().(*decoder)
	defer a.decoders.Put(d)
	d.in.reset(data, s)
	defer d.in.reset(nil, nil) // hold no reference to the datagram or set in the pool

	total := d.in.remaining()
	if total == 0 {
		return nil, ErrEmpty
	}
	var r io.Reader
	hint := 4 * total // the usual ratio of JSON logs at gzip's fastest levels
	b0, b1 := d.in.peek2()
	switch {
	case b0 == 0x1f && b1 == 0x8b:
		if err := d.gz.Reset(&d.in); err != nil {
			return nil, fmt.Errorf("%w: gzip header: %w", ErrDecompress, err)
		}
		// One member per payload, as every GELF client sends: bytes after it are ignored.
		d.gz.Multistream(false)
		r = &d.gz
	case isZlibHeader(b0, b1):
		if err := d.resetZlib(); err != nil {
			return nil, fmt.Errorf("%w: zlib header: %w", ErrDecompress, err)
		}
		r = d.zl
	default:
		r, hint = &d.in, total
	}

	start := len(dst)
	dst = slices.Grow(dst, min(max(hint, minMessageCap), a.maxMessageBytes))
	for {
		limit := start + a.maxMessageBytes
		if len(dst) == limit {
			return d.overflow(r, dst, a.maxMessageBytes)
		}
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, min(len(dst)-start, limit-len(dst)))
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), limit)])
		dst = dst[:len(dst)+n]
		if errors.Is(err, io.EOF) {
			if len(dst) == start {
				return nil, ErrEmpty
			}
			return dst, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDecompress, err)
		}
	}
}

// overflow is decode's end when limit (MaxMessageBytes) bytes have been read: it reads one byte more to tell
// a message of exactly the limit from a longer one, which it returns cut with ErrTooLarge.
func (d *decoder) overflow(r io.Reader, msg []byte, limit int) ([]byte, error) {
	for {
		n, err := r.Read(d.probe[:])
		switch {
		case n > 0:
			return msg, fmt.Errorf("%w: cut at %d bytes", ErrTooLarge, limit)
		case errors.Is(err, io.EOF):
			return msg, nil
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrDecompress, err)
		}
	}
}

// resetZlib points the zlib reader at d.in, making it on first use.
func (d *decoder) resetZlib() error {
	if d.zl != nil {
		return d.zl.(zlib.Resetter).Reset(&d.in, nil)
	}
	zl, err := zlib.NewReader(&d.in)
	if err != nil {
		return err
	}
	d.zl = zl
	return nil
}

// isZlibHeader reports whether b0, b1 start a zlib stream (RFC 1950 section 2.2) with the
// deflate method and a 32 KiB window, the only window GELF clients use: CMF 0x78 and a header
// check that makes CMF*256+FLG a multiple of 31. Plain JSON never starts with 'x'.
func isZlibHeader(b0, b1 byte) bool {
	return b0 == 0x78 && (uint16(b0)<<8|uint16(b1))%31 == 0
}

// partsReader reads a payload held in pieces, in order, without copying them together: all of one
// datagram, or the chunks of a set, each lying across one or more of its pages. It implements
// io.ByteReader so that the decompressors read it directly rather than through a bufio.Reader of
// their own.
type partsReader struct {
	data  []byte  // the payload of a datagram; nil for a set
	pages []*page // the pages of a set
	parts []part  // the pieces not yet begun
	one   [1]part // parts of a payload that is all of data
	at    part    // the unread rest of the current piece past cur
	cur   []byte  // the unread rest of the current piece within one page
}

// reset points r at the chunks of s, or at data when s is nil.
func (r *partsReader) reset(data []byte, s *set) {
	r.data, r.pages, r.parts, r.at, r.cur = data, nil, nil, part{}, nil
	switch {
	case s != nil:
		r.pages, r.parts = s.pages, s.parts[:s.count]
	case data != nil:
		r.one[0] = part{n: uint32(len(data))}
		r.parts = r.one[:]
	}
}

// span returns the bytes p starts with that lie together: all of p in a datagram, up to the end
// of its first page in a set.
func (r *partsReader) span(p part) []byte {
	if r.pages == nil {
		return r.data[p.off : p.off+p.n]
	}
	off := int(p.off % pageBytes)
	return r.pages[p.off/pageBytes][off : off+min(int(p.n), pageBytes-off)]
}

// next makes cur the next non-empty span; it reports false at the end of the payload.
func (r *partsReader) next() bool {
	for len(r.cur) == 0 {
		if r.at.n == 0 {
			if len(r.parts) == 0 {
				return false
			}
			r.at, r.parts = r.parts[0], r.parts[1:]
			continue
		}
		r.cur = r.span(r.at)
		r.at.off += uint32(len(r.cur))
		r.at.n -= uint32(len(r.cur))
	}
	return true
}

func (r *partsReader) Read(b []byte) (int, error) {
	if !r.next() {
		return 0, io.EOF
	}
	n := copy(b, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *partsReader) ReadByte() (byte, error) {
	if !r.next() {
		return 0, io.EOF
	}
	c := r.cur[0]
	r.cur = r.cur[1:]
	return c, nil
}

// remaining returns the number of unread bytes.
func (r *partsReader) remaining() int {
	n := len(r.cur) + int(r.at.n)
	for _, p := range r.parts {
		n += int(p.n)
	}
	return n
}

// peek2 returns the first two unread bytes, zero where the payload is shorter, without
// consuming them. A chunk may hold a single byte, so they can lie in different pieces.
func (r *partsReader) peek2() (b0, b1 byte) {
	var got [2]byte
	n := copy(got[:], r.cur)
	at, parts := r.at, r.parts
	for n < len(got) {
		if at.n == 0 {
			if len(parts) == 0 {
				break
			}
			at, parts = parts[0], parts[1:]
			continue
		}
		c := copy(got[n:], r.span(at))
		n += c
		at.off += uint32(c)
		at.n -= uint32(c)
	}
	return got[0], got[1]
}
