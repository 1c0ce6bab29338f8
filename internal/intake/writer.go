package intake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"
)

// flushRepeat is how often FlushRequests repeats the same time while the oldest segment stays
// pinned.
const flushRepeat = time.Second

// Run is the group-commit loop: it writes what was appended and fdatasyncs it, one sync for
// everything appended since the last, as soon as someone waits in WaitSynced and otherwise
// within Options.SyncInterval of the first pending append; then it removes the fully released
// oldest segments. It never holds the append lock while writing or syncing: appends go on into a
// second buffer meanwhile. Run returns nil, after a last write and sync, when ctx is done or the
// log is closed, and the error (also returned to every later caller) when a write or sync fails.
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
			if err := l.writeRound(ctx); err != nil {
				if ctx.Err() != nil {
					return l.writeRound(context.Background())
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
			return l.writeRound(context.Background())
		case <-l.kick:
		case <-tick:
		}
		timer.Stop()
	}
}

// writeRound makes one round, once it holds the writer's slot or until ctx is done.
func (l *Log) writeRound(ctx context.Context) error {
	select {
	case l.writing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.writing }()
	if l.fileDone() {
		return nil
	}
	return l.round()
}

// fileDone reports whether Close made its last round; the caller holds the writer's slot.
func (l *Log) fileDone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done
}

// round writes and syncs what is pending, then removes released segments and asks for flushes;
// the caller holds the writer's slot.
func (l *Log) round() error {
	l.mu.Lock()
	if l.err != nil {
		defer l.mu.Unlock()
		return l.err
	}
	buf, cuts, end := l.buf, l.cuts, l.appended
	l.cuts[len(l.cuts)-1].end = len(buf)
	l.buf = l.spare[:0]
	l.cuts = append(l.spareCuts[:0], cut{seg: cuts[len(cuts)-1].seg})
	l.wantSync = false
	l.mu.Unlock()

	if len(buf) > 0 {
		began := time.Now()
		if err := l.write(buf, cuts); err != nil {
			l.fail(err)
			return err
		}
		l.metrics.sync.Observe(time.Since(began).Seconds())
	}
	l.mu.Lock()
	l.spare, l.spareCuts = buf, cuts
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

// write writes each stretch of buf to its segment, creating segment files as they come, and
// fdatasyncs them, with the directory when a file was created.
func (l *Log) write(buf []byte, cuts []cut) error {
	created := false
	start := 0
	for _, c := range cuts {
		chunk := buf[start:c.end]
		start = c.end
		if len(chunk) == 0 {
			continue
		}
		if c.seg != l.fileSeg {
			if err := l.closeFile(); err != nil {
				return err
			}
			name := l.path(c.seg.num)
			f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, filePerm)
			if err != nil {
				return fmt.Errorf("intake: create %s: %w", name, err)
			}
			l.file, l.fileSeg, created = f, c.seg, true
		}
		if _, err := l.file.Write(chunk); err != nil {
			return fmt.Errorf("intake: write %s: %w", l.file.Name(), err)
		}
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

// closeFile syncs and closes the segment file being written, if any.
func (l *Log) closeFile() error {
	if l.file == nil {
		return nil
	}
	f := l.file
	l.file = nil
	if err := datasync(f); err != nil {
		f.Close()
		return fmt.Errorf("intake: sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("intake: close %s: %w", f.Name(), err)
	}
	return nil
}

// fail stops the log after a write or sync error: what was not synced cannot be trusted to be on
// disk (the kernel may have dropped the dirty pages), so every caller gets the error from now on.
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
		if seg.unreleased > 0 || seg == l.fileSeg {
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

// askFlush sends on FlushRequests when the live log is past half its cap and the oldest segment
// is pinned by unreleased entries. The caller holds the writer's slot.
func (l *Log) askFlush() {
	l.mu.Lock()
	pinned := l.bytes > l.maxBytes/2 && len(l.segs) > 1 && l.segs[0].unreleased > 0
	t := int64(0)
	if pinned {
		t = l.segs[0].maxReceived
	}
	l.mu.Unlock()
	if !pinned || (t == l.flushT && time.Since(l.flushed) < flushRepeat) {
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
	err := l.round()
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
