package buffer

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

// Defaults of Options.
const (
	// DefaultFlushAge is the spec's longest wait of an event in memory before it is encoded.
	DefaultFlushAge = 60 * time.Second
	// DefaultFlushBytes is the spec's batch size of 4 MB of input, used until the compression
	// ratio is known.
	DefaultFlushBytes = 4 << 20
	// maxFlushBytes caps the adaptive flush size: batches of highly compressible input stay
	// bounded in memory, at the cost of records below the target.
	maxFlushBytes = 32 << 20
	// minFlushBytes keeps batches from shrinking to nothing on incompressible input.
	minFlushBytes = record.TargetBytes
	// overshoot makes a batch slightly larger than a record is expected to hold: the excess is
	// requeued, so records are sent full instead of at the ratio estimate's mercy.
	overshoot = 1.02
)

// ErrClosed is returned by Commit after Close.
var ErrClosed = errors.New("buffer: closed")

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
	// Full reports that the batch was handed on for its size. The encoder may requeue what does
	// not fill a whole record; an aged batch (or one flushed at Close) must be encoded whole.
	Full bool
}

func (b *Batch) reset() {
	b.Data = b.Data[:0]
	b.Ends = b.Ends[:0]
	b.Oldest = time.Time{}
	b.Full = false
}

// Options configures Buffers. The zero value of each field selects its default.
type Options struct {
	FlushAge   time.Duration // default DefaultFlushAge
	FlushBytes int           // initial flush size, default DefaultFlushBytes
	// Queue is how many batches may wait for the encoder before Commit blocks; default 2.
	Queue int
}

// Buffers holds the batches of every Key. Its methods are safe for concurrent use.
type Buffers struct {
	flushAge   time.Duration
	flushBytes atomic.Int64
	ratio      atomic.Uint64 // float64 bits: input bytes per record byte, 0 until observed
	out        chan *Batch
	pool       sync.Pool

	mu     sync.Mutex // guards keys and closed
	keys   map[Key]*pending
	closed bool
	// busy counts the operations that may still send on out; Close waits for them before it
	// closes the channel. They begin under mu while closed is false.
	busy sync.WaitGroup
}

// pending is the batch being filled for one key.
type pending struct {
	mu       sync.Mutex
	batch    *Batch
	lastUsed time.Time
	removed  bool // deleted from Buffers.keys: look the key up again
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
		opts.Queue = 2
	}
	b := &Buffers{
		flushAge: opts.FlushAge,
		out:      make(chan *Batch, opts.Queue),
		keys:     make(map[Key]*pending),
	}
	b.flushBytes.Store(int64(opts.FlushBytes))
	b.pool.New = func() any { return new(Batch) }
	return b
}

// Batches returns the channel of batches ready for encoding. It is closed by Close once every
// batch has been handed on.
func (b *Buffers) Batches() <-chan *Batch { return b.out }

// Release returns a batch the encoder is done with, so its memory is reused.
func (b *Buffers) Release(batch *Batch) {
	batch.reset()
	b.pool.Put(batch)
}

// FlushBytes returns the current flush size in bytes of JSON events.
func (b *Buffers) FlushBytes() int { return int(b.flushBytes.Load()) }

// ObserveRatio tells the buffers how many bytes of events made how many bytes of records, so that
// the flush size follows the compression ratio. The estimate is a moving average.
func (b *Buffers) ObserveRatio(rawBytes, recordBytes int) {
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

func (b *Buffers) newBatch(key Key) *Batch {
	batch := b.pool.Get().(*Batch)
	batch.Key = key
	return batch
}

// commit appends staged events to key's batch and hands the batch on if it is full.
func (b *Buffers) commit(key Key, staged *Batch) error {
	p, err := b.lookup(key)
	if err != nil {
		return err
	}
	defer b.busy.Done()
	batch := p.batch
	if len(batch.Ends) == 0 {
		batch.Oldest = staged.Oldest
	}
	base := len(batch.Data)
	batch.Data = append(batch.Data, staged.Data...)
	for _, end := range staged.Ends {
		batch.Ends = append(batch.Ends, base+end)
	}
	p.lastUsed = staged.Oldest
	var full *Batch
	if len(batch.Data) >= b.FlushBytes() {
		full = batch
		full.Full = true
		p.batch = b.newBatch(key)
	}
	p.mu.Unlock()
	if full != nil {
		b.out <- full
	}
	return nil
}

// Requeue puts the events of batch from index next on back in front of its key's newer events.
// It never blocks on the encoder stage. It reports false after Close, when the caller must encode them itself. Either way the caller
// still owns batch and releases it.
func (b *Buffers) Requeue(batch *Batch, next int) bool {
	if next >= batch.Len() {
		return true
	}
	p, err := b.lookup(batch.Key)
	if err != nil {
		return false
	}
	defer b.busy.Done()
	start := 0
	if next > 0 {
		start = batch.Ends[next-1]
	}
	merged := b.newBatch(batch.Key)
	merged.Oldest = batch.Oldest
	merged.Data = append(merged.Data, batch.Data[start:]...)
	for _, end := range batch.Ends[next:] {
		merged.Ends = append(merged.Ends, end-start)
	}
	newer := p.batch
	base := len(merged.Data)
	merged.Data = append(merged.Data, newer.Data...)
	for _, end := range newer.Ends {
		merged.Ends = append(merged.Ends, base+end)
	}
	// The merged batch is not handed on here even when it is full: Requeue is called by the
	// encoder stage, which must never block on its own channel. The next Commit or the age
	// ticker hands it on.
	p.batch = merged
	p.mu.Unlock()
	b.Release(newer)
	return true
}

// Run hands on batches whose oldest event has reached the flush age, and forgets keys that have
// been idle as long, until ctx is done.
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

// flushAged hands on every batch that is at least flushAge old at now.
func (b *Buffers) flushAged(now time.Time) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.busy.Add(1)
	defer b.busy.Done()
	ps := make([]*pending, 0, len(b.keys))
	for key, p := range b.keys {
		p.mu.Lock()
		if len(p.batch.Ends) == 0 && now.Sub(p.lastUsed) >= b.flushAge {
			p.removed = true
			delete(b.keys, key)
			b.Release(p.batch)
			p.batch = nil
		} else if len(p.batch.Ends) > 0 && now.Sub(p.batch.Oldest) >= b.flushAge {
			ps = append(ps, p)
		}
		p.mu.Unlock()
	}
	b.mu.Unlock()
	for _, p := range ps {
		p.mu.Lock()
		var aged *Batch
		if !p.removed && len(p.batch.Ends) > 0 && now.Sub(p.batch.Oldest) >= b.flushAge {
			aged = p.batch
			p.batch = b.newBatch(aged.Key)
		}
		p.mu.Unlock()
		if aged != nil {
			b.out <- aged
		}
	}
}

