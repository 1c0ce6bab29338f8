package intake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/backoff"
)

// flushRepeat is how often FlushRequests repeats the same time while the oldest segment stays
// pinned.
const flushRepeat = time.Second

// Run is the group-commit loop: it writes what was appended and fdatasyncs it, one sync for
// everything appended since the last, as soon as someone waits in WaitSynced and otherwise
// within Options.SyncInterval of the first pending append; then it removes the fully released
// oldest segments. It never holds the append lock while writing or syncing: appends go on into a
// second buffer meanwhile. Run returns nil, after a last write and sync, when ctx is done or the
// log is closed, and the error (also returned to every later caller) when a write or sync still
// fails once ctx is done (until then a failed round is tried again).
func (l *Log) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		closed, pending, wait := l.closed, len(l.buf) > 0, time.Duration(0)
		if pending && !l.wantSync {
			wait = l.syncInterval - time.Since(l.pendingSince)
		}
		l.mu.Unlock()
		if closed {
			return nil
		}
		if pending && wait <= 0 {
			if err := l.writeRound(ctx, false); err != nil {
				if ctx.Err() != nil {
					return l.writeRound(ctx, true)
				}
				return err
			}
			continue
		}
		var tick <-chan time.Time
		if pending {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return l.writeRound(ctx, true)
		case <-l.kick:
		case <-tick:
		}
		timer.Stop()
	}
}

// writeRound makes one round, once it holds the writer's slot or until ctx is done; the last
// round, once ctx is done, waits for the slot and makes a single attempt.
func (l *Log) writeRound(ctx context.Context, last bool) error {
	slot := ctx
	if last {
		slot = context.Background()
	}
	select {
	case l.writing <- struct{}{}:
	case <-slot.Done():
		return ctx.Err()
	}
	defer func() { <-l.writing }()
	if l.fileDone() {
		return nil
	}
	return l.round(ctx)
}

// fileDone reports whether Close made its last round; the caller holds the writer's slot.
func (l *Log) fileDone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done
}

// Delays between attempts of a round whose write or sync failed (a full disk, an I/O error).
const (
	retryBase = 10 * time.Millisecond
	retryMax  = time.Second
)

// round writes and syncs what is pending, then removes released segments and asks for flushes;
// the caller holds the writer's slot. A write or sync that fails is tried again, the whole
// round rewritten, with backoff until it succeeds (appends wait meanwhile, past maxPendingBytes)
// or ctx is done: then the log stops with the error.
func (l *Log) round(ctx context.Context) error {
	l.mu.Lock()
	if l.err != nil {
		defer l.mu.Unlock()
		return l.err
	}
	buf, cuts, end, reserve := l.buf, l.cuts, l.appended, l.disk.reserve
	l.zeroRoom = l.disk.reserve == 0 ||
		l.disk.free >= 0 && l.disk.free-int64(len(buf)) >= l.disk.reserve+2*zeroAheadBytes
	l.cuts[len(l.cuts)-1].end = len(buf)
	rb, next := l.bufs[l.cur], l.bufs[1-l.cur]
	next.startAfter(rb, buf, cuts)
	l.cur = 1 - l.cur
	l.buf = next.newBytes()
	l.cuts = append(l.spareCuts[:0], cut{seg: cuts[len(cuts)-1].seg})
	l.wantSync = false
	l.mu.Unlock()

	if len(buf) > 0 {
		if err := l.writeRetrying(ctx, rb, buf, cuts); err != nil {
			l.fail(err)
			return err
		}
	}
	// The disk is measured before the lock that every Append takes, not under it: the round's
	// bytes are written, and no other round writes while this one holds the writer's slot.
	free, ferr := l.measureDisk(reserve)
	l.mu.Lock()
	l.spareCuts = cuts
	l.noteDiskLocked(free, ferr, end)
	l.rotateReleasedLocked()
	if end > l.synced {
		l.synced = end
		close(l.syncedCh)
		l.syncedCh = make(chan struct{})
	}
	l.mu.Unlock()

	if err := l.removeReleased(); err != nil {
		l.rlog.Error("intake log: cannot remove a released segment; trying again later",
			slog.String(logKeyDir, l.dir), slog.Any(logKeyError, err))
	}
	l.askFlush()
	return nil
}

