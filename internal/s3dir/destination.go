package s3dir

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/dirlock"
	"github.com/kinesyslog/kinesyslog/internal/firehose"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// Defaults for the zero values of Options.
const (
	// DefaultStreamName names objects as a Firehose stream called "kinesyslog" would.
	DefaultStreamName = "kinesyslog"
	// DefaultBufferInterval is Firehose's default buffering interval for S3.
	DefaultBufferInterval = 300 * time.Second
	// DefaultBufferBytes is the largest buffer size Firehose allows for S3 (128 MiB).
	DefaultBufferBytes = 128 << 20
	// DefaultAccountID is the records' owner when Options.AccountID is empty: twelve digits like
	// an account ID, and one no AWS account has.
	DefaultAccountID = "000000000000"
)

// maxStreamNameLen is the longest Firehose stream name (DeliveryStreamName, 1 to 64 characters).
const maxStreamNameLen = 64

// maxCheckEvery bounds the period of Run's check for a due object, so that an idle object is
// published at most this long after its BufferInterval ends.
const maxCheckEvery = time.Second

// Errors returned by a Destination.
var (
	ErrClosed         = errors.New("s3dir: sink closed")
	ErrLocked         = errors.New("s3dir: directory in use by another sink")
	ErrNoRecords      = errors.New("s3dir: no records")
	ErrEmptyRecord    = errors.New("s3dir: empty record")
	ErrRecordTooLarge = errors.New("s3dir: record too large")
)

// Attribute keys of log records.
const (
	attrDir       = "dir"
	attrObject    = "object"
	attrBytes     = "bytes"
	attrTornBytes = "torn_bytes"
	attrError     = "err"
)

// Options configures a Destination. Only Dir is required.
type Options struct {
	// Dir is the directory standing in for the S3 bucket. It is created if missing.
	Dir string
	// AccountID is the records' owner (--account-id). Empty means DefaultAccountID.
	AccountID string
	// StreamName begins every object name, as the Firehose stream's name does on S3: 1 to 64
	// letters, digits, '_', '.' or '-'. Empty means DefaultStreamName.
	StreamName string
	// BufferInterval is how long an object stays open before it is published. Zero means
	// DefaultBufferInterval.
	BufferInterval time.Duration
	// BufferBytes is the size past which a call's records go into a new object. An object is
	// larger only when one call alone is. Zero means DefaultBufferBytes.
	BufferBytes int64
	// Clock gives the arrival time of records. Nil means time.Now.
	Clock func() time.Time
	// Logger receives recovery and publishing events. Nil means no logging.
	Logger *slog.Logger
}

// Destination is the upload.Destination that writes records into a directory as Amazon Data
// Firehose writes objects to S3. Create it with Open; it is safe for concurrent use.
type Destination struct {
	dir        string
	owner      string
	inprogress string
	stream     string
	interval   time.Duration
	maxBytes   int64
	clock      func() time.Time
	log        *slog.Logger
	dirLock    *os.File

	// sem is the Destination's lock, a channel so that waiting for it respects a context.
	sem    chan struct{}
	closed bool
	cur    *object // nil until the first call after Open or a publish
}

var _ upload.Destination = (*Destination)(nil)