// Close hands on every batch, whatever its size or age, and closes the Batches channel. Listeners
// must have stopped committing first; later commits fail with ErrClosed. Close blocks while the
// encoder stage is busy, so it must keep reading Batches until the channel is closed.
func (b *Buffers) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	b.busy.Wait()
	b.mu.Lock()
	var rest []*Batch
	for key, p := range b.keys {
		p.mu.Lock()
		if len(p.batch.Ends) > 0 {
			rest = append(rest, p.batch)
		} else {
			b.Release(p.batch)
		}
		p.batch = nil
		p.removed = true
		p.mu.Unlock()
		delete(b.keys, key)
	}
	b.mu.Unlock()
	for _, batch := range rest {
		b.out <- batch
	}
	close(b.out)
}

// A Stamper reads the time of an event from its message and says how the message is recorded.
// Implementations must be safe for concurrent use.
type Stamper interface {
	// Stamp returns the event time of msg, received at received from source. When msg is to be
	// recorded in another form, Stamp appends that form to dst and returns it as out; otherwise
	// out is nil and msg is recorded as it is.
	Stamp(dst, msg []byte, received time.Time, source string) (ts time.Time, out []byte)
}

// An Appender stages the messages of one Key until Commit. It is not safe for concurrent use: a
// listener holds one per connection (or per datagram source).
type Appender struct {
	buffers *Buffers
	key     Key
	source  string
	stamper Stamper
	ids     *rand.ChaCha8
	staged  Batch
	scratch []byte
}

// Appender returns an Appender for the messages of key.
func (b *Buffers) Appender(key Key, stamper Stamper) *Appender {
	var seed [32]byte
	crand.Read(seed[:]) // never fails on Linux since Go 1.24; a failure would crash the program
	return &Appender{
		buffers: b,
		key:     key,
		source:  key.Source.Unmap().String(),
		stamper: stamper,
		ids:     rand.NewChaCha8(seed),
	}
}

// Add stages one message, received at received. The message is copied; Add does not allocate once
// the Appender's buffers have grown.
func (a *Appender) Add(msg []byte, received time.Time) {
	ts, out := a.stamper.Stamp(a.scratch[:0], msg, received, a.source)
	if out != nil {
		a.scratch = out
		msg = out
	}
	// Event ids come from a ChaCha8 stream seeded from the system's CSPRNG: as unpredictable and
	// unique as version 4 UUIDs drawn from crypto/rand, at a fraction of the cost per event.
	var id record.UUID
	binary.LittleEndian.PutUint64(id[:8], a.ids.Uint64())
	binary.LittleEndian.PutUint64(id[8:], a.ids.Uint64())
	if len(a.staged.Ends) == 0 {
		a.staged.Oldest = received
	}
	// Rounded, not truncated, to the millisecond, as the spec's sample record shows.
	a.staged.Data = record.AppendEvent(a.staged.Data, id, ts.Round(time.Millisecond).UnixMilli(), msg)
	a.staged.Ends = append(a.staged.Ends, len(a.staged.Data))
}

// Staged returns the number of bytes staged and not yet committed.
func (a *Appender) Staged() int { return len(a.staged.Data) }

// Commit hands the staged messages to the key's batch. It blocks while the encoder stage is busy,
// and fails only after the Buffers are closed.
func (a *Appender) Commit() error {
	if len(a.staged.Ends) == 0 {
		return nil
	}
	err := a.buffers.commit(a.key, &a.staged)
	a.staged.reset()
	return err
}
