package gelf

import (
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
	// DefaultMaxPendingBytes holds 8 sets of 128 full-size (64 KiB) chunks, or some 45,000 sets
	// of a typical two 1,420-byte chunks in flight.
	DefaultMaxPendingBytes = 64 << 20
)

// setOverheadBytes is what a chunk set costs besides its data: the set itself (mostly its parts
// table), its map entry and its pool slot, rounded up. Counting it keeps a flood of tiny chunks
// with distinct ids inside MaxPendingBytes too.
const setOverheadBytes = 2048

// maxPooledSetBytes is the largest set buffer kept for reuse; larger ones (rare, huge messages)
// go back to the garbage collector instead of pinning memory in the pool.
const maxPooledSetBytes = 256 << 10

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
	// MaxPendingBytes bounds the memory of incomplete chunk sets; default
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
// expire when Add or Sweep sees them past their deadline.
type Assembler struct {
	maxMessageBytes int
	maxPendingBytes int
	expiry          time.Duration
	log             *ratelog.Logger
	metrics         *metrics
	decoders        sync.Pool // *decoder
	sets            sync.Pool // *set, with their buffers

	mu           sync.Mutex // guards pending, pendingBytes and the list
	pending      map[setKey]*set
	pendingBytes int
	// oldest and newest are the ends of a list of the pending sets in the order they were
	// started, so that the sets to expire or evict first are at its front.
	oldest, newest *set
}

// setKey identifies a chunk set: the sender and its message id.
type setKey struct {
	source netip.AddrPort
	id     [8]byte
}

// set is the chunks of one message received so far. Chunk payloads are appended to data in the
// order they arrive; parts says where each sequence number's piece is.
type set struct {
	key          setKey
	deadline     time.Time
	count        int
	received     int
	have         [MaxChunks / 64]uint64
	parts        [MaxChunks]part
	data         []byte
	older, newer *set
}

// part is where one chunk's payload lies in its set's data.
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
	a.sets.New = func() any { return new(set) }
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
	msg, err := a.decode(complete.data, complete.parts[:complete.count], dst)
	a.release(complete)
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
		a.release(s)
		d.expired++
		s = nil
	}
	if s == nil {
		s = a.sets.Get().(*set)
		s.key, s.count, s.deadline = key, count, now.Add(a.expiry)
		a.pending[key] = s
		a.pendingBytes += setOverheadBytes + cap(s.data)
		a.pushLocked(s)
	} else if s.count != count {
		return nil, d, fmt.Errorf("%w: sequence count %d, earlier chunks said %d", ErrBadChunk, count, s.count)
	}
	word, bit := seq/64, uint64(1)<<(seq%64)
	if s.have[word]&bit != 0 {
		a.metrics.duplicate()
		return nil, d, nil
	}

	need := len(s.data) + len(payload)
	grow := 0
	if need > cap(s.data) {
		grow = max(need, 2*cap(s.data)) - cap(s.data)
	}
	if a.pendingBytes+grow > a.maxPendingBytes {
		d.evicted += a.evictLocked(s, grow)
		if a.pendingBytes+grow > a.maxPendingBytes {
			a.removeLocked(s)
			a.release(s)
			d.evicted++
			return nil, d, fmt.Errorf("%w: chunk set of %d bytes does not fit in %d pending bytes",
				ErrTooLarge, need+setOverheadBytes, a.maxPendingBytes)
		}
	}
	if grow > 0 {
		data := make([]byte, len(s.data), cap(s.data)+grow)
		copy(data, s.data)
		s.data = data
		a.pendingBytes += grow
	}
	s.parts[seq] = part{off: uint32(len(s.data)), n: uint32(len(payload))}
	s.data = append(s.data, payload...)
	s.have[word] |= bit
	s.received++
	if s.received < s.count {
		return nil, d, nil
	}
	a.removeLocked(s)
	return s, d, nil
}

// Sweep drops the chunk sets that are still incomplete past their deadline at now, and returns
// how many it dropped. Add does the same as it goes; a listener calls Sweep periodically (every
// second or so) so that sets expire even when no further chunk arrives.
func (a *Assembler) Sweep(now time.Time) int {
	a.mu.Lock()
	n := a.expireLocked(now)
	a.mu.Unlock()
	a.reportDrops(drops{expired: n})
	return n
}

// expireLocked drops the sets at the front of the list whose deadline has passed.
func (a *Assembler) expireLocked(now time.Time) int {
	n := 0
	for s := a.oldest; s != nil && !now.Before(s.deadline); s = a.oldest {
		a.removeLocked(s)
		a.release(s)
		n++
	}
	return n
}

// evictLocked drops the oldest sets other than keep until grow more bytes fit in
// MaxPendingBytes, or keep is the only set left.
func (a *Assembler) evictLocked(keep *set, grow int) int {
	n := 0
	for s := a.oldest; s != nil && a.pendingBytes+grow > a.maxPendingBytes; {
		next := s.newer
		if s != keep {
			a.removeLocked(s)
			a.release(s)
			n++
		}
		s = next
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

// removeLocked takes s out of the pending sets and the list, and out of the pending bytes.
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
	a.pendingBytes -= setOverheadBytes + cap(s.data)
}

// release returns a set that is out of the pending sets to the pool.
func (a *Assembler) release(s *set) {
	data := s.data[:0]
	if cap(data) > maxPooledSetBytes {
		data = nil
	}
	*s = set{data: data}
	a.sets.Put(s)
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

// stats returns the number of pending sets and the bytes they account for.
func (a *Assembler) stats() (sets, bytes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending), a.pendingBytes
}