// Open prepares dir for writing, publishes the objects a crash left in progress, and returns a
// Destination. It starts no goroutines: call Run to publish idle objects on time.
func Open(opts Options) (*Destination, error) {
	if opts.Dir == "" {
		return nil, errors.New("s3dir: open: no directory")
	}
	s := &Destination{
		dir:        opts.Dir,
		owner:      cmp.Or(opts.AccountID, DefaultAccountID),
		inprogress: filepath.Join(opts.Dir, inprogressDir),
		stream:     cmp.Or(opts.StreamName, DefaultStreamName),
		interval:   cmp.Or(opts.BufferInterval, DefaultBufferInterval),
		maxBytes:   cmp.Or(opts.BufferBytes, DefaultBufferBytes),
		clock:      opts.Clock,
		log:        opts.Logger,
		sem:        make(chan struct{}, 1),
	}
	if err := checkStreamName(s.stream); err != nil {
		return nil, err
	}
	if s.interval < 0 || s.maxBytes < 0 {
		return nil, fmt.Errorf("s3dir: open: negative buffer interval %v or size %d", s.interval, s.maxBytes)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(s.dir, dirPerm); err != nil {
		return nil, fmt.Errorf("s3dir: open: %w", err)
	}
	if err := mkdirSynced(s.dir, inprogressDir); err != nil {
		return nil, fmt.Errorf("s3dir: open: %w", err)
	}
	lock, err := dirlock.Lock(filepath.Join(s.inprogress, lockName), filePerm)
	if errors.Is(err, dirlock.ErrLocked) {
		err = ErrLocked
	}
	if err != nil {
		return nil, fmt.Errorf("s3dir: lock %s: %w", s.inprogress, err)
	}
	s.dirLock = lock
	if err := s.recover(); err != nil {
		return nil, errors.Join(err, s.dirLock.Close())
	}
	return s, nil
}

// checkStreamName enforces Firehose's rule for stream names, which also keeps the object names
// safe as file names.
func checkStreamName(name string) error {
	if len(name) > maxStreamNameLen {
		return fmt.Errorf("s3dir: stream name %q longer than %d characters", name, maxStreamNameLen)
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("s3dir: stream name %q: character %q not allowed", name, c)
		}
	}
	return nil
}

// String names the destination in logs.
func (s *Destination) String() string { return "directory " + s.dir }

// Limits returns Firehose's limits, which Put enforces as the service does.
func (s *Destination) Limits() upload.Limits {
	return upload.Limits{MaxRecords: firehose.MaxBatchRecords, MaxBatchBytes: firehose.MaxBatchBytes,
		MaxRecordBytes: firehose.MaxRecordBytes}
}

// Owner returns Options.AccountID, or DefaultAccountID, at once.
func (s *Destination) Owner(context.Context) (string, error) { return s.owner, nil }

// Put appends records to the current object and returns one Result per record once
// they are on disk, each with a RecordID of 128 random bits. It refuses, writing nothing, a call
// Firehose would refuse, and gives up waiting for another call when ctx is done. An error means
// none of the records is delivered.
func (s *Destination) Put(ctx context.Context, records [][]byte) ([]upload.Result, error) {
	size, err := validate(records)
	if err != nil {
		return nil, err
	}
	if err := s.acquire(ctx); err != nil {
		return nil, fmt.Errorf("s3dir: put: %w", err)
	}
	defer s.release()
	if s.closed {
		return nil, ErrClosed
	}
	now := s.clock().UTC()
	if s.cur != nil && (s.due(now) || s.cur.size+size > s.maxBytes) {
		if err := s.publishCurrent(); err != nil {
			return nil, err
		}
	}
	if s.cur == nil {
		o, err := createObject(s.inprogress, s.stream, now)
		if err != nil {
			return nil, err
		}
		s.cur = o
	}
	if err := s.cur.append(records, size); err != nil {
		s.abandon()
		return nil, err
	}
	results := make([]upload.Result, len(records))
	for i := range results {
		results[i].RecordID = rand.Text()
	}
	return results, nil
}

// validate checks records against the limits of one Firehose PutRecordBatch call and returns
// their size.
func validate(records [][]byte) (int64, error) {
	if len(records) == 0 {
		return 0, ErrNoRecords
	}
	if len(records) > firehose.MaxBatchRecords {
		return 0, fmt.Errorf("s3dir: %w: %d records, limit %d", upload.ErrBatchTooLarge, len(records), firehose.MaxBatchRecords)
	}
	var size int64
	for i, r := range records {
		switch {
		case len(r) == 0:
			return 0, fmt.Errorf("%w: record %d", ErrEmptyRecord, i)
		case len(r) > firehose.MaxRecordBytes:
			return 0, fmt.Errorf("%w: record %d is %d bytes, limit %d", ErrRecordTooLarge, i, len(r), firehose.MaxRecordBytes)
		}
		size += int64(len(r))
	}
	if size > firehose.MaxBatchBytes {
		return 0, fmt.Errorf("s3dir: %w: %d bytes, limit %d", upload.ErrBatchTooLarge, size, firehose.MaxBatchBytes)
	}
	return size, nil
}

