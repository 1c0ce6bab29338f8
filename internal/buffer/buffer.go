package buffer

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/intake"
	"github.com/kinesyslog/kinesyslog/internal/ratelog"
	"github.com/kinesyslog/kinesyslog/internal/record"
)

// Defaults of Options.
const (
	// DefaultFlushAge is the spec's longest wait of an event in memory before it is encoded.
	DefaultFlushAge = 60 * time.Second
	// DefaultFlushBytes is the spec's batch size of 4 MB of input, used until the compression
	// ratio is known.
	DefaultFlushBytes = 4 << 20
	// DefaultMaxBytes caps the events held in memory by all batches together. It is room for
	// eight batches at the largest flush size, or 64 at the spec's 4 MB, so that it binds only
	// when the stages behind stall (a full spool, an unknown record owner) or very many sources
	// send at once; and it keeps a stalled relay well inside the memory of a small host.
	DefaultMaxBytes = 256 << 20
	// DefaultLoggedMaxBytes is the cap the relay gives the buffers when its intake log is on:
	// what they hold is on disk as well, so holding more in memory buys nothing a restart
	// needs, while a quarter of DefaultMaxBytes lets the relay keep its memory, and the soft
	// limit the GC works to, low (cmd/kinesyslog). It is room for ten batches at the flush size
	// of logs that compress six to one, or two at the largest; the pipeline holds about six at
	// once (one being filled and one waiting per busy key, two queued, one per encoder), so it
	// binds, as DefaultMaxBytes does, only when the stages behind stall.
	DefaultLoggedMaxBytes = 64 << 20
	// DefaultQueue is how many batches may wait for the encoder stage.
	DefaultQueue = 2
	// maxFlushBytes caps the adaptive flush size: batches of highly compressible input stay
	// bounded in memory, at the cost of records below the target.
	maxFlushBytes = 32 << 20
	// minFlushBytes keeps batches from shrinking to nothing on incompressible input.
	minFlushBytes = record.TargetBytes
	// overshoot makes a batch slightly larger than a record is expected to hold: the excess is
	// requeued, so records are sent full instead of at the ratio estimate's mercy.
	overshoot = 1.02
	// freeBatches is how many released batches are kept for reuse: enough for those the encoders,
	// the queue and the busiest keys cycle through, so that their memory stays warm instead of
	// being regrown by append into fresh pages after every GC, as a sync.Pool would have it.
	freeBatches = 8
	// maxReusedBatchBytes is the largest capacity a released batch may have to be kept: larger
	// ones (datagrams that waited for the encoders, merged requeues) go back to the GC, so that
	// the free list stays small.
	maxReusedBatchBytes = 2 * maxFlushBytes
)

// ErrClosed is returned by Commit after Close.
var ErrClosed = errors.New("buffer: closed")

var (
	// errWouldBlock is what a commit that must not wait meets where Commit would block.
	errWouldBlock = errors.New("buffer: full")
	// errGaveUp is what a reservation meets when its caller stopped waiting for memory.
	errGaveUp = errors.New("buffer: no memory in time")
)

// Key identifies the events that share records: who sent them, and to which listener port.
type Key struct {
	Source netip.Addr
	Port   uint16
}

// Batch is the events of one Key handed to the encoder.
type Batch struct {
	Key Key
	record.Events
	// Oldest is when the first event of the batch was received.
	Oldest time.Time
	// Full reports that the batch was handed on at the flush size. The encoder may requeue what
	// does not fill a whole record; a batch handed on smaller (for its age, at Close, or early to
	// free memory) must be encoded whole.
	Full bool
	// Chunks are the intake log's runs of the events, one per commit, in order; empty without
	// the log.
	Chunks []Chunk
}

// Chunk is the intake log's run of the events of one commit in a batch: those from the End of
// the chunk before (0 for the first) up to End, an event index.
type Chunk struct {
	intake.Run
	End int
}

// InLog reports whether the batch has events and the intake log has every one of them: its
// chunks cover them all.
func (b *Batch) InLog() bool {
	return len(b.Chunks) > 0 && b.Chunks[len(b.Chunks)-1].End == b.Len()
}

