package intake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/dirlock"
	"github.com/kinesyslog/kinesyslog/internal/ratelog"
)

// Open opens the intake log in dir, creating the directory (mode 0700) when it is missing, and
// recovers what an earlier run left: it reads every segment, cuts torn tails, skips (counts and
// logs) damaged entries, applies the release markers, removes the fully released oldest segments
// and keeps the rest for Replay. It fails only on I/O errors (or when another process holds the
// directory: ErrInUse), never because of what the segments contain. Open starts no goroutine:
// call Run.
func Open(dir string, opts Options) (*Log, error) {
	l := &Log{
		dir:          dir,
		syncInterval: cmp.Or(opts.SyncInterval, DefaultSyncInterval),
		maxBytes:     cmp.Or(opts.MaxBytes, DefaultMaxBytes),
		segmentBytes: cmp.Or(opts.SegmentBytes, DefaultSegmentBytes),
		logger:       opts.Logger,
		kick:         make(chan struct{}, 1),
		flush:        make(chan time.Time, 1),
		writing:      make(chan struct{}, 1),
		syncedCh:     make(chan struct{}),
		freedCh:      make(chan struct{}),
		streams:      make(map[uint64]*stream),
		scratch:      make(map[uint64]uint64),
		fileWrite:    (*os.File).WriteAt,
		direct:       directFlag != 0,
		bufs:         [2]*roundBuf{newRoundBuf(), newRoundBuf()},
		disk:         disk{reserve: max(cmp.Or(opts.DiskReserve, DefaultDiskReserve), 0), free: -1},
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	l.rlog = ratelog.New(l.logger, 0)
	l.segmentBytes = max(min(l.segmentBytes, l.maxBytes/8), minSegmentBytes)
	l.metrics = newMetrics(l)
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("intake: create %s: %w", dir, err)
	}
	lock, err := dirlock.Lock(filepath.Join(dir, lockName), filePerm)
	if errors.Is(err, dirlock.ErrLocked) {
		err = ErrInUse
	}
	if err != nil {
		return nil, fmt.Errorf("intake: lock %s: %w", dir, err)
	}
	l.lock = lock
	if err := l.open(); err != nil {
		l.closeFiles()
		return nil, err
	}
	if err := l.metrics.register(opts.Registerer); err != nil {
		l.closeFiles()
		return nil, err
	}
	return l, nil
}

// open recovers the segments in l.dir and starts the first segment of this run.
func (l *Log) open() error {
	d, err := os.Open(l.dir)
	if err != nil {
		return fmt.Errorf("intake: open %s: %w", l.dir, err)
	}
	l.dirFile = d
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("intake: list %s: %w", l.dir, err)
	}
	var nums []uint64
	for _, name := range names {
		if n, ok := parseSegmentName(name); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)

	var (
		rec     recovery
		buf     []byte
		runs    []Run
		next    uint64 // the next stream number, from headers and what entries and markers use
		entries int64
	)
	rec.l = l
	for _, num := range nums {
		seg := &segment{num: num}
		l.segs = append(l.segs, seg)
		var err error
		buf, err = rec.segment(seg, buf, func(r record) {
			switch r.kind {
			case kindEntry:
				entries++
				next = max(next, r.entry.Stream+1)
				l.recoverEntry(seg, &r.entry)
			case kindRelease:
				decodeRelease(r.body, func(run Run) {
					next = max(next, run.Stream+1)
					runs = append(runs, run)
				})
			}
		}, func(n uint64) { next = max(next, n) })
		if err != nil {
			return err
		}
	}
	for _, run := range runs {
		l.releaseRun(run)
	}
	l.nextStream.Store(next)
	unreleased := int64(0)
	for _, seg := range l.segs {
		unreleased += seg.unreleased
	}
	if len(nums) > 0 {
		l.logger.Info("intake log recovered", slog.String(logKeyDir, l.dir), slog.Int("segments", len(nums)),
			slog.Int64("entries", entries), slog.Int64("unreleased", unreleased),
			slog.Int("damaged", rec.damaged), slog.Int("torn_tails", rec.torn))
	}
	first := uint64(1)
	if len(nums) > 0 {
		first = nums[len(nums)-1] + 1
	}
	l.firstOwn = first
	l.buf, l.cuts = l.bufs[l.cur].newBytes(), []cut{{}}
	l.startSegmentLocked(first)
	l.measureDiskLocked(0)
	return l.removeReleased()
}

// recovery reads the segments of an earlier run for Open.
type recovery struct {
	l       *Log
	damaged int // damaged stretches skipped
	torn    int // tails cut
}

