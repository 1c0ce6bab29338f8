package intake

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/ratelog"
)

// Defaults of Options.
const (
	// DefaultSyncInterval is the longest time between an Append and the write and fdatasync that
	// cover it when no one waits for it: what a crash or power loss can cost.
	DefaultSyncInterval = 10 * time.Millisecond
	// DefaultMaxBytes caps the log on disk.
	DefaultMaxBytes = 1 << 30
	// DefaultSegmentBytes is the size at which appends move on to a new segment file.
	DefaultSegmentBytes = 64 << 20

	minSegmentBytes = 4 << 10
)

// Errors callers act on.
var (
	// ErrClosed is returned by Append, Release and WaitSynced after Close.
	ErrClosed = errors.New("intake: closed")
	// ErrInUse is returned (wrapped) by Open when another process holds the directory.
	ErrInUse = errors.New("intake: directory in use by another process")
	// ErrTooLarge is returned (wrapped) by Append for an entry whose message does not fit
	// MaxEntryBytes, or a batch too large for Options.MaxBytes; nothing of the batch is appended.
	ErrTooLarge = errors.New("intake: too large")
	// ErrOrder is returned (wrapped) by Append for an entry whose Seq is not above the last Seq
	// of its stream still in the log; nothing of the batch is appended.
	ErrOrder = errors.New("intake: sequence out of order")
)

const (
	lockName      = ".intake.lock"
	segmentPrefix = "intake-"
	segmentExt    = ".seg"
	numWidth      = 20 // digits of the largest uint64
	dirPerm       = 0o700
	filePerm      = 0o600

	logKeyDir     = "dir"
	logKeySegment = "segment"
	logKeyOffset  = "offset"
	logKeyError   = "error"
)

// Options configures a Log. The zero value of each field selects its default.
type Options struct {
	// SyncInterval bounds the time between an Append and the write(2) and fdatasync that cover
	// it; a WaitSynced caller has them start at once. Default DefaultSyncInterval.
	SyncInterval time.Duration
	// MaxBytes caps the bytes of the log on disk (and appended, not yet written): Append blocks
	// while a batch would cross it. From half of it on, FlushRequests asks the caller to flush
	// what pins the oldest segment. Default DefaultMaxBytes.
	MaxBytes int64
	// SegmentBytes is the size at which appends move on to a new segment file; it is lowered to
	// an eighth of MaxBytes when larger. Default DefaultSegmentBytes.
	SegmentBytes int64
	// DiskReserve is the free space appends leave on the log's disk: an Append waits while its
	// batch would leave less (the disk measured after each round, and every 100 ms while appends
	// wait), so that the spool on the same disk can still write the records that release the
	// log's entries; meanwhile FlushRequests asks for them. Segments are at most an eighth of
	// what the disk had free above the reserve at Open (at least 1 MiB), so that space comes
	// back in steps. Default DefaultDiskReserve; negative: none.
	DiskReserve int64
	// Logger receives the log's messages; nil discards them.
	Logger *slog.Logger
	// Registerer registers the log's metrics; nil means no metrics.
	Registerer prometheus.Registerer
}

// Entry is one message as a listener accepted it, with what it takes to rebuild the same event.
type Entry struct {
	// Stream is the number NewStream gave the connection or UDP sender the entry came from.
	Stream uint64
	// Seq numbers the stream's entries, from 0 and one by one, so that releases are compact
	// runs; Append only requires it to grow within a stream.
	Seq uint64
	// Source is the sender's address (an IPv6 zone longer than 32 bytes is not kept).
	Source netip.Addr
	// Port is the listener port the entry arrived on.
	Port uint16
	// Format is the caller's code for how to read Message (syslog, GELF, ...).
	Format uint8
	// Received is the arrival time, kept to the nanosecond (not its location or monotonic clock).
	Received time.Time
	// ID is the event id.
	ID [16]byte
	// Message is the message's bytes. Append copies them; in a Replay callback they are valid
	// only during the call.
	Message []byte
}

// Run is a contiguous range of one stream's entries, First to Last inclusive.
type Run struct {
	Stream, First, Last uint64
}

// Position is a point in the log: Append returns the position after its batch, for WaitSynced.
type Position uint64