// Runs appends to dst the intake log's runs of the batch's events from index from up to to and
// returns it.
func (b *Batch) Runs(dst []intake.Run, from, to int) []intake.Run {
	start := 0
	for _, c := range b.Chunks {
		if c.End > from && start < to {
			r := c.Run
			r.First += uint64(max(from-start, 0))
			r.Last -= uint64(max(c.End-to, 0))
			dst = append(dst, r)
		}
		start = c.End
	}
	return dst
}

// appendChunks appends to dst the chunks of src for the events from index from on, their ends
// moved so that event from is at index base, and returns it.
func appendChunks(dst, src []Chunk, from, base int) []Chunk {
	start := 0
	for _, c := range src {
		if c.End > from {
			c.First += uint64(max(from-start, 0))
			start = c.End
			c.End += base - from
			dst = append(dst, c)
			continue
		}
		start = c.End
	}
	return dst
}

func (b *Batch) reset() {
	b.Data = b.Data[:0]
	b.Ends = b.Ends[:0]
	b.Chunks = b.Chunks[:0]
	b.Oldest = time.Time{}
	b.Full = false
}

// Options configures Buffers. The zero value of each field selects its default.
type Options struct {
	FlushAge   time.Duration // default DefaultFlushAge
	FlushBytes int           // initial flush size, default DefaultFlushBytes
	// Queue is how many batches may wait for the encoder before Commit blocks; default
	// DefaultQueue. TryCommit never blocks: its batch then waits with its key, within MaxBytes.
	Queue int
	// MaxBytes caps the bytes of events held, in batches being filled and in batches handed on
	// until they are released; default DefaultMaxBytes. A cap below the flush size makes every
	// batch smaller than a record.
	MaxBytes int64
	// Logger receives the logs of the cap being reached and of dropped messages; nil discards
	// them.
	Logger *slog.Logger
	// Registerer registers the metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// Ordered keeps each key's events in order through the record stage, for a destination that
	// keeps a source's records in order (upload.Ordered): a key has at most one batch handed on
	// at a time. Until Done reports on it, the key's newer events keep filling the batch being
	// filled (within MaxBytes), and Done puts the tail of the batch in front of them and hands
	// the merged batch on when it is due. A source's records are then made one after the other,
	// by one encoder at a time; other keys still go in parallel.
	Ordered bool
}

// Buffers holds the batches of every Key. Its methods are safe for concurrent use.
type Buffers struct {
	flushAge   time.Duration
	flushBytes atomic.Int64
	ratio      atomic.Uint64 // float64 bits: input bytes per record byte, 0 until observed
	// flushedTo is the latest time FlushReceived was given, Unix nanoseconds (0: never): batches
	// whose oldest event is no later are due.
	flushedTo atomic.Int64
	out       chan *Batch
	reuse     chan *Batch // released batches kept for reuse
	log       *slog.Logger
	drops     *ratelog.Logger
	metrics   *metrics
	ordered   bool
	// returned receives a token when Done reports on a batch of an Ordered key after Close,
	// for Close to hand the key's newer events on after it.
	returned chan struct{}

	mu     sync.Mutex // guards keys and closed
	keys   map[Key]*pending
	closed bool
	// busy counts the operations that may still send on out; Close waits for them before it
	// closes the channel. They begin under mu while closed is false.
	busy sync.WaitGroup

	mem memory
	// stagingSlots holds a value for each Staging borrowed with wait (maxStaging at most), and
	// stagings the staging buffers kept for reuse.
	stagingSlots chan struct{}
	stagings     chan *Staging
}

// pending is the batch being filled for one key.
type pending struct {
	mu       sync.Mutex
	batch    *Batch
	lastUsed time.Time
	removed  bool // deleted from Buffers.keys: look the key up again
	// handing is set while a Commit waits for the encoder stage to take a full batch of this
	// key; other Commits of the key wait on handed meanwhile instead of filling, each, another
	// batch to wait with: the senders of one source hold up to two batches, not one each.
	handing bool
	handed  *sync.Cond // on mu
	// out is set, with Options.Ordered, while a batch of the key is handed on and Done has not
	// reported on it: the batch being filled is not handed on meanwhile.
	out bool
}

