package gelf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/ratelog"
	"github.com/kinesyslog/kinesyslog/internal/record"
)

// Protocol constants of GELF via UDP (Graylog documentation, "Chunking").
const (
	// MaxChunks is the most chunks a message may have: "A message MUST NOT consist of more than
	// 128 chunks."
	MaxChunks = 128
	// DefaultExpiry is how long the chunks of a message have to arrive: "All chunks MUST arrive
	// within 5 seconds or the server will discard all chunks that have arrived".
	DefaultExpiry = 5 * time.Second
	// chunkHeaderBytes is the magic (2 bytes), the message id (8), the sequence number (1) and the
	// sequence count (1).
	chunkHeaderBytes = 12
	// chunkMagic0 and chunkMagic1 start every chunk.
	chunkMagic0, chunkMagic1 = 0x1e, 0x0f
)

// Defaults of Options.
const (
	// DefaultMaxMessageBytes is the longest message a record keeps whole whatever its bytes; the
	// relay passes its --max-message-size, which stays within it.
	DefaultMaxMessageBytes = record.MaxWholeMessageBytes
	// DefaultMaxPendingBytes holds 8 sets of 128 full-size (64 KiB) chunks, or some 10,000 sets
	// of a typical two 1,420-byte chunks in flight.
	DefaultMaxPendingBytes = 64 << 20
)

// setOverheadBytes is what a chunk set costs besides its pages: the set itself (mostly its parts
// table), its map entry and its pool slot, rounded up. Counting it keeps a flood of tiny chunks
// with distinct ids inside MaxPendingBytes too.
const setOverheadBytes = 2048

// pageBytes is the unit of memory in which sets hold their chunks, end to end: a set wastes less
// than a page, never copies what it holds as it grows, and the pages a set gives up are taken by
// the next chunks instead of becoming garbage. Beyond its pages, a set's list of them costs 8
// bytes a page (0.2%), not counted.
const pageBytes = 4096

// page is a piece of the chunk data of a set.
type page [pageBytes]byte

// maxPooledSetPages is the longest list of pages a set keeps for reuse; longer ones (rare, huge
// messages) go back to the garbage collector instead of pinning memory in the pool.
const maxPooledSetPages = 64

// Errors of Add, for datagrams the caller should count and drop (ErrTooLarge may come with a
// truncated message). They are wrapped with details; test with errors.Is.
var (
	// ErrBadChunk reports a chunk that is malformed: shorter than its header, a sequence count
	// of 0, a sequence number not below the count, or a count that differs from the count of
	// the earlier chunks of its message.
	ErrBadChunk = errors.New("gelf: malformed chunk")
	// ErrTooManyChunks reports a chunk whose sequence count exceeds MaxChunks.
	ErrTooManyChunks = errors.New("gelf: more than 128 chunks")
	// ErrTooLarge reports a message longer than MaxMessageBytes once decompressed, or a chunk
	// set that does not fit in MaxPendingBytes.
	ErrTooLarge = errors.New("gelf: message too large")
	// ErrDecompress reports a gzip or zlib payload that is corrupt or truncated.
	ErrDecompress = errors.New("gelf: cannot decompress payload")
	// ErrEmpty reports an empty datagram, chunk set or decompressed payload, or one of nothing
	// but NUL, CR and LF bytes, which the listener would trim to nothing.
	ErrEmpty = errors.New("gelf: empty message")
)

// Options configures an Assembler. The zero value of each field selects its default.
type Options struct {
	// MaxMessageBytes bounds a message once decompressed; default DefaultMaxMessageBytes.
	MaxMessageBytes int
	// MaxPendingBytes bounds the memory of incomplete chunk sets, of complete ones being
	// decompressed, and of the pages the Assembler keeps for their next chunks; default
	// DefaultMaxPendingBytes. Taking a chunk beyond it drops the oldest sets.
	MaxPendingBytes int
	// Expiry is how long after its first chunk an incomplete set is dropped; default
	// DefaultExpiry, the specification's 5 seconds.
	Expiry time.Duration
	// Logger receives rate-limited warnings about dropped chunk sets; nil logs nothing.
	Logger *slog.Logger
	// Registerer receives the Assembler's metrics; nil registers none. Metric names are fixed:
	// give each Assembler of one registry its own labels (prometheus.WrapRegistererWith).
	Registerer prometheus.Registerer
}

