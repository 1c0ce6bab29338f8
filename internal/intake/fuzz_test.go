package intake

import (
	"bytes"
	"slices"
	"testing"
)

// validSegment returns a segment with entries of two streams and a release marker.
func validSegment() []byte {
	b := appendSegmentHeader(nil, 3)
	for i, e := range append(entriesOf(1, 0, 4), entriesOf(2, 0, 3)...) {
		b = appendEntry(b, &e)
		if i == 4 {
			b = appendRelease(b, []Run{{1, 1, 2}})
		}
	}
	return b
}

// FuzzReplay reads arbitrary bytes as a segment, as Open and Replay do, in memory (TestDamage
// covers the files): no panic, a buffer never larger than the input, every entry handed out one
// that is in the input byte for byte, damage reported in order, padding exactly when the tail is
// zeros, and recovery's counts consistent.
func FuzzReplay(f *testing.F) {
	seg := validSegment()
	f.Add(seg)
	f.Add(seg[:len(seg)-7])
	f.Add(seg[segmentHeaderBytes:])
	f.Add([]byte{})
	f.Add([]byte(segmentMagic))
	f.Add(append(appendSegmentHeader(nil, 0), entryMagic+"\xff\xff\xff\x7f"...))
	// testdata/fuzz/FuzzReplay holds what rounds written with O_DIRECT leave: padding, a torn
	// padded block, a block of zeros between records.
	f.Add(make([]byte, blockBytes))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := &Log{streams: make(map[uint64]*stream)}
		seg := &segment{num: 1}
		lastDamage := int64(-1)
		s, _, _ := newScanner(bytes.NewReader(data), int64(len(data)), nil, func(d damage) {
			if d.off <= lastDamage || d.off >= int64(len(data)) {
				t.Fatalf("damage at %d after damage at %d, in %d bytes", d.off, lastDamage, len(data))
			}
			lastDamage = d.off
			// Padding is zeros to the end, and a torn tail is not.
			if zero := !slices.ContainsFunc(data[d.off:], func(c byte) bool { return c != 0 }); d.padding != (d.tail && zero) {
				t.Fatalf("damage %+v: all zeros to the end %v", d, zero)
			}
		})
		entries, end := 0, int64(0)
		var enc []byte
		for {
			rec, ok := s.next()
			if !ok {
				break
			}
			if rec.off < end || rec.off+rec.size > int64(len(data)) {
				t.Fatalf("record at %d+%d overlaps the previous one (ending at %d) or the end (%d)", rec.off, rec.size, end, len(data))
			}
			end = rec.off + rec.size
			switch rec.kind {
			case kindEntry:
				entries++
				enc = appendEntry(enc[:0], &rec.entry)
				if !bytes.Equal(enc, data[rec.off:end]) {
					t.Fatalf("entry %+v re-encodes to other bytes than those at %d", rec.entry, rec.off)
				}
				l.recoverEntry(seg, &rec.entry)
			case kindRelease:
				enc = enc[:0]
				if err := decodeRelease(rec.body, func(r Run) { l.releaseRun(r) }); err != nil {
					t.Fatalf("release marker at %d handed out but does not decode: %v", rec.off, err)
				}
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if cap(s.buf) > len(data) {
			t.Fatalf("scanner buffer of %d bytes for %d bytes of input", cap(s.buf), len(data))
		}
		spans := int64(0)
		for _, st := range l.streams {
			for _, sp := range st.spans {
				spans += int64(sp.last - sp.first + 1)
			}
		}
		if seg.unreleased < 0 || seg.unreleased > int64(entries) || seg.unreleased != spans {
			t.Fatalf("%d entries, %d unreleased, %d in spans", entries, seg.unreleased, spans)
		}
	})
}
