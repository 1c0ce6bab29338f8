package spool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/kinesyslog/kinesyslog/internal/dirlock"
)

// Errors callers act on.
var (
	// ErrClosed is returned by Write, Remove and Quarantine after Close.
	ErrClosed = errors.New("spool: closed")
	// ErrFull is returned (wrapped with the context's error) by a Write that gave up waiting for
	// space: the spool was at Options.MaxBytes or the disk was full.
	ErrFull = errors.New("spool: full")
	// ErrCorrupt is returned (wrapped) by Read for a record that cannot be read back intact. The
	// record has been moved to quarantine/ and is no longer pending.
	ErrCorrupt = errors.New("spool: corrupt record")
	// ErrInUse is returned (wrapped) by Open when another process holds the directory.
	ErrInUse = errors.New("spool: directory in use by another process")
)

const (
	// tempPrefix starts the names of files being written; Open removes them. The dot keeps them
	// out of plain listings and out of the record name pattern.
	tempPrefix = ".tmp-"
	lockName   = ".lock"
	// QuarantineDir is the subdirectory, inside the spool directory, that holds records taken out
	// of the queue because they could not be read back or delivered.
	QuarantineDir = "quarantine"

	dirPerm  = 0o700
	seqWidth = 20 // digits of the largest uint64
	msWidth  = 13 // digits of Unix milliseconds until the year 2286
	ext      = ".gz"
	nameLen  = seqWidth + 1 + msWidth + len(ext)
)

// Options configures a Spool. The zero value is a spool without a size cap, logs or metrics.
type Options struct {
	// MaxBytes caps the bytes of records held; a Write that would exceed it blocks until space is
	// freed. 0 means no cap.
	MaxBytes int64
	// Logger receives the spool's logs; nil discards them.
	Logger *slog.Logger
	// Registerer registers the spool's metrics; nil means no metrics.
	Registerer prometheus.Registerer
}

// Entry is one pending record.
type Entry struct {
	// Seq is the record's position in write order: a larger Seq was written later.
	Seq uint64
	// Size is the record's length in bytes.
	Size int64
	// Time is when the record was written, to the millisecond.
	Time time.Time
}

// Name returns the record's file name inside the spool directory.
func (e Entry) Name() string {
	return fmt.Sprintf("%0*d-%0*d%s", seqWidth, e.Seq, msWidth, e.Time.UnixMilli(), ext)
}

// parseName is the inverse of Entry.Name. It accepts exactly the names Name produces, so that a
// file of another stage is never taken for a record.
func parseName(name string) (Entry, bool) {
	if len(name) != nameLen || !strings.HasSuffix(name, ext) || name[seqWidth] != '-' {
		return Entry{}, false
	}
	seq, err := strconv.ParseUint(name[:seqWidth], 10, 64)
	if err != nil {
		return Entry{}, false
	}
	ms, err := strconv.ParseInt(name[seqWidth+1:seqWidth+1+msWidth], 10, 64)
	if err != nil {
		return Entry{}, false
	}
	e := Entry{Seq: seq, Time: time.UnixMilli(ms)}
	if e.Name() != name {
		return Entry{}, false
	}
	return e, true
}

// Spool is a durable queue of records in one directory. Create it with Open. It is safe for
// concurrent use.
type Spool struct {
	dir      string
	maxBytes int64
	logger   *slog.Logger
	metrics  *metrics
	ops      fileOps
	dirFile  *os.File // kept open to fsync the directory after renames and removals
	lock     *os.File
	ready    chan struct{}
	gzips    sync.Pool // *gzip.Reader, reused by verify

	mu       sync.Mutex
	entries  []Entry // sorted by Seq
	bytes    int64   // sum of entries' sizes
	reserved int64   // bytes of writes in progress, counted against maxBytes
	next     uint64  // Seq of the next record
	// firstOwn is the Seq of the first record this Spool writes: records before it were left by
	// an earlier run, which may have been cut short by a crash, and Read verifies them.
	firstOwn uint64
	// renaming holds the Seqs given to writes that have not finished: records with a larger Seq
	// are held back from Pending until these are done, so Pending never goes back in Seq order.
	renaming map[uint64]struct{}
	freed    chan struct{}
	closed   bool
	writes   sync.WaitGroup // writes in progress, awaited by Close
	waiting  int            // writers waiting for space, at the cap or on a full disk
	full     bool           // writers are waiting for space; logged on change
	diskFull bool           // the last write failed for lack of disk space; logged on change
}