// New returns Buffers configured by opts.
func New(opts Options) *Buffers {
	if opts.FlushAge <= 0 {
		opts.FlushAge = DefaultFlushAge
	}
	if opts.FlushBytes <= 0 {
		opts.FlushBytes = DefaultFlushBytes
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Buffers{
		flushAge: opts.FlushAge,
		out:      make(chan *Batch, opts.Queue),
		reuse:    make(chan *Batch, freeBatches),
		keys:     make(map[Key]*pending),
		log:      opts.Logger,
		drops:    ratelog.New(opts.Logger, 0),
		ordered:  opts.Ordered,
		returned: make(chan struct{}, 1),

		stagingSlots: make(chan struct{}, maxStaging),
		stagings:     make(chan *Staging, maxStaging),
	}
	b.mem.init(opts.MaxBytes)
	b.flushBytes.Store(int64(opts.FlushBytes))
	b.metrics = newMetrics(opts.Registerer, b)
	return b
}

// Batches returns the channel of batches ready for encoding. It is closed by Close once every
// batch has been handed on.
func (b *Buffers) Batches() <-chan *Batch { return b.out }

// Done is the record stage's one call back, made once for each batch received from Batches when
// it has encoded the events before next (next is the index Encode returned) into records, st
// describing them. Done observes the compression ratio of a full batch (so that the flush size
// follows it and a batch fills one record), puts the events from next on back in front of the
// key's newer events, to be sent with them instead of as a small record of their own, and
// releases the batch: its bytes no longer count against the cap and its memory is reused. It never
// blocks. After Close the events from next on cannot be put back (but for an Options.Ordered key,
// whose newer events Close hands on after them): Done returns them, and the
// caller must encode them itself (their memory is no longer counted, nor reused); otherwise rest is
// empty. A batch that is not Full must be encoded whole (next = batch.Len()).
func (b *Buffers) Done(batch *Batch, next int, st record.Stats) (rest record.Events) {
	if batch.Full && st.Records > 0 {
		b.observeRatio(st.RawBytes, st.RecordBytes)
	}
	requeued := b.requeue(batch, next)
	b.mem.handedOn.Add(-1)
	if !requeued {
		b.free(len(batch.Data), false)
		return batch.Tail(next)
	}
	b.recycle(batch)
	return record.Events{}
}

// recycle frees a batch, whether or not it was handed on.
func (b *Buffers) recycle(batch *Batch) {
	b.free(len(batch.Data), false)
	if cap(batch.Data) > maxReusedBatchBytes {
		return
	}
	batch.reset()
	select {
	case b.reuse <- batch:
	default:
	}
}

// free stops counting size bytes against the cap, bytes a connection reserved if conn is set.
func (b *Buffers) free(size int, conn bool) {
	if b.mem.shrink(size, conn) {
		events, conns := b.mem.bytes()
		b.log.Info("buffers below their memory cap again", slog.Int64("bytes", events+conns))
	}
}

// Bytes returns the bytes of events held: in batches being filled, and in batches handed on and
// not yet released.
func (b *Buffers) Bytes() int64 {
	events, _ := b.mem.bytes()
	return events
}

// ConnectionBytes returns the bytes that connections reserved under the cap for the messages
// they are still reading (Reserve).
func (b *Buffers) ConnectionBytes() int64 {
	_, conns := b.mem.bytes()
	return conns
}

// FlushBytes returns the current flush size in bytes of JSON events.
func (b *Buffers) FlushBytes() int { return int(b.flushBytes.Load()) }

// observeRatio takes note that rawBytes of events made recordBytes of records, so that the flush
// size follows the compression ratio. The estimate is a moving average.
func (b *Buffers) observeRatio(rawBytes, recordBytes int) {
	if rawBytes <= 0 || recordBytes <= 0 {
		return
	}
	observed := float64(rawBytes) / float64(recordBytes)
	for {
		old := b.ratio.Load()
		ratio := observed
		if old != 0 {
			ratio = 0.75*math.Float64frombits(old) + 0.25*observed
		}
		if b.ratio.CompareAndSwap(old, math.Float64bits(ratio)) {
			size := int64(ratio * record.TargetBytes * overshoot)
			b.flushBytes.Store(min(max(size, minFlushBytes), maxFlushBytes))
			return
		}
	}
}

// lookup returns the locked pending batch of key, creating it if needed. On success the caller
// must call b.busy.Done once it has sent what it will send.
func (b *Buffers) lookup(key Key) (*pending, error) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		p := b.keys[key]
		if p == nil {
			p = &pending{batch: b.newBatch(key)}
			p.handed = sync.NewCond(&p.mu)
			b.keys[key] = p
		}
		b.busy.Add(1)
		b.mu.Unlock()
		p.mu.Lock()
		if !p.removed {
			return p, nil
		}
		p.mu.Unlock()
		b.busy.Done()
	}
}

