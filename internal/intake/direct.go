package intake

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"unsafe"
)

// blockBytes is the alignment of O_DIRECT writes (of the memory, the file offset and the
// length): a multiple of the logical block size of every common disk (512 B or 4 KiB). A file
// system that wants more refuses the write with EINVAL, and the log falls back to the page cache.
const blockBytes = 4 << 10

// roundBufBytes is the size of each round buffer: the partial last block of a segment,
// maxPendingBytes, and room for the batch and release markers that may go past it, so that
// Append rarely has to move the buffer (and the round then to copy it).
const roundBufBytes = blockBytes + maxPendingBytes + 1<<20

// errNoDirect marks a failure that says the file system does not take O_DIRECT: the log goes on
// through the page cache.
var errNoDirect = errors.New("intake: O_DIRECT refused")

// roundBuf is one of the log's two round buffers: block-aligned memory holding, in front of the
// round's new bytes, the partial last block of the segment they continue, so that a round that
// stays in one segment is written, padded with zeros to whole blocks, from where Append put it.
type roundBuf struct {
	mem  []byte   // block-aligned, whole blocks
	tail int      // bytes of mem before the round's new bytes: the partial last block of seg
	seg  *segment // the segment mem[:tail] ends; nil before the first round
}

func newRoundBuf() *roundBuf { return &roundBuf{mem: alignedBytes(roundBufBytes)} }

// alignedBytes returns n bytes, rounded up to whole blocks, starting at a block boundary.
func alignedBytes(n int) []byte {
	n = roundUp(n)
	b := make([]byte, n+blockBytes)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (blockBytes - 1))
	return b[off : off+n : off+n]
}

// roundUp rounds n up to whole blocks.
func roundUp(n int) int { return (n + blockBytes - 1) &^ (blockBytes - 1) }

// newBytes returns the empty slice Append appends the round's new bytes to, right after the tail.
func (rb *roundBuf) newBytes() []byte { return rb.mem[rb.tail:rb.tail] }

// startAfter makes rb the buffer of the round after the one prev holds (its new bytes buf, split
// by cuts): it copies in front the partial last block that the segment appends go to will have
// once that round is written, less than blockBytes. The caller holds mu and the writer's slot.
func (rb *roundBuf) startAfter(prev *roundBuf, buf []byte, cuts []cut) {
	c := cuts[len(cuts)-1]
	from := 0
	if len(cuts) > 1 {
		from = cuts[len(cuts)-2].end
	}
	chunk := buf[from:c.end]
	var head []byte // the segment's bytes before chunk in its last block
	switch r := int(c.seg.onDisk % blockBytes); {
	case c.seg == prev.seg && r == prev.tail:
		head = prev.mem[:prev.tail]
	case r != 0:
		// Not reached: a segment written before is always the one prev ends. The round's
		// write reports it rather than write a block it does not know.
		rb.seg, rb.tail = nil, 0
		return
	}
	n := int((c.seg.onDisk + int64(len(chunk))) % blockBytes)
	k := min(n, len(chunk))
	copy(rb.mem[n-k:n], chunk[len(chunk)-k:])
	copy(rb.mem[:n-k], head[len(head)-(n-k):])
	rb.seg, rb.tail = c.seg, n
}