// writeRetrying writes and syncs buf, trying again with backoff until it succeeds or ctx is done.
// Each failure is counted and logged at a limited rate. Before another attempt, the file being
// written is dropped, so that the attempt reopens each segment of the round and cuts it back to
// what earlier rounds synced: a partial write leaves nothing behind.
func (l *Log) writeRetrying(ctx context.Context, rb *roundBuf, buf []byte, cuts []cut) error {
	bo := backoff.Backoff{Base: retryBase, Max: retryMax}
	failed := false
	for {
		began := time.Now()
		err := l.write(rb, buf, cuts)
		if errors.Is(err, errNoDirect) {
			l.useBuffered(err)
			err = l.write(rb, buf, cuts)
		}
		if err == nil {
			l.metrics.sync.Observe(time.Since(began).Seconds())
			if failed {
				l.setWriteErr(nil)
				l.logger.Info("intake log written again", slog.String(logKeyDir, l.dir))
			}
			for _, c := range cuts {
				c.seg.onDisk = c.seg.roundStart + c.seg.roundBytes
			}
			return nil
		}
		failed = true
		l.setWriteErr(err)
		l.metrics.writeErrors.Inc()
		l.rlog.Error("intake log: write failed; appends wait while it is tried again",
			slog.String(logKeyDir, l.dir), slog.Any(logKeyError, err))
		if l.file != nil {
			l.file.Close() // its unsynced pages cannot be trusted: the next attempt rewrites them
			l.file = nil
		}
		l.fileSeg = nil
		// Released segments give their space back even while this round cannot be written: on
		// a full disk, that may be what lets it.
		if rerr := l.removeReleased(); rerr != nil {
			l.rlog.Error("intake log: cannot remove a released segment; trying again later",
				slog.String(logKeyDir, l.dir), slog.Any(logKeyError, rerr))
		}
		if werr := bo.Wait(ctx); werr != nil {
			return fmt.Errorf("intake: write: giving up: %w (last error: %w)", werr, err)
		}
	}
}

// setWriteErr records the error of the last write, for Check; nil once one succeeds.
func (l *Log) setWriteErr(err error) {
	l.mu.Lock()
	l.writeErr = err
	l.mu.Unlock()
}

// write writes each stretch of buf, the new bytes of rb, to its segment, opening segment files
// as they come (cut back to what earlier rounds synced), and fdatasyncs them, with the directory
// when a file was created.
func (l *Log) write(rb *roundBuf, buf []byte, cuts []cut) error {
	created := false
	start := 0
	for _, c := range cuts {
		chunk := buf[start:c.end]
		start = c.end
		c.seg.roundStart, c.seg.roundBytes = c.seg.onDisk, int64(len(chunk))
		if len(chunk) == 0 {
			continue
		}
		if c.seg != l.fileSeg {
			if err := l.closeFile(); err != nil {
				return err
			}
			f, err := l.openSegmentFile(c.seg)
			if err != nil {
				return err
			}
			l.file, l.fileSeg, l.fileSize, l.fileEnd = f, c.seg, c.seg.onDisk, c.seg.onDisk
			if err := f.Truncate(c.seg.onDisk); err != nil {
				return fmt.Errorf("intake: truncate %s to %d bytes: %w", f.Name(), c.seg.onDisk, err)
			}
			created = created || c.seg.onDisk == 0
		}
		end := l.fileEnd
		if err := l.writeChunk(rb, c.seg, chunk, c.seg.onDisk, c.end == len(buf)); err != nil {
			return err
		}
		if l.fileEnd > end {
			l.zeroAhead(len(chunk))
		}
		l.fileSize += int64(len(chunk))
	}
	if err := datasync(l.file); err != nil {
		return fmt.Errorf("intake: sync %s: %w", l.file.Name(), err)
	}
	if created {
		if err := l.dirFile.Sync(); err != nil {
			return fmt.Errorf("intake: sync directory %s: %w", l.dir, err)
		}
	}
	return nil
}