// lookupReady is lookup for a commit: with wait, it also waits until no other commit of the key
// is waiting for the encoder stage with a full batch.
func (b *Buffers) lookupReady(key Key, wait bool) (*pending, error) {
	for {
		p, err := b.lookup(key)
		if err != nil || !wait || !p.handing {
			return p, err
		}
		b.metrics.waiting.Inc()
		for p.handing {
			p.handed.Wait()
		}
		b.metrics.waiting.Dec()
		if !p.removed {
			return p, nil
		}
		// The key went idle and was forgotten meanwhile: look it up anew.
		p.mu.Unlock()
		b.busy.Done()
	}
}

func (b *Buffers) newBatch(key Key) *Batch {
	var batch *Batch
	select {
	case batch = <-b.reuse:
	default:
		batch = new(Batch)
	}
	batch.Key = key
	return batch
}

// handOn sends batch to the encoder stage, blocking while its channel is full. The caller must
// hold a b.busy count.
func (b *Buffers) handOn(batch *Batch) {
	b.mem.handedOn.Add(1)
	b.out <- batch
}

// tryHandOn sends batch to the encoder stage if its channel has room, and reports whether it
// did. The caller must hold a b.busy count.
func (b *Buffers) tryHandOn(batch *Batch) bool {
	b.mem.handedOn.Add(1)
	select {
	case b.out <- batch:
		return true
	default:
		b.mem.handedOn.Add(-1)
		return false
	}
}

// commit appends staged events to key's batch and hands the batch on if it is full. With wait
// false it never blocks: it returns errWouldBlock when the events do not fit the memory cap, and
// keeps a full batch that the encoder stage cannot take yet.
func (b *Buffers) commit(key Key, staged *Staging, wait bool) error {
	size := len(staged.Data)
	if err := b.reserve(nil, size, wait, false); err != nil {
		return err
	}
	p, err := b.lookupReady(key, wait)
	if err != nil {
		b.free(size, false)
		return err
	}
	defer b.busy.Done()
	batch := p.batch
	if len(batch.Ends) == 0 {
		batch.Oldest = staged.Oldest
	}
	if staged.Logged {
		batch.Chunks = append(batch.Chunks, Chunk{Run: staged.Run, End: batch.Len() + staged.Len()})
	}
	b.appendEvents(batch, staged.Events)
	p.lastUsed = staged.Oldest
	if len(batch.Data) < b.FlushBytes() || p.out {
		// With a batch of an Ordered key out, this one grows until Done hands it on.
		p.mu.Unlock()
		return nil
	}
	batch.Full = true
	if !wait {
		// Datagrams cannot wait, and their senders cannot be slowed down: when the encoders are
		// busy, the batch stays with its key and keeps growing within the memory cap, and the
		// next commit or the ticker of Run hands it on. Only the cap drops datagrams, so a
		// moment's delay of the encoders (a GC, a slow fsync) costs memory, not messages.
		if !b.tryHandOn(batch) {
			batch.Full = false
			p.mu.Unlock()
			return nil
		}
		p.batch = b.newBatch(key)
		p.out = b.ordered
		p.mu.Unlock()
		return nil
	}
	p.batch = b.newBatch(key)
	p.out = b.ordered
	p.handing = true
	p.mu.Unlock()
	b.metrics.waiting.Inc()
	b.handOn(batch)
	b.metrics.waiting.Dec()
	p.mu.Lock()
	p.handing = false
	p.handed.Broadcast()
	p.mu.Unlock()
	return nil
}