// fileOps are the file system calls of a write, which tests replace to inject failures such as
// ENOSPC at each step.
type fileOps struct {
	write  func(f *os.File, b []byte) (int, error)
	sync   func(f *os.File) error
	syncFS func(dir *os.File) error // nil: groups are synced a file at a time
	rename func(oldpath, newpath string) error
}

// Open opens the spool in dir, creating the directory (mode 0700) when it is missing. It removes
// temporary files of writes that were interrupted, and indexes the complete records of an earlier
// run so they are pending again. Open fails when dir is not a writable directory, or with ErrInUse
// when another process holds it.
func Open(dir string, opts Options) (*Spool, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("spool: negative MaxBytes %d", opts.MaxBytes)
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("spool: create directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: stat %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("spool: %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		logger.Warn("spool directory is accessible to other users", slog.String(logKeyDir, dir),
			slog.String("mode", perm.String()))
	}
	// Probe before anything else so that a read-only or foreign directory fails at start with a
	// clear message, not at the first record.
	probe, err := os.CreateTemp(dir, tempPrefix+"probe-*")
	if err != nil {
		return nil, fmt.Errorf("spool: directory %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())

	lock, err := dirlock.Lock(filepath.Join(dir, lockName), 0o600)
	if errors.Is(err, dirlock.ErrLocked) {
		err = ErrInUse
	}
	if err != nil {
		return nil, fmt.Errorf("spool: lock %s: %w", dir, err)
	}
	dirFile, err := os.Open(dir)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool: open directory %s: %w", dir, err)
	}
	s := &Spool{
		dir:      dir,
		maxBytes: opts.MaxBytes,
		logger:   logger,
		ops: fileOps{
			write:  (*os.File).Write,
			sync:   (*os.File).Sync,
			syncFS: syncFS,
			rename: os.Rename,
		},
		dirFile:  dirFile,
		lock:     lock,
		ready:    make(chan struct{}, 1),
		next:     1,
		renaming: make(map[uint64]struct{}),
		freed:    make(chan struct{}),
	}
	empty, err := s.scan()
	if err != nil {
		dirFile.Close()
		lock.Close()
		return nil, err
	}
	s.metrics = newMetrics(opts.Registerer, s)
	for _, e := range empty {
		s.quarantine(e, "empty file")
	}
	logger.Info("spool opened", slog.String(logKeyDir, dir), slog.Int(logKeyRecords, len(s.entries)),
		slog.Int64(logKeyBytes, s.bytes), slog.Int64("max_bytes", s.maxBytes))
	return s, nil
}

// scan removes leftover temporary files and indexes the records in the directory. It returns the
// empty record files, which a crash on a file system that does not order data before metadata can
// leave. It runs before the Spool is shared, so it takes no lock.
func (s *Spool) scan() (empty []Entry, err error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spool: read directory %s: %w", s.dir, err)
	}
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tempPrefix) {
			// Our lock is held, so no live writer owns it: it is an interrupted write.
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
				s.logger.Warn("cannot remove temporary file of an interrupted write",
					slog.String(logKeyFile, name), slog.Any(logKeyError, err))
			} else {
				s.logger.Info("removed temporary file of an interrupted write", slog.String(logKeyFile, name))
			}
			continue
		}
		e, ok := parseName(name)
		if !ok || !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("spool: stat %s: %w", name, err)
		}
		e.Size = fi.Size()
		if e.Size == 0 {
			empty = append(empty, e)
			continue
		}
		s.entries = append(s.entries, e)
		s.bytes += e.Size
	}
	slices.SortFunc(s.entries, func(a, b Entry) int { return cmpSeq(a.Seq, b.Seq) })
	if n := len(s.entries); n > 0 {
		s.next = s.entries[n-1].Seq + 1
	}
	for _, e := range empty {
		s.next = max(s.next, e.Seq+1)
	}
	s.firstOwn = s.next
	return empty, nil
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Dir returns the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Len returns the number of pending records.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Bytes returns the total size of the pending records.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Check reports whether the spool takes records: an error when it is closed, when writers wait
// for room (its disk full, or its records at Options.MaxBytes) or it has no room left, or when
// this process may no longer write its directory (a read-only remount, changed permissions). It
// is safe for concurrent use.
func (s *Spool) Check() error {
	s.mu.Lock()
	closed, waiting, diskFull, bytes := s.closed, s.waiting > 0, s.diskFull, s.bytes
	s.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case waiting && diskFull:
		return errors.New("disk full: writes wait for space")
	case waiting || s.maxBytes > 0 && bytes >= s.maxBytes:
		return fmt.Errorf("full: %d of %d bytes; writes wait for deliveries", bytes, s.maxBytes)
	}
	if err := unix.Access(s.dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("directory %s not writable: %w", s.dir, err)
	}
	return nil
}