// Run publishes the current object once it has been open for BufferInterval even when no call
// comes to rotate it, checking at least every second, until ctx is done. A failure to publish is
// logged and tried again at the next check. Run returns nil when ctx is done.
func (s *Destination) Run(ctx context.Context) error {
	t := time.NewTicker(min(s.interval, maxCheckEvery))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.publishDue(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("s3dir: publish due object", slog.String(attrDir, s.dir), slog.Any(attrError, err))
			}
		}
	}
}

// publishDue publishes the current object if it has been open for BufferInterval.
func (s *Destination) publishDue(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	if s.closed || s.cur == nil || !s.due(s.clock().UTC()) {
		return nil
	}
	return s.publishCurrent()
}

// Close publishes the current object and releases the directory; ctx bounds the wait for a call
// in progress. Calls after Close return ErrClosed; closing again does nothing. If publishing
// fails, the object stays in progress and the next Open publishes it.
func (s *Destination) Close(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return fmt.Errorf("s3dir: close: %w", err)
	}
	defer s.release()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.cur != nil {
		err = s.publishCurrent()
		if s.cur != nil {
			err = errors.Join(err, s.cur.close())
			s.cur = nil
		}
	}
	return errors.Join(err, s.dirLock.Close())
}

func (s *Destination) acquire(ctx context.Context) error {
	// A free lock and a done context are both ready; a done context must win.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Destination) release() { <-s.sem }

// due reports whether the current object has been open for BufferInterval at now.
func (s *Destination) due(now time.Time) bool {
	return now.Sub(s.cur.created) >= s.interval
}

// publishCurrent publishes the current object and lets it go once it has left .inprogress.
func (s *Destination) publishCurrent() error {
	renamed, err := s.publish(s.cur)
	if renamed {
		s.cur = nil
	}
	return err
}

// publish makes o visible under its key and reports whether o has left .inprogress. A failure
// before the rename leaves o as it was, to be published again later. After the rename o's files
// are closed, and a failure to make the rename durable only leaves the sidecar for Open to remove.
func (s *Destination) publish(o *object) (renamed bool, err error) {
	key := o.key()
	if err := mkdirSynced(s.dir, path.Dir(key)); err != nil {
		return false, fmt.Errorf("s3dir: publish %s: %w", key, err)
	}
	final := filepath.Join(s.dir, filepath.FromSlash(key))
	if err := os.Rename(o.path, final); err != nil {
		return false, fmt.Errorf("s3dir: publish %s: %w", key, err)
	}
	err = o.close()
	// The sidecar may go only once the rename is durable: an object without one would be taken
	// for an object with nothing committed and removed at Open.
	if err == nil {
		err = errors.Join(syncDir(filepath.Dir(final)), syncDir(s.inprogress))
	}
	if err == nil {
		err = os.Remove(o.commitPath())
	}
	if err != nil {
		return true, fmt.Errorf("s3dir: publish %s: %w", key, err)
	}
	s.log.Debug("s3dir: published object", slog.String(attrObject, key), slog.Int64(attrBytes, o.size))
	return true, nil
}

// abandon ends the current object after a failed append: it cuts the object back to what was
// committed and publishes it, or removes it when nothing was committed. When even that fails it
// leaves the object for Open to recover. Either way the next call starts a new object.
func (s *Destination) abandon() {
	o := s.cur
	var err error
	if o.size == 0 {
		s.cur = nil
		err = errors.Join(o.close(), removeFile(o.path), removeFile(o.commitPath()))
	} else if err = o.rollback(); err == nil {
		err = s.publishCurrent()
	}
	if s.cur != nil {
		err = errors.Join(err, o.close())
		s.cur = nil
	}
	if err != nil {
		s.log.Error("s3dir: leaving object in progress until the next open",
			slog.String(attrObject, o.name), slog.Any(attrError, err))
	}
}