// appendEvents appends events to batch. A batch that must grow doubles, stopping at the flush
// size and one staging's worth more, rather than growing by append's steps of a quarter at this
// size: each step copies the batch under its key's lock, and the garbage of those steps had the
// collector run back to back, taking a CPU from the UDP readers, while the batches of a relay just
// started first filled (twice as many collections in its first second). Doubling keeps a batch's
// unused room within its size, as append does for small slices.
func (b *Buffers) appendEvents(batch *Batch, events record.Events) {
	if need := len(batch.Data) + len(events.Data); need > cap(batch.Data) {
		size := 2 * cap(batch.Data)
		if full := b.FlushBytes() + MaxStagedBytes; cap(batch.Data) < full {
			size = min(size, full)
		}
		grown := make([]byte, len(batch.Data), max(size, need))
		copy(grown, batch.Data)
		batch.Data = grown
	}
	base := len(batch.Data)
	batch.Data = append(batch.Data, events.Data...)
	for _, end := range events.Ends {
		batch.Ends = append(batch.Ends, base+end)
	}
}

// reserve counts size bytes against the cap, as a connection's reservation if conn is set. With
// wait it blocks until they fit, the buffers close or done is closed (nil: never); without, it
// returns errWouldBlock at once when they do not fit.
func (b *Buffers) reserve(done <-chan struct{}, size int, wait, conn bool) error {
	changed, ok, reached := b.mem.reserve(size, wait, conn)
	if reached {
		b.log.Warn("buffers reached their memory cap: TCP senders wait and datagrams are dropped until the stages behind catch up",
			slog.Int64("max_bytes", b.mem.max))
	}
	if ok {
		return nil
	}
	if !wait {
		return errWouldBlock
	}
	b.metrics.waiting.Inc()
	defer b.metrics.waiting.Dec()
	defer b.mem.stopWaiting()
	for {
		// With no batch at the encoder nothing will free memory until the age ticker comes
		// round: hand on the largest batch being filled now.
		if b.mem.handedOn.Load() <= 0 && b.handOnLargest() {
			changed = b.mem.changes()
		}
		select {
		case <-changed:
		case <-b.mem.closing:
			return ErrClosed
		case <-done:
			return errGaveUp
		}
		if changed, ok = b.mem.retry(size, conn); ok {
			return nil
		}
	}
}

// handOnLargest hands on the largest batch being filled, whatever its size and age, and reports
// whether there was one.
func (b *Buffers) handOnLargest() bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	var largest *pending
	size := 0
	for _, p := range b.keys {
		p.mu.Lock()
		if n := len(p.batch.Data); n > size && !p.out {
			largest, size = p, n
		}
		p.mu.Unlock()
	}
	if largest == nil {
		b.mu.Unlock()
		return false
	}
	b.busy.Add(1)
	b.mu.Unlock()
	defer b.busy.Done()
	largest.mu.Lock()
	if largest.removed || largest.out || len(largest.batch.Ends) == 0 {
		largest.mu.Unlock()
		return false
	}
	batch := largest.batch
	largest.batch = b.newBatch(batch.Key)
	largest.out = b.ordered
	largest.mu.Unlock()
	b.handOn(batch)
	return true
}