// writeChunk writes chunk, the bytes of seg from its offset off on, to l.file. With O_DIRECT it
// writes whole blocks from the block holding off, padded with zeros: from rb where Append put
// chunk when chunk is the round's last stretch and follows rb's tail, else from a copy in
// l.copyBuf. The caller holds the writer's slot.
func (l *Log) writeChunk(rb *roundBuf, seg *segment, chunk []byte, off int64, last bool) error {
	if !l.direct {
		if _, err := l.fileWrite(l.file, chunk, off); err != nil {
			return fmt.Errorf("intake: write %s: %w", l.file.Name(), err)
		}
		return nil
	}
	r := int(off % blockBytes)
	known := r == 0 || (rb.seg == seg && rb.tail == r)
	if !known {
		return fmt.Errorf("intake: write %s at %d: the partial block before it is not known", l.file.Name(), off)
	}
	var b []byte
	if last && rb.tail == r && &chunk[0] == &rb.mem[r] {
		b = rb.mem[:roundUp(r+len(chunk))]
	} else {
		if len(l.copyBuf) < r+len(chunk) {
			l.copyBuf = alignedBytes(r + len(chunk))
		}
		b = l.copyBuf[:roundUp(r+len(chunk))]
		copy(b, rb.mem[:r])
		copy(b[r:], chunk)
	}
	clear(b[r+len(chunk):])
	if _, err := l.fileWrite(l.file, b, off-int64(r)); err != nil {
		if errors.Is(err, syscall.EINVAL) {
			err = fmt.Errorf("%w: %w", errNoDirect, err)
		}
		return fmt.Errorf("intake: write %s: %w", l.file.Name(), err)
	}
	l.fileEnd = max(l.fileEnd, off-int64(r)+int64(len(b)))
	return nil
}

// zeroAheadBytes is how far past a small round that grew the segment file the log writes zeros
// into it (zeroAhead), so that the rounds after it overwrite blocks the file already has instead
// of growing it. An fdatasync after a write that grows the file has the file system commit its
// journal (the new size, the new blocks), one after a write within the file only flushes the
// data: 50 against 184 us of CPU, 0.12 against 0.34 ms, for a round of 56 KiB on the bench's
// disk, as under the RELP load, whose sessions wait for each round (BENCHMARKS.md, session 8).
// Larger rounds (a quarter of this or more: the TCP load's are 2.5 MB) grow the file themselves,
// as the zeros would cost them as many bytes again.
const zeroAheadBytes = 1 << 20

// zeroAhead writes zeroAheadBytes of zeros at the end of the segment file, after a round of n
// bytes that grew it, when n is small and the disk has room to spare above the reserve; the
// round's sync covers them. The zeros come after the round's entries, so that a crash leaves a
// file whose entries end in zeros, which readers take as the end of the segment (doc.go), and
// never a new file of zeros without its header. closeFile cuts them off. The zeros only save
// later rounds work: a write of them that fails (a full disk) is not the round's failure, and
// the next round that grows the file tries again. Only with O_DIRECT, whose writes end at a
// block boundary. The caller holds the writer's slot.
func (l *Log) zeroAhead(n int) {
	if !l.direct || n > zeroAheadBytes/4 || !l.zeroRoom {
		return
	}
	if l.zeros == nil {
		l.zeros = alignedBytes(zeroAheadBytes)
	}
	if _, err := l.fileWrite(l.file, l.zeros, l.fileEnd); err == nil {
		l.fileEnd += zeroAheadBytes
	}
}

// openSegmentFile opens the file of seg for writing, creating it, with O_DIRECT while l.direct.
func (l *Log) openSegmentFile(seg *segment) (*os.File, error) {
	name := l.path(seg.num)
	flags := os.O_WRONLY | os.O_CREATE
	if l.direct {
		flags |= directFlag
	}
	f, err := os.OpenFile(name, flags, filePerm)
	if err != nil {
		if l.direct && errors.Is(err, syscall.EINVAL) {
			err = fmt.Errorf("%w: %w", errNoDirect, err)
		}
		return nil, fmt.Errorf("intake: open %s: %w", name, err)
	}
	return f, nil
}

// useBuffered makes the log write through the page cache from now on, after err said the file
// system does not take O_DIRECT; it logs so once. The file being written is dropped, so that the
// round is written again from its start. The caller holds the writer's slot.
func (l *Log) useBuffered(err error) {
	l.direct = false
	if l.file != nil {
		l.file.Close() // reopened, and cut back to what was synced, by the next write
		l.file, l.fileSeg = nil, nil
	}
	l.logger.Info("intake log: the file system does not take O_DIRECT writes; writing through the page cache",
		slog.String(logKeyDir, l.dir), slog.Any(logKeyError, err))
}