// segment scans the segment file of seg, calling fn for each intact record and header for its
// header's next stream number, counting and logging damage, and cutting a damaged tail. It sets
// seg.bytes and returns the scan buffer for reuse.
func (r *recovery) segment(seg *segment, buf []byte, fn func(record), header func(uint64)) ([]byte, error) {
	l := r.l
	name := segmentName(seg.num)
	f, err := os.OpenFile(l.path(seg.num), os.O_RDWR, 0)
	if err != nil {
		return buf, fmt.Errorf("intake: recover %s: %w", name, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return buf, fmt.Errorf("intake: recover %s: %w", name, err)
	}
	tail := int64(-1)
	s, next, ok := newScanner(f, info.Size(), buf, func(d damage) {
		kind := damageEntry
		switch {
		case d.padding:
			tail = d.off // the zeros a round written with O_DIRECT left: not damage
			return
		case d.tail:
			kind, tail = damageTail, d.off
			r.torn++
			l.rlog.Error("intake segment has a torn or damaged tail, cut: the entries in it are lost",
				slog.String(logKeySegment, name), slog.Int64(logKeyOffset, d.off), slog.Int64("size", info.Size()))
		default:
			r.damaged++
			l.rlog.Error("intake segment has a damaged entry, skipped: the entries after it are recovered",
				slog.String(logKeySegment, name), slog.Int64(logKeyOffset, d.off))
		}
		l.metrics.corrupt.WithLabelValues(kind).Inc()
	})
	if info.Size() > 0 && !ok {
		l.metrics.corrupt.WithLabelValues(damageHeader).Inc()
		l.rlog.Warn("intake segment header damaged or missing", slog.String(logKeySegment, name))
	}
	header(next)
	for {
		rec, ok := s.next()
		if !ok {
			break
		}
		fn(rec)
	}
	if err := s.Err(); err != nil {
		return s.buf, fmt.Errorf("intake: recover %s: %w", name, err)
	}
	seg.bytes = info.Size()
	if tail >= 0 {
		if err := f.Truncate(tail); err != nil {
			return s.buf, fmt.Errorf("intake: cut the tail of %s: %w", name, err)
		}
		if err := datasync(f); err != nil {
			return s.buf, fmt.Errorf("intake: cut the tail of %s: %w", name, err)
		}
		seg.bytes = tail
	}
	seg.onDisk = seg.bytes
	l.bytes += seg.bytes
	return s.buf, nil
}

// recoverEntry counts a recovered entry as unreleased, until the markers are applied.
func (l *Log) recoverEntry(seg *segment, e *Entry) {
	st := l.streams[e.Stream]
	if st == nil {
		st = &stream{}
		l.streams[e.Stream] = st
	}
	if n := len(st.spans); n > 0 && e.Seq <= st.spans[n-1].last {
		l.rlog.Warn("intake segment repeats an entry, ignored", slog.String(logKeySegment, segmentName(seg.num)),
			slog.Uint64("stream", e.Stream), slog.Uint64("seq", e.Seq))
		return
	}
	st.add(seg, e.Seq)
	seg.unreleased++
	seg.maxReceived = max(seg.maxReceived, e.Received.UnixNano())
}

// Replay calls fn, in append order, for every entry still not released that Open recovered or
// that was appended before the position upTo (0: none of this run's), with every field as
// appended; e.Message is valid only during the call. It first waits until the log has synced up
// to upTo, then reads the segments as it goes, holding one entry in memory at a time, while
// appends go on: a Replay while the log runs hands back what was appended before upTo and not
// released meanwhile. Replayed entries stay in the log until released, so a crash during or
// after a Replay replays them again. An error from fn, or ctx's while it waits for the sync,
// stops Replay and is returned; damaged stretches are skipped silently (Open counted them).
func (l *Log) Replay(ctx context.Context, upTo Position, fn func(Entry) error) error {
	if upTo > 0 {
		if err := l.WaitSynced(ctx, upTo); err != nil {
			return fmt.Errorf("intake: replay: %w", err)
		}
	}
	type part struct {
		num   uint64
		limit int64 // bytes of the file to read
	}
	l.mu.Lock()
	var parts []part
	for _, seg := range l.segs {
		switch {
		case seg.unreleased == 0:
		case seg.num < l.firstOwn:
			parts = append(parts, part{seg.num, seg.bytes})
		case seg.start < upTo:
			parts = append(parts, part{seg.num, min(seg.bytes, int64(upTo-seg.start))})
		}
	}
	l.mu.Unlock()
	var buf []byte
	for _, p := range parts {
		f, err := os.Open(l.path(p.num))
		if errors.Is(err, fs.ErrNotExist) {
			continue // released and removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("intake: replay %s: %w", segmentName(p.num), err)
		}
		err = l.replaySegment(f, p.limit, &buf, fn)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// replaySegment replays the unreleased entries of the first size bytes of f.
func (l *Log) replaySegment(f *os.File, size int64, buf *[]byte, fn func(Entry) error) error {
	s, _, _ := newScanner(io.LimitReader(f, size), size, *buf, func(damage) {})
	defer func() { *buf = s.buf }()
	for {
		rec, ok := s.next()
		if !ok {
			break
		}
		if rec.kind != kindEntry || !l.unreleased(rec.entry.Stream, rec.entry.Seq) {
			continue
		}
		if err := fn(rec.entry); err != nil {
			return err
		}
		l.metrics.replayed.Inc()
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("intake: replay %s: %w", filepath.Base(f.Name()), err)
	}
	return nil
}

// unreleased reports whether entry seq of stream is in the log and not released.
func (l *Log) unreleased(streamNum, seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.streams[streamNum]
	if st == nil {
		return false
	}
	_, found := slices.BinarySearchFunc(st.spans, seq, func(s span, seq uint64) int {
		switch {
		case s.last < seq:
			return -1
		case s.first > seq:
			return 1
		}
		return 0
	})
	return found
}