// requeue puts the events of batch from index next on back in front of its key's newer events
// and, with Options.Ordered, hands the key's merged batch on if it is due: the key no longer has
// a batch out. It never blocks on the encoder stage, nor on the memory cap: the events it puts
// back are already counted, in batch. It reports false after Close, when the caller must encode
// them itself, except for an Ordered key, whose events Close hands on after them. Either way the
// caller still owns batch and frees it.
func (b *Buffers) requeue(batch *Batch, next int) bool {
	if !b.ordered && next >= batch.Len() {
		return true
	}
	p, err := b.lookup(batch.Key)
	if errors.Is(err, ErrClosed) && b.ordered {
		return b.requeueClosed(batch, next)
	}
	if err != nil {
		return false
	}
	defer b.busy.Done()
	p.out = false
	newer := b.merge(p, batch, next)
	if b.ordered && b.due(p.batch, time.Now()) || len(p.batch.Data) >= b.FlushBytes() {
		// requeue is called by the encoder stage, which must never block on its own channel:
		// when the channel is full, the next Commit or the ticker of Run hands the batch on.
		merged := p.batch
		merged.Full = len(merged.Data) >= b.FlushBytes()
		if b.tryHandOn(merged) {
			p.batch = b.newBatch(batch.Key)
			p.out = b.ordered
		} else {
			merged.Full = false
		}
	}
	p.mu.Unlock()
	if newer != nil {
		b.recycle(newer)
	}
	return true
}

// requeueClosed is requeue after Close for an Ordered key: the key is still among the keys,
// its batch out, and Close waits on returned to hand the merged batch on.
func (b *Buffers) requeueClosed(batch *Batch, next int) bool {
	b.mu.Lock()
	p := b.keys[batch.Key]
	b.mu.Unlock()
	if p == nil {
		// Close handed on the key's last batch: nothing of the key is newer.
		return next >= batch.Len()
	}
	p.mu.Lock()
	p.out = false
	newer := b.merge(p, batch, next)
	p.mu.Unlock()
	if newer != nil {
		b.recycle(newer)
	}
	select {
	case b.returned <- struct{}{}:
	default:
	}
	return true
}

// merge makes the events of batch from index next on, then those of p's batch, p's batch, and
// returns the batch it replaced for the caller to recycle once p is unlocked; nil when there
// were no such events. The caller holds p.mu.
func (b *Buffers) merge(p *pending, batch *Batch, next int) (newer *Batch) {
	if next >= batch.Len() {
		return nil
	}
	merged := b.newBatch(batch.Key)
	merged.Oldest = batch.Oldest
	merged.Chunks = appendChunks(merged.Chunks, batch.Chunks, next, 0)
	b.appendEvents(merged, batch.Tail(next))
	newer = p.batch
	merged.Chunks = appendChunks(merged.Chunks, newer.Chunks, 0, merged.Len())
	b.appendEvents(merged, newer.Events)
	b.mem.grow(len(merged.Data))
	p.batch = merged
	return newer
}

// Run hands on batches whose oldest event has reached the flush age, batches at the flush size
// that Done could not hand on and those FlushReceived asked for, and forgets keys that have been idle as long as the flush
// age, until ctx is done.
func (b *Buffers) Run(ctx context.Context) error {
	tick := time.NewTicker(min(time.Second, b.flushAge/4))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			b.flushAged(now)
		}
	}
}

// flushAged hands on every batch that is at least flushAge old at now, or full, and forgets the
// keys idle as long.
func (b *Buffers) flushAged(now time.Time) {
	b.handOnWhere(func(batch *Batch) bool { return b.due(batch, now) }, func(p *pending) bool {
		return len(p.batch.Ends) == 0 && !p.out && now.Sub(p.lastUsed) >= b.flushAge
	})
}

// FlushOn calls FlushReceived with each time requests delivers, until ctx is done: the relay
// hands it the intake log's FlushRequests.
func (b *Buffers) FlushOn(ctx context.Context, requests <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-requests:
			b.FlushReceived(t)
		}
	}
}

// FlushReceived hands on every batch holding an event received at or before t, whatever its size
// and age, and from then on Run hands on such batches too, as it does aged ones: the tails that
// the record stage puts back (Done) of batches it flushed. The relay calls it with what the
// intake log's FlushRequests delivers, since such events pin the log's oldest segment until they
// are spooled and released, and after a replay of the log.
func (b *Buffers) FlushReceived(t time.Time) {
	for {
		old := b.flushedTo.Load()
		if t.UnixNano() <= old || b.flushedTo.CompareAndSwap(old, t.UnixNano()) {
			break
		}
	}
	b.handOnWhere(func(batch *Batch) bool { return len(batch.Ends) > 0 && !batch.Oldest.After(t) }, nil)
}

