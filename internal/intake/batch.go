package intake

import "fmt"

// A Batch is entries encoded for Append. A listener adds each message to its Batch as it reads
// it, so that the encoding (the varints, the checksum, the copy of the message) is done on the
// listener's goroutine, outside the log's lock, which Append holds only to copy the Batch's bytes
// into the log: readers that append at once no longer wait for each other's encoding.
//
// The zero value is an empty Batch; Reset empties it for reuse, keeping its memory. A Batch is
// not safe for concurrent use.
type Batch struct {
	buf     []byte       // the entries' records, back to back
	entries []batchEntry // what Append needs of each, in order
	err     error        // of the first Add that failed: Append returns it
}

// batchEntry is what Append keeps of an entry beside its bytes: where its record ends in
// Batch.buf, and its place in the log's streams.
type batchEntry struct {
	end         int
	stream, seq uint64
	received    int64 // Unix nanoseconds
}

// Add encodes e at the end of b, copying its message. An entry whose message does not fit
// MaxEntryBytes is not added, and Append then fails with ErrTooLarge, appending nothing of b.
func (b *Batch) Add(e *Entry) {
	if n := len(e.Message); n > MaxEntryBytes-entryOverheadBytes {
		if b.err == nil {
			b.err = fmt.Errorf("intake: append: message of %d bytes: %w (at most %d)",
				n, ErrTooLarge, MaxEntryBytes-entryOverheadBytes)
		}
		return
	}
	b.buf = appendEntry(b.buf, e)
	b.entries = append(b.entries, batchEntry{end: len(b.buf), stream: e.Stream, seq: e.Seq,
		received: e.Received.UnixNano()})
}

// Len returns the number of entries in b.
func (b *Batch) Len() int { return len(b.entries) }

// Bytes returns the bytes of b's entries as the log holds them.
func (b *Batch) Bytes() int { return len(b.buf) }

// Cap returns the bytes b holds for reuse, so that a caller can drop a Batch grown unusually
// large instead of keeping it.
func (b *Batch) Cap() int { return cap(b.buf) }

// Reset empties b, keeping its memory for the next entries.
func (b *Batch) Reset() {
	b.buf, b.entries, b.err = b.buf[:0], b.entries[:0], nil
}