// Pending returns up to max pending records whose Seq is greater than after, oldest first.
// Pending(0, n) starts from the oldest record; a consumer that hands records out to concurrent
// workers passes the largest Seq it has handed out so far to never take a record twice. That is
// safe because concurrent writes that finish out of order are held back: a record is not returned
// while a write given a smaller Seq is still in progress.
func (s *Spool) Pending(after uint64, max int) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := uint64(math.MaxUint64)
	for seq := range s.renaming {
		limit = min(limit, seq)
	}
	i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i].Seq > after })
	j := i
	for j < len(s.entries) && j-i < max && s.entries[j].Seq < limit {
		j++
	}
	return slices.Clone(s.entries[i:j])
}

// First returns the oldest pending record, and false when none is pending. Unlike Pending it
// does not hold back records behind a write in progress.
func (s *Spool) First() (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 {
		return Entry{}, false
	}
	return s.entries[0], true
}

// Last returns the newest pending record, and false when none is pending. Unlike Pending it
// does not hold back records behind a write in progress.
func (s *Spool) Last() (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 {
		return Entry{}, false
	}
	return s.entries[len(s.entries)-1], true
}

// Ready returns a channel that receives a value after records became pending, and when a writer
// starts waiting for space (see Waiting). Values do not queue up: one value may stand for many
// writes, so a reader drains Pending after each. It is meant for the single consumer of the spool.
func (s *Spool) Ready() <-chan struct{} { return s.ready }

// Close refuses further writes, wakes writers waiting for space (they return ErrClosed), waits
// for writes in progress to finish or for ctx to be done, and releases the directory. Records
// stay on disk for the next Open. Pending, Len, Bytes and Read keep working after Close.
func (s *Spool) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.signalFreedLocked()
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.writes.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("spool: close %s: writes still in progress: %w", s.dir, ctx.Err())
	}
	return errors.Join(err, s.dirFile.Close(), s.lock.Close())
}

// signalFreedLocked wakes every writer waiting for space; s.mu must be held.
func (s *Spool) signalFreedLocked() {
	close(s.freed)
	s.freed = make(chan struct{})
}

// Attribute keys of the spool's logs.
const (
	logKeyDir     = "dir"
	logKeyFile    = "file"
	logKeyError   = "error"
	logKeyRecords = "records"
	logKeyBytes   = "bytes"
	logKeyReason  = "reason"
)