// handOnWhere hands on the batch of every key that has no batch out and for which due holds,
// and forgets the keys for which idle holds (nil: none), whose batches are empty. It does
// nothing after Close. The keys are chosen under b.mu, and each batch checked again under its
// key's lock before it is handed on, without b.mu (handing on may block on the encoder stage).
func (b *Buffers) handOnWhere(due func(*Batch) bool, idle func(*pending) bool) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.busy.Add(1)
	defer b.busy.Done()
	var ps []*pending
	for key, p := range b.keys {
		p.mu.Lock()
		if idle != nil && idle(p) {
			p.removed = true
			delete(b.keys, key)
			b.recycle(p.batch)
			p.batch = nil
		} else if !p.out && due(p.batch) {
			ps = append(ps, p)
		}
		p.mu.Unlock()
	}
	b.mu.Unlock()
	for _, p := range ps {
		p.mu.Lock()
		var batch *Batch
		if !p.removed && !p.out && due(p.batch) {
			batch = p.batch
			batch.Full = len(batch.Data) >= b.FlushBytes()
			p.batch = b.newBatch(batch.Key)
			p.out = b.ordered
		}
		p.mu.Unlock()
		if batch != nil {
			b.handOn(batch)
		}
	}
}

// due reports whether batch must be handed on at now: it is aged or full, or FlushReceived asked
// for it.
func (b *Buffers) due(batch *Batch, now time.Time) bool {
	return len(batch.Ends) > 0 && (now.Sub(batch.Oldest) >= b.flushAge || len(batch.Data) >= b.FlushBytes() ||
		batch.Oldest.UnixNano() <= b.flushedTo.Load())
}

// closeBatches is how many batches Close hands on at most when the others are in the intake log:
// about one group of records for the spool (encode's maxGroupRecords), so that a shutdown with
// tens of thousands of sources' batches takes as long as one with a few.
const closeBatches = 256

// Close hands on every batch, whatever its size or age, and closes the Batches channel. Of more
// than closeBatches batches being filled, it hands on the largest closeBatches and those not in
// the intake log, and lets the others go (InLog: the log keeps their events, and the next start
// replays them); it returns the number of events it let go. With Options.Ordered, the batch of a
// key that has a batch out is handed on once Done has reported on that one, with its tail in
// front. Listeners must have stopped committing first; later commits fail with ErrClosed, and so
// do commits still waiting for memory. Close blocks while the encoder stage is busy, so it must
// keep reading Batches until the channel is closed.
func (b *Buffers) Close() (inLog int) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0
	}
	b.closed = true
	b.mu.Unlock()
	close(b.mem.closing)
	b.busy.Wait()
	rest, out := b.takeBatches()
	if len(rest) > closeBatches {
		slices.SortFunc(rest, func(x, y *Batch) int { return cmp.Compare(len(y.Data), len(x.Data)) })
		kept := rest[:closeBatches]
		for _, batch := range rest[closeBatches:] {
			if batch.InLog() {
				inLog += batch.Len()
				b.recycle(batch)
			} else {
				kept = append(kept, batch)
			}
		}
		rest = kept
	}
	for {
		for _, batch := range rest {
			b.handOn(batch)
		}
		if out == 0 {
			break
		}
		<-b.returned
		rest, out = b.takeBatches()
	}
	close(b.out)
	return inLog
}

// takeBatches removes, after Close, every key but those with a batch out (Options.Ordered), and
// returns their batches that hold events and how many keys are left.
func (b *Buffers) takeBatches() (rest []*Batch, out int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for key, p := range b.keys {
		p.mu.Lock()
		switch {
		case p.out:
			out++
			p.mu.Unlock()
			continue
		case len(p.batch.Ends) > 0:
			rest = append(rest, p.batch)
		default:
			b.recycle(p.batch)
		}
		p.batch = nil
		p.removed = true
		p.mu.Unlock()
		delete(b.keys, key)
	}
	return rest, out
}