// closeFile cuts the segment file being written, if any, to its entries (O_DIRECT rounds leave
// zeros after them), syncs and closes it.
func (l *Log) closeFile() error {
	if l.file == nil {
		return nil
	}
	f := l.file
	l.file = nil
	if l.direct {
		if err := f.Truncate(l.fileSize); err != nil {
			f.Close()
			return fmt.Errorf("intake: truncate %s to %d bytes: %w", f.Name(), l.fileSize, err)
		}
	}
	if err := datasync(f); err != nil {
		f.Close()
		return fmt.Errorf("intake: sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("intake: close %s: %w", f.Name(), err)
	}
	return nil
}

// fail stops the log after a write or sync error that was given up on (its round's context was
// done): what was not synced is not on disk, so every caller gets the error from now on.
func (l *Log) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
		l.logger.Error("intake log stopped: appends fail from now on", slog.String(logKeyDir, l.dir),
			slog.Any(logKeyError, err))
	}
	close(l.syncedCh)
	l.syncedCh = make(chan struct{})
	close(l.freedCh)
	l.freedCh = make(chan struct{})
}

// removeReleased removes the oldest segments while they hold no unreleased entry, oldest first
// and the directory synced after each, so that a segment never outlives one older than itself
// (whose release markers it may hold). The segment appends go to and the one being written stay.
// The caller holds the writer's slot (or is Open).
func (l *Log) removeReleased() error {
	l.mu.Lock()
	var gone []*segment
	for _, seg := range l.segs[:len(l.segs)-1] {
		// A segment with bytes not yet written would be created again by the next round.
		if seg.unreleased > 0 || seg == l.fileSeg || seg.onDisk < seg.bytes {
			break
		}
		gone = append(gone, seg)
	}
	l.mu.Unlock()
	var err error
	n, freed := 0, int64(0)
	for _, seg := range gone {
		if err = os.Remove(l.path(seg.num)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("intake: remove %s: %w", segmentName(seg.num), err)
			break
		}
		if err = l.dirFile.Sync(); err != nil {
			err = fmt.Errorf("intake: sync directory %s: %w", l.dir, err)
			break
		}
		n++
		freed += seg.bytes
	}
	if n == 0 {
		return err
	}
	l.mu.Lock()
	clear(l.segs[:n])
	l.segs = l.segs[n:]
	l.bytes -= freed
	close(l.freedCh)
	l.freedCh = make(chan struct{})
	l.mu.Unlock()
	return err
}

// askFlush is askFlushLocked for a round of Run.
func (l *Log) askFlush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.askFlushLocked()
}

// askFlushLocked sends on FlushRequests the latest Received of the oldest segment holding
// unreleased entries, when the live log is past half its cap with more than one segment, or when
// appends wait for disk space (then the segment may be the one appends go to: once released, it
// is rotated and removed). It never blocks. The caller holds mu.
func (l *Log) askFlushLocked() {
	if !l.disk.short && (l.bytes <= l.maxBytes/2 || len(l.segs) < 2) {
		return
	}
	i := slices.IndexFunc(l.segs, func(seg *segment) bool { return seg.unreleased > 0 })
	if i < 0 {
		return
	}
	t := l.segs[i].maxReceived
	if t == l.flushT && time.Since(l.flushed) < flushRepeat {
		return
	}
	l.flushT, l.flushed = t, time.Now()
	select {
	case <-l.flush: // replace a value not taken
	default:
	}
	select {
	case l.flush <- time.Unix(0, t):
	default:
	}
}

// Close writes and syncs what is pending, closes the files and unlocks the directory. Appends,
// Releases and waits fail with ErrClosed from its start; Run returns. It waits for a round in
// progress, up to ctx (a Close that gave up may be called again). Entries appended and not
// released stay for the next Open to replay.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	done := l.done
	l.closed = true
	l.mu.Unlock()
	if done {
		return nil
	}
	l.wake()
	select {
	case l.writing <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("intake: close: waiting for a write: %w", ctx.Err())
	}
	defer func() { <-l.writing }()
	if l.fileDone() {
		return nil
	}
	err := l.round(ctx)
	if cerr := l.closeFile(); err == nil {
		err = cerr
	}
	l.mu.Lock()
	l.done = true
	close(l.syncedCh)
	l.syncedCh = make(chan struct{})
	l.mu.Unlock()
	return errors.Join(err, l.closeFiles())
}

// closeFiles closes the directory and releases the lock.
func (l *Log) closeFiles() error {
	var errs []error
	if l.dirFile != nil {
		errs = append(errs, l.dirFile.Close())
	}
	if l.lock != nil {
		errs = append(errs, l.lock.Close())
	}
	return errors.Join(errs...)
}
