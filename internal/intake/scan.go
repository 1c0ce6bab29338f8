package intake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// scanChunkBytes is how much the scanner reads at a time.
const scanChunkBytes = 256 << 10

// record is one intact entry or release marker found by a scanner.
type record struct {
	kind  byte
	off   int64 // offset of its header in the segment
	size  int64 // bytes of header and body
	entry Entry // for kindEntry; Message aliases the scanner's buffer until the next call
	body  []byte
}

// damage is a stretch of a segment that held no intact record.
type damage struct {
	off  int64
	tail bool // the stretch runs to the end of the segment: a torn or corrupt tail
	// padding: the stretch is a tail of zeros only, what a round written with O_DIRECT leaves
	// after the segment's last record; not damage.
	padding bool
}

// scanner reads the records of one segment in order, skipping damage: after a header or
// checksum that does not check out it searches forward for the next entry magic whose record
// does. It holds at most one record (bounded by MaxEntryBytes) and one read chunk in memory,
// whatever the segment's content.
type scanner struct {
	r    io.Reader
	size int64 // bytes of the segment not yet read into buf, from its end on: bounds allocations
	buf  []byte
	pos  int   // start of the unconsumed bytes in buf
	off  int64 // segment offset of buf[pos]
	err  error // a read error (not EOF): the scan stops

	onDamage func(damage)
	bad      int64 // offset where the current damaged stretch began, or -1
	nonzero  bool  // the current damaged stretch holds a byte other than zero
	// badHeader: the segment header is damaged, and is not counted again as damage before the
	// first record.
	badHeader bool
}

// newScanner returns a scanner of the size bytes of r, which start with the segment header. It
// reports the header's next stream number, or false when the header is damaged or missing.
func newScanner(r io.Reader, size int64, buf []byte, onDamage func(damage)) (*scanner, uint64, bool) {
	s := &scanner{r: r, size: size, buf: buf[:0], bad: -1, onDamage: onDamage}
	if size == 0 {
		return s, 0, false
	}
	if !s.fill(segmentHeaderBytes) {
		// A truncated header is a torn tail, and all there is.
		s.fill(s.avail() + int(s.size)) // less than a header: read it, to tell zeros from a torn header
		s.damaged(s.off)
		s.skip(s.avail())
		s.finish()
		s.size = 0
		return s, 0, false
	}
	next, ok := parseSegmentHeader(s.buf[s.pos:])
	if !ok {
		// The entries may still be intact: resynchronise from the start.
		s.badHeader = true
		return s, 0, false
	}
	s.consume(segmentHeaderBytes)
	return s, next, true
}

// avail returns how many unconsumed bytes buf holds.
func (s *scanner) avail() int { return len(s.buf) - s.pos }

// fill makes buf hold at least n unconsumed bytes, reading more, and reports false when the
// segment ends (or a read fails) first. It never allocates more than what is left to read.
func (s *scanner) fill(n int) bool {
	if s.avail() >= n {
		return true
	}
	if s.err != nil || int64(n-s.avail()) > s.size {
		return false
	}
	if cap(s.buf)-s.pos < n {
		if cap(s.buf) >= n {
			s.buf = s.buf[:copy(s.buf[:cap(s.buf)], s.buf[s.pos:])]
		} else {
			c := max(n, min(max(scanChunkBytes, 2*cap(s.buf)), s.avail()+int(s.size)))
			nb := make([]byte, s.avail(), c)
			copy(nb, s.buf[s.pos:])
			s.buf = nb
		}
		s.pos = 0
	}
	for s.avail() < n {
		want := min(int64(cap(s.buf)-len(s.buf)), s.size)
		m, err := io.ReadFull(s.r, s.buf[len(s.buf):len(s.buf)+int(want)])
		s.buf = s.buf[:len(s.buf)+m]
		s.size -= int64(m)
		if err != nil {
			s.size = 0
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				s.err = err
			}
			return s.avail() >= n
		}
	}
	return true
}

func (s *scanner) consume(n int) {
	s.pos += n
	s.off += int64(n)
}

// skip consumes n bytes of the open damaged stretch, noting whether they are all zeros.
func (s *scanner) skip(n int) {
	if !s.nonzero {
		for _, c := range s.buf[s.pos : s.pos+n] {
			if c != 0 {
				s.nonzero = true
				break
			}
		}
	}
	s.consume(n)
}

// damaged marks the start of a damaged stretch at off, unless one is open already.
func (s *scanner) damaged(off int64) {
	if s.bad < 0 {
		s.bad, s.nonzero = off, false
	}
}

// finish reports an open damaged stretch as a tail, or as padding when it is all zeros, once the
// segment is exhausted.
func (s *scanner) finish() {
	if s.bad >= 0 && s.err == nil {
		s.onDamage(damage{off: s.bad, tail: true, padding: !s.nonzero})
	}
	s.bad = -1
}

// next returns the next intact record, or false at the end of the segment (or on a read error,
// which Err returns).
func (s *scanner) next() (record, bool) {
	for {
		if !s.fill(entryHeaderBytes) {
			if s.avail() > 0 {
				s.damaged(s.off)
				s.skip(s.avail())
			}
			s.finish()
			return record{}, false
		}
		if rec, ok := s.tryRecord(); ok {
			if s.bad > 0 || (s.bad == 0 && !s.badHeader) {
				s.onDamage(damage{off: s.bad})
			}
			s.bad = -1
			s.consume(int(rec.size))
			return rec, true
		}
		if s.err != nil {
			return record{}, false
		}
		s.damaged(s.off)
		s.skip(1)
		s.seekMagic()
	}
}

// tryRecord decodes the record at the scanner's position, if one is there intact.
func (s *scanner) tryRecord() (record, bool) {
	n, ok := recordLength(s.buf[s.pos:])
	if !ok || !s.fill(entryHeaderBytes+n) {
		return record{}, false
	}
	b := s.buf[s.pos : s.pos+entryHeaderBytes+n]
	if !checksumOK(b) {
		return record{}, false
	}
	rec := record{kind: b[entryHeaderBytes], off: s.off, size: int64(len(b)), body: b[entryHeaderBytes+1:]}
	var err error
	switch rec.kind {
	case kindEntry:
		err = decodeEntry(rec.body, &rec.entry)
	case kindRelease:
		err = decodeRelease(rec.body, func(Run) {})
	default:
		err = errDamaged
	}
	return rec, err == nil
}

// seekMagic advances to the next occurrence of the entry magic, or to the end of the segment.
func (s *scanner) seekMagic() {
	for {
		if i := bytes.Index(s.buf[s.pos:], []byte(entryMagic)); i >= 0 {
			s.skip(i)
			return
		}
		// Keep a possible partial magic at the end of buf.
		if keep := len(entryMagic) - 1; s.avail() > keep {
			s.skip(s.avail() - keep)
		}
		if !s.fill(s.avail() + 1) {
			s.skip(s.avail())
			return
		}
	}
}

// Err returns the read error that stopped the scan, if any.
func (s *scanner) Err() error {
	if s.err != nil {
		return fmt.Errorf("read at offset %d: %w", s.off, s.err)
	}
	return nil
}