// Log is the intake log in one directory. Create it with Open; Run must run for appends to
// reach the disk. It is safe for concurrent use.
type Log struct {
	dir          string
	syncInterval time.Duration
	maxBytes     int64
	segmentBytes int64
	logger       *slog.Logger
	rlog         *ratelog.Logger
	metrics      *metrics
	lock         *os.File
	dirFile      *os.File // kept open to fsync the directory after creations and removals

	nextStream atomic.Uint64
	kick       chan struct{} // wakes Run: data pending, a waiter, Close
	flush      chan time.Time

	// writing is held (a one-slot semaphore) by whoever writes: a round of Run, or Close.
	writing  chan struct{}
	file     *os.File // the segment being written, or nil
	fileSeg  *segment
	fileSize int64  // bytes of file that are entries, without padding
	fileEnd  int64  // bytes of file: its entries, then padding or the zeros written ahead of them
	zeros    []byte // aligned zeros for zeroAhead; allocated at its first use
	zeroRoom bool   // the disk has room for zeroAhead this round, well above the reserve
	// direct: segment files are opened with O_DIRECT, until the file system refuses it.
	direct  bool
	copyBuf []byte // aligned, for the stretches of a round that are not written in place
	// fileWrite writes to a segment file at an offset: (*os.File).WriteAt, or a test's fault.
	fileWrite func(f *os.File, b []byte, off int64) (int, error)

	mu           sync.Mutex
	buf          []byte // appended, not yet written: the new bytes of bufs[cur]
	cuts         []cut  // which segment each stretch of buf goes to; the last one is open
	bufs         [2]*roundBuf
	cur          int // the round buffer buf is in (unless Append had to move it)
	spareCuts    []cut
	pendingSince time.Time // when buf became non-empty
	wantSync     bool      // a WaitSynced caller waits for what is pending
	appended     Position
	synced       Position
	syncedCh     chan struct{} // closed and replaced after each fdatasync
	freedCh      chan struct{} // closed and replaced when segments are removed
	err          error         // a write or sync failed: the log is unusable
	fullWaiters  int           // appends waiting for room under the cap
	writeErr     error         // the last write or sync failed, being tried again; nil once one succeeds
	closed       bool
	done         bool       // Close finished its last round
	segs         []*segment // live segments, oldest first; appends go to the last
	firstOwn     uint64     // number of the first segment this Log created; older ones were recovered
	streams      map[uint64]*stream
	bytes        int64             // bytes of live segments, written or pending
	scratch      map[uint64]uint64 // Append's check of streams seen earlier in a batch
	released     []Run             // Release's runs that released something, reused
	disk         disk              // free space of the log's disk, against Options.DiskReserve
	flushed      time.Time         // when FlushRequests last got a value
	flushT       int64             // the value it got, Unix nanoseconds
}

// segment is the in-memory state of one segment file.
type segment struct {
	num   uint64
	bytes int64
	// start is the Position of the segment's first byte; 0 for a recovered segment, which
	// precedes every Position.
	start      Position
	unreleased int64 // entries not yet released
	// maxReceived is the latest Received of its entries, Unix nanoseconds: flushing every batch
	// holding an entry received at or before it releases the whole segment.
	maxReceived int64
	// onDisk is the bytes of the file that rounds wrote and synced; roundStart and roundBytes
	// are where the round being written starts in it and how much it adds. The writer's slot
	// guards them.
	onDisk, roundStart, roundBytes int64
}

// stream is the unreleased entries of one stream, as sorted, disjoint spans of Seq.
type stream struct {
	spans []span
}

type span struct {
	first, last uint64
	seg         *segment
}

// cut ends the stretch buf[previous cut's end:end] that goes to seg.
type cut struct {
	seg *segment
	end int
}

// segmentName returns the file name of segment num.
func segmentName(num uint64) string {
	return fmt.Sprintf("%s%0*d%s", segmentPrefix, numWidth, num, segmentExt)
}

// parseSegmentName is the inverse of segmentName; it accepts exactly the names segmentName
// produces.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok {
		return 0, false
	}
	if digits, ok = strings.CutSuffix(digits, segmentExt); !ok || len(digits) != numWidth {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil && segmentName(n) == name
}

func (l *Log) path(num uint64) string { return filepath.Join(l.dir, segmentName(num)) }

// NewStream returns a stream number never handed out before in this directory, also across
// restarts. It is safe for concurrent use and does not touch the disk.
func (l *Log) NewStream() uint64 { return l.nextStream.Add(1) - 1 }

// FlushRequests delivers a time T whenever the log's oldest segment holding unreleased entries
// pins it: when the live log is past half of Options.MaxBytes, or when appends wait for disk
// space (Options.DiskReserve). The caller should flush (encode, spool and Release) every batch
// holding an entry received at or before T, which unpins that segment. A value not taken is
// replaced by a newer one; the same T is sent again at most once a second while the segment stays
// pinned.
func (l *Log) FlushRequests() <-chan time.Time { return l.flush }

// Position returns the position after everything appended so far, as the last Append returned
// it (or later, counting release markers).
func (l *Log) Position() Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appended
}

// Bytes returns the bytes of the live log: segments on disk and appends not yet written.
func (l *Log) Bytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes
}

// Check reports whether the log takes appends: an error when it is closed or failed, when its
// writes fail and are being tried again (a full disk), or when appends wait for room under
// Options.MaxBytes. It is safe for concurrent use.
func (l *Log) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return ErrClosed
	case l.err != nil:
		return l.err
	case l.writeErr != nil:
		return fmt.Errorf("writes fail, tried again: %w", l.writeErr)
	case l.disk.short:
		return fmt.Errorf("disk nearly full: %d bytes free; appends wait to leave %d for the spool", l.disk.free, l.disk.reserve)
	case l.fullWaiters > 0:
		return fmt.Errorf("full: %d of %d bytes; appends wait for records to be spooled", l.bytes, l.maxBytes)
	}
	return nil
}

// Segments returns the number of live segment files, including the one being written.
func (l *Log) Segments() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.segs)
}