// Assembler turns UDP datagrams into complete GELF messages: it reassembles chunks and
// decompresses payloads, within the bounds of its Options. Its methods are safe for concurrent
// use, so the readers of several sockets may share one. It starts no goroutine: incomplete sets
// expire when Add or Sweep sees them past their deadline, and the memory of dropped sets that no
// chunk has taken between two Sweeps is let go.
type Assembler struct {
	maxMessageBytes int
	maxPendingBytes int
	expiry          time.Duration
	log             *ratelog.Logger
	metrics         *metrics
	decoders        sync.Pool // *decoder

	mu      sync.Mutex // guards the fields below
	pending map[setKey]*set
	// oldest and newest are the ends of a list of the pending sets in the order they were
	// started, so that the sets to expire or evict first are at its front.
	oldest, newest *set
	// sets and pages are what MaxPendingBytes bounds: every set and page made, in use (pending,
	// or complete and being decompressed) or free for the next chunks. Their own free lists,
	// rather than a sync.Pool that the garbage collector empties, keep the memory of sets
	// dropped at the bound for the sets that replace them, so that a flood at the bound makes
	// no garbage, which the heap would otherwise let grow to twice the bound.
	sets  freeList[set]
	pages freeList[page]
}

// freeList holds the things of one kind that an Assembler made and no set uses now, and counts
// all it made. Its zero value is empty.
type freeList[T any] struct {
	items []*T // the last freed at the end
	made  int
	// low is the fewest items free since the last trim: that many were taken by no chunk all
	// along, and trim lets them go.
	low int
}

// pop takes the last freed item off the list; it returns nil when the list is empty.
func (f *freeList[T]) pop() *T {
	n := len(f.items) - 1
	if n < 0 {
		return nil
	}
	x := f.items[n]
	f.items[n] = nil
	f.items = f.items[:n]
	f.low = min(f.low, n)
	return x
}

func (f *freeList[T]) push(x *T) { f.items = append(f.items, x) }

// drop lets one free item go, to make room for something else; it reports false when none is
// free.
func (f *freeList[T]) drop() bool {
	if f.pop() == nil {
		return false
	}
	f.made--
	return true
}

// trim lets go the items free since the last trim.
func (f *freeList[T]) trim() {
	idle := f.low
	kept := copy(f.items, f.items[idle:]) // the oldest free are at the front
	clear(f.items[kept:])
	f.items = f.items[:kept]
	f.made -= idle
	f.low = kept
}

// setKey identifies a chunk set: the sender and its message id.
type setKey struct {
	source netip.AddrPort
	id     [8]byte
}

// set is the chunks of one message received so far. Chunk payloads lie end to end in its pages
// in the order they arrived, size bytes in all; parts says where each sequence number's piece is.
type set struct {
	key          setKey
	deadline     time.Time
	count        int
	received     int
	have         [MaxChunks / 64]uint64
	parts        [MaxChunks]part
	pages        []*page
	size         int
	older, newer *set
}

// part is where one chunk's payload lies in its set's pages: from byte off of their
// concatenation, n bytes.
type part struct{ off, n uint32 }

// NewAssembler returns an Assembler configured by opts.
func NewAssembler(opts Options) *Assembler {
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if opts.Expiry <= 0 {
		opts.Expiry = DefaultExpiry
	}
	a := &Assembler{
		maxMessageBytes: opts.MaxMessageBytes,
		maxPendingBytes: opts.MaxPendingBytes,
		expiry:          opts.Expiry,
		pending:         make(map[setKey]*set),
	}
	if opts.Logger != nil {
		a.log = ratelog.New(opts.Logger, 0)
	}
	a.decoders.New = func() any { return new(decoder) }
	a.metrics = newMetrics(opts.Registerer, a)
	return a
}

