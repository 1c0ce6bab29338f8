package intake

import (
	"context"
	"log/slog"
	"time"
)

// DefaultDiskReserve is the free space the log leaves on its disk (Options.DiskReserve): room for
// the spool, which may share the disk, to write one group of records (256 records of at most
// 4 MiB together, the record that crosses that, up to 1 MB, and a file system block for each)
// from what the log already holds, so that entries are released and segments removed even when
// the disk is otherwise full.
const DefaultDiskReserve = 8 << 20

// rotateBytes is the size from which a fully released active segment is replaced by a new one,
// so that it can be removed and its space comes back; below it the space is not worth a file.
const rotateBytes = 64 << 10

// diskSegments is how many segments the room above the reserve at Open holds at least: segments
// are removed whole, so on a small disk they must be small for space to come back in steps while
// their entries are released, not all at once when every entry of one large segment is.
const diskSegments = 8

// minDiskSegmentBytes is the smallest segment size diskSegments makes: below it, the creation and
// removal of files (each with a directory sync) would cost more than the steps are worth.
const minDiskSegmentBytes = 1 << 20

// diskPoll is how often an append waiting for free disk space looks again: the space is freed by
// others (the spool's uploads), who do not tell the log.
const diskPoll = 100 * time.Millisecond

// disk is what the log last measured of the free space of its disk.
type disk struct {
	reserve int64     // bytes to leave free; 0: none
	free    int64     // bytes free at the measurement; -1: not known
	at      Position  // what the log had written when it measured
	short   bool      // appends wait for space; logged on change
	checked time.Time // when it measured
}

// measureDiskLocked measures the free space of the log's disk, counting the log's bytes up to
// covered as written. The caller holds mu.
func (l *Log) measureDiskLocked(covered Position) {
	free, err := l.measureDisk(l.disk.reserve)
	l.noteDiskLocked(free, err, covered)
}

// measureDisk returns the free space of the log's disk, without the lock (a system call); 0 when
// the log keeps no reserve. The caller read reserve (l.disk.reserve) under mu.
func (l *Log) measureDisk(reserve int64) (int64, error) {
	if reserve == 0 {
		return 0, nil
	}
	return freeBytes(l.dirFile)
}

// noteDiskLocked records free (or the error measuring it) as the free space of the log's disk
// once the log's bytes up to covered were written. The first measurement (Open's) bounds the
// segment size to a diskSegments'th of the room above the reserve. The caller holds mu.
func (l *Log) noteDiskLocked(free int64, err error, covered Position) {
	if l.disk.reserve == 0 {
		return
	}
	if err != nil {
		l.disk.free = -1
		return
	}
	if l.disk.checked.IsZero() {
		l.segmentBytes = min(l.segmentBytes, max((free-l.disk.reserve)/diskSegments, minDiskSegmentBytes))
	}
	l.disk.free, l.disk.at, l.disk.checked = free, covered, time.Now()
}

// diskShortLocked reports whether appending n more bytes would leave less than the reserve free
// on the log's disk, counting what is appended and not yet written as taken. When it would, it
// asks at once for the flushes that unpin the oldest segment (askFlushLocked): the space comes
// back as their records are spooled and the segments removed, within a second or two, instead of
// when those batches fill or reach their flush age. The caller holds mu.
func (l *Log) diskShortLocked(n int64) bool {
	if l.disk.reserve == 0 || l.disk.free < 0 {
		return false
	}
	short := l.diskFreeLocked()-n < l.disk.reserve
	if short != l.disk.short {
		l.disk.short = short
		if !short {
			l.logger.Info("intake log: disk has room again", slog.String(logKeyDir, l.dir))
		}
	}
	if short {
		l.askFlushLocked()
	}
	return short
}

// diskFree returns the free bytes of the log's disk as last measured, less what the log appended
// since; -1 when not known.
func (l *Log) diskFree() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.disk.free < 0 {
		return -1
	}
	return l.diskFreeLocked()
}

// diskFreeLocked is diskFree once the free space is known. The caller holds mu.
func (l *Log) diskFreeLocked() int64 { return l.disk.free - int64(l.appended-l.disk.at) }

// rotateReleasedLocked starts a new segment when the one appends go to holds no unreleased
// entry and at least rotateBytes, so that the next round moves on to it and the old one, fully
// released, is removed with the released prefix: an idle log gives its space back. The caller
// holds mu and the writer's slot.
func (l *Log) rotateReleasedLocked() {
	last := l.segs[len(l.segs)-1]
	if l.closed || last.unreleased > 0 || last.bytes < rotateBytes {
		return
	}
	wasEmpty := len(l.buf) == 0
	l.startSegmentLocked(last.num + 1)
	if wasEmpty {
		l.pendingSince = time.Now()
		l.wake()
	}
}

// WaitRoom returns once n more bytes would be appended without waiting: the log is under its
// cap, its disk above the reserve and the disk keeps up, as Append would wait for; or ctx's
// error, ErrClosed or the error that stopped the log. n counts as at most a quarter of
// Options.MaxBytes, the largest batch Append takes. A listener calls it before it reads from a
// socket, so that what it reads is appended at once rather than held in memory while the log
// cannot take it.
func (l *Log) WaitRoom(ctx context.Context, n int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waitRoomLocked(ctx, min(n, l.maxBytes/4))
}