// Add takes one datagram received from source at now. A whole message is decompressed and
// appended to dst, and the extended slice returned. The chunk of a message whose other chunks
// have not all arrived is kept and Add returns nil, nil; the chunk that completes it returns the
// message. Datagrams that cannot be read return an error wrapping one of the package's sentinel
// errors and a nil message, except a message longer than MaxMessageBytes: its first
// MaxMessageBytes bytes are returned together with ErrTooLarge, for the caller to keep or drop.
//
// A complete message is usually a JSON object, but Add does not check: a plain payload is
// returned as it is, and the Stamper decides how to record it.
func (a *Assembler) Add(source netip.AddrPort, datagram []byte, now time.Time, dst []byte) ([]byte, error) {
	if len(datagram) < 2 || datagram[0] != chunkMagic0 || datagram[1] != chunkMagic1 {
		return a.decode(datagram, nil, dst)
	}
	if len(datagram) < chunkHeaderBytes {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrBadChunk, len(datagram), chunkHeaderBytes)
	}
	seq, count := int(datagram[10]), int(datagram[11])
	switch {
	case count > MaxChunks:
		return nil, fmt.Errorf("%w: sequence count %d", ErrTooManyChunks, count)
	case count == 0:
		return nil, fmt.Errorf("%w: sequence count 0", ErrBadChunk)
	case seq >= count:
		return nil, fmt.Errorf("%w: sequence number %d of %d", ErrBadChunk, seq, count)
	}
	payload := datagram[chunkHeaderBytes:]
	if count == 1 {
		return a.decode(payload, nil, dst)
	}
	key := setKey{source: source}
	copy(key.id[:], datagram[2:10])

	complete, drops, err := a.addChunk(key, seq, count, payload, now)
	a.reportDrops(drops)
	if err != nil || complete == nil {
		return nil, err
	}
	msg, err := a.decode(nil, complete, dst)
	a.mu.Lock()
	a.releaseLocked(complete)
	a.mu.Unlock()
	return msg, err
}

// drops counts the sets dropped incomplete by one call.
type drops struct{ expired, evicted int }

// addChunk files one chunk of a message of count chunks under key. It returns the set once its
// last chunk has arrived, removed from the pending sets.
func (a *Assembler) addChunk(key setKey, seq, count int, payload []byte, now time.Time) (*set, drops, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var d drops
	d.expired = a.expireLocked(now)

	s := a.pending[key]
	if s != nil && !now.Before(s.deadline) {
		// The list is ordered by start, not deadline; a set started by a reader whose clock
		// reading lagged can still be here past its deadline.
		a.removeLocked(s)
		a.releaseLocked(s)
		d.expired++
		s = nil
	}
	if s == nil {
		if s = a.newSetLocked(&d); s == nil {
			return nil, d, fmt.Errorf("%w: a chunk set does not fit in %d pending bytes", ErrTooLarge, a.maxPendingBytes)
		}
		s.key, s.count, s.deadline = key, count, now.Add(a.expiry)
		a.pending[key] = s
		a.pushLocked(s)
	} else if s.count != count {
		return nil, d, fmt.Errorf("%w: sequence count %d, earlier chunks said %d", ErrBadChunk, count, s.count)
	}
	word, bit := seq/64, uint64(1)<<(seq%64)
	if s.have[word]&bit != 0 {
		a.metrics.duplicate()
		return nil, d, nil
	}

	for need := s.size + len(payload); len(s.pages)*pageBytes < need; {
		p := a.pageLocked(s, &d)
		if p == nil {
			a.removeLocked(s)
			a.releaseLocked(s)
			d.evicted++
			return nil, d, fmt.Errorf("%w: chunk set of %d bytes does not fit in %d pending bytes",
				ErrTooLarge, need+setOverheadBytes, a.maxPendingBytes)
		}
		s.pages = append(s.pages, p)
	}
	s.parts[seq] = part{off: uint32(s.size), n: uint32(len(payload))}
	for len(payload) > 0 {
		n := copy(s.pages[s.size/pageBytes][s.size%pageBytes:], payload)
		s.size += n
		payload = payload[n:]
	}
	s.have[word] |= bit
	s.received++
	if s.received < s.count {
		return nil, d, nil
	}
	a.removeLocked(s)
	return s, d, nil
}

// heldBytesLocked returns the memory counted against MaxPendingBytes.
func (a *Assembler) heldBytesLocked() int {
	return a.sets.made*setOverheadBytes + a.pages.made*pageBytes
}

// newSetLocked returns an empty set: a free one, else a new one within MaxPendingBytes, made in
// the room of free pages if need be, else in that of the oldest set, which it evicts. It returns
// nil when no room can be made.
func (a *Assembler) newSetLocked(d *drops) *set {
	for {
		if s := a.sets.pop(); s != nil {
			return s
		}
		if a.heldBytesLocked()+setOverheadBytes <= a.maxPendingBytes {
			a.sets.made++
			return new(set)
		}
		if !a.evictOldestLocked(nil, d) && !a.pages.drop() {
			return nil
		}
	}
}

// pageLocked returns a page for more chunks of s: a free one, else a new one within
// MaxPendingBytes, made in the room of free sets if need be, else in that of the oldest set
// other than s, which it evicts. It returns nil when s is the only pending set and no room is
// left.
func (a *Assembler) pageLocked(s *set, d *drops) *page {
	for {
		if p := a.pages.pop(); p != nil {
			return p
		}
		if a.heldBytesLocked()+pageBytes <= a.maxPendingBytes {
			a.pages.made++
			return new(page)
		}
		if !a.evictOldestLocked(s, d) && !a.sets.drop() {
			return nil
		}
	}
}

// evictOldestLocked drops the oldest pending set other than keep, and reports false when there
// is none.
func (a *Assembler) evictOldestLocked(keep *set, d *drops) bool {
	s := a.oldest
	if s == keep && s != nil {
		s = s.newer
	}
	if s == nil {
		return false
	}
	a.removeLocked(s)
	a.releaseLocked(s)
	d.evicted++
	return true
}

// SweepInterval is how often Run sweeps: often enough that a set expires within a second of its
// deadline, rarely enough to cost nothing.
const SweepInterval = time.Second

// Run calls Sweep every SweepInterval until ctx is done, so that incomplete chunk sets expire even
// when no further chunk arrives. It returns nil.
func (a *Assembler) Run(ctx context.Context) error {
	tick := time.NewTicker(SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			a.Sweep(now)
		}
	}
}

// Sweep drops the chunk sets that are still incomplete past their deadline at now, and returns
// how many it dropped. Add does the same as it goes; a listener calls Sweep periodically (every
// second or so) so that sets expire even when no further chunk arrives.
//
// Sweep also lets go the free sets and pages that no chunk has taken since the previous Sweep,
// so that the memory of a past flood of chunks goes back to the garbage collector.
func (a *Assembler) Sweep(now time.Time) int {
	a.mu.Lock()
	n := a.expireLocked(now)
	a.sets.trim()
	a.pages.trim()
	a.mu.Unlock()
	a.reportDrops(drops{expired: n})
	return n
}

// expireLocked drops the sets at the front of the list whose deadline has passed.
func (a *Assembler) expireLocked(now time.Time) int {
	n := 0
	for s := a.oldest; s != nil && !now.Before(s.deadline); s = a.oldest {
		a.removeLocked(s)
		a.releaseLocked(s)
		n++
	}
	return n
}

// pushLocked appends s to the newest end of the list.
func (a *Assembler) pushLocked(s *set) {
	s.older, s.newer = a.newest, nil
	if a.newest != nil {
		a.newest.newer = s
	} else {
		a.oldest = s
	}
	a.newest = s
}

// removeLocked takes s out of the pending sets and the list; it still holds its pages.
func (a *Assembler) removeLocked(s *set) {
	if s.older != nil {
		s.older.newer = s.newer
	} else {
		a.oldest = s.newer
	}
	if s.newer != nil {
		s.newer.older = s.older
	} else {
		a.newest = s.older
	}
	s.older, s.newer = nil, nil
	delete(a.pending, s.key)
}

// releaseLocked puts a set that is out of the pending sets, and its pages, on the free lists.
func (a *Assembler) releaseLocked(s *set) {
	for _, p := range s.pages {
		a.pages.push(p)
	}
	pages := s.pages[:0]
	clear(s.pages)
	if cap(pages) > maxPooledSetPages {
		pages = nil
	}
	*s = set{pages: pages}
	a.sets.push(s)
}

// reportDrops counts and logs the sets one call dropped; it runs outside the lock.
func (a *Assembler) reportDrops(d drops) {
	if d.expired == 0 && d.evicted == 0 {
		return
	}
	a.metrics.dropped(d)
	a.log.Warn("GELF chunked messages dropped incomplete",
		slog.Int("expired", d.expired), slog.Int("evicted_for_memory", d.evicted))
}

// stats returns the number of pending sets and the bytes counted against MaxPendingBytes.
func (a *Assembler) stats() (sets, bytes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending), a.heldBytesLocked()
}
