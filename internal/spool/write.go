package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/backoff"
)

// Delays between attempts to write to a full disk. Removals wake waiting writers at once; the
// timer covers space freed by something other than the uploader.
const (
	diskFullRetryBase = 250 * time.Millisecond
	diskFullRetryMax  = 10 * time.Second
)

// Write stores record durably. When it returns nil the record is on disk under its final name
// and the directory entry is synced: it survives a crash and will be returned by Pending.
//
// Write blocks while the spool is at Options.MaxBytes, and while the disk is full, until space
// is freed; when ctx is done first it returns an error wrapping ErrFull and ctx.Err(). Any other
// failure (an I/O error, a read-only file system) is returned at once, wrapped; the caller may
// retry. On every failure the temporary file is removed and no record is left under a final
// name.
func (s *Spool) Write(ctx context.Context, record []byte) error {
	return s.WriteGroup(ctx, [][]byte{record})
}

// WriteGroup stores records durably, in order, as Write does each of them, but with one pass of
// fsyncs and one fsync of the directory for the whole group instead of one of each per record:
// on ext4 and XFS the first fsync commits the journal for every file of the group, so a group
// of small records costs little more than one of them. It is all or nothing: when it returns
// nil every record is pending, and on failure none is and no file is left behind. The group's
// files are open at once, so a group should hold at most a few hundred records; it waits, and
// fails, as Write does, for the size of the whole group.
func (s *Spool) WriteGroup(ctx context.Context, records [][]byte) error {
	var size int64
	for _, r := range records {
		if len(r) == 0 {
			return errors.New("spool: write: empty record")
		}
		size += int64(len(r))
	}
	if len(records) == 0 {
		return nil
	}
	if s.maxBytes > 0 && size > s.maxBytes {
		return fmt.Errorf("spool: write: %d records of %d bytes can never fit the spool cap of %d bytes", len(records), size, s.maxBytes)
	}
	if err := s.reserve(ctx, size); err != nil {
		return err
	}
	defer s.writes.Done()

	bo := backoff.Backoff{Base: diskFullRetryBase, Max: diskFullRetryMax}
	for {
		entries, err := s.writeFiles(records)
		if err == nil {
			s.commit(entries)
			return nil
		}
		s.metrics.writeErrors.Inc()
		if !isDiskFull(err) {
			s.release(size)
			return err
		}
		s.setDiskFull(err)
		if werr := s.waitDiskSpace(ctx, &bo); werr != nil {
			s.release(size)
			return fmt.Errorf("spool: write: %w: %w (last error: %w)", ErrFull, werr, err)
		}
	}
}

// reserve counts size against the cap, waiting while it does not fit, and registers the write
// with Close: the caller must call s.writes.Done when the write is over.
func (s *Spool) reserve(ctx context.Context, size int64) error {
	waiting := false
	defer func() {
		if waiting {
			s.stopWaiting()
		}
	}()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		if s.maxBytes == 0 || s.bytes+s.reserved+size <= s.maxBytes {
			s.reserved += size
			s.writes.Add(1)
			if s.full && !waiting {
				s.full = false
				s.logger.Info("spool has room again", slog.String(logKeyDir, s.dir),
					slog.Int64(logKeyBytes, s.bytes), slog.Int64("max_bytes", s.maxBytes))
			}
			s.mu.Unlock()
			return nil
		}
		if !s.full {
			s.full = true
			s.logger.Warn("spool full: writers wait for the uploader to free space",
				slog.String(logKeyDir, s.dir), slog.Int64(logKeyBytes, s.bytes), slog.Int64("max_bytes", s.maxBytes))
		}
		freed := s.freed
		s.mu.Unlock()
		if !waiting {
			waiting = true
			s.startWaiting()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("spool: write: %w: %w", ErrFull, ctx.Err())
		case <-freed:
		}
	}
}

// release returns the reservation of a write that failed and lets waiting writers try again.
func (s *Spool) release(size int64) {
	s.mu.Lock()
	s.reserved -= size
	s.signalFreedLocked()
	s.mu.Unlock()
}

// writeFiles writes each record to a temporary file, syncs them all, renames them to their
// final names and syncs the directory. On failure nothing is left behind.
func (s *Spool) writeFiles(records [][]byte) ([]Entry, error) {
	temps := make([]string, 0, len(records))
	removeTemps := func() {
		for _, tmp := range temps {
			os.Remove(tmp)
		}
	}
	files := make([]*os.File, 0, len(records))
	closeFiles := func() {
		for _, f := range files {
			f.Close()
		}
	}
	for _, record := range records {
		f, err := os.CreateTemp(s.dir, tempPrefix+"*")
		if err != nil {
			closeFiles()
			removeTemps()
			return nil, fmt.Errorf("spool: create temporary file: %w", err)
		}
		temps = append(temps, f.Name())
		files = append(files, f)
		if _, err := s.ops.write(f, record); err != nil {
			closeFiles()
			removeTemps()
			return nil, fmt.Errorf("spool: write %s: %w", f.Name(), err)
		}
	}
	if err := s.syncFiles(files); err != nil {
		closeFiles()
		removeTemps()
		return nil, err
	}
	for i, f := range files {
		files[i] = nil
		if err := f.Close(); err != nil {
			closeFiles()
			removeTemps()
			return nil, fmt.Errorf("spool: close %s: %w", f.Name(), err)
		}
	}

	s.mu.Lock()
	now := time.UnixMilli(time.Now().UnixMilli())
	entries := make([]Entry, len(records))
	for i, record := range records {
		entries[i] = Entry{Seq: s.next, Size: int64(len(record)), Time: now}
		s.next++
		s.renaming[entries[i].Seq] = struct{}{}
	}
	s.mu.Unlock()

	for i, tmp := range temps {
		final := filepath.Join(s.dir, entries[i].Name())
		if err := s.ops.rename(tmp, final); err != nil {
			s.removeFinals(entries[:i])
			removeTemps()
			s.abandon(entries)
			return nil, fmt.Errorf("spool: rename %s: %w", tmp, err)
		}
	}
	if err := s.ops.sync(s.dirFile); err != nil {
		// The caller will write the records again: these copies must not be sent as well.
		s.removeFinals(entries)
		s.abandon(entries)
		return nil, fmt.Errorf("spool: fsync directory %s: %w", s.dir, err)
	}
	return entries, nil
}

// syncFiles makes the data of files durable: one syncfs(2) for a group where the system has it,
// else, and for a lone record (whose fsync does not write back what others left dirty), an fsync
// of each.
func (s *Spool) syncFiles(files []*os.File) error {
	if len(files) > 1 && s.ops.syncFS != nil {
		if err := s.ops.syncFS(s.dirFile); err != nil {
			return fmt.Errorf("spool: syncfs %s: %w", s.dir, err)
		}
		return nil
	}
	for _, f := range files {
		if err := s.ops.sync(f); err != nil {
			return fmt.Errorf("spool: fsync %s: %w", f.Name(), err)
		}
	}
	return nil
}

// removeFinals removes the files of entries whose write failed after their rename.
func (s *Spool) removeFinals(entries []Entry) {
	for _, e := range entries {
		os.Remove(filepath.Join(s.dir, e.Name()))
	}
}

// abandon gives up the Seqs of a failed write, releasing the records held back behind them.
func (s *Spool) abandon(entries []Entry) {
	s.mu.Lock()
	for _, e := range entries {
		delete(s.renaming, e.Seq)
	}
	s.mu.Unlock()
	s.signalReady()
}

func (s *Spool) signalReady() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// commit makes written records pending and tells the consumer.
func (s *Spool) commit(entries []Entry) {
	var size int64
	s.mu.Lock()
	for _, e := range entries {
		size += e.Size
		s.reserved -= e.Size
		s.bytes += e.Size
		// Concurrent writes can finish out of Seq order; the new entry nearly always goes last.
		i := len(s.entries)
		for i > 0 && s.entries[i-1].Seq > e.Seq {
			i--
		}
		s.entries = append(s.entries, Entry{})
		copy(s.entries[i+1:], s.entries[i:])
		s.entries[i] = e
		delete(s.renaming, e.Seq)
	}
	if s.diskFull {
		s.diskFull = false
		s.logger.Info("spool disk has room again", slog.String(logKeyDir, s.dir))
	}
	s.mu.Unlock()
	s.metrics.writes.Add(float64(len(entries)))
	s.metrics.writtenBytes.Add(float64(size))
	s.signalReady()
}

// startWaiting counts a writer waiting for space and wakes the consumer: records it holds back
// for a fuller batch must go now, since no more will come until space is freed.
func (s *Spool) startWaiting() {
	s.mu.Lock()
	s.waiting++
	s.mu.Unlock()
	s.signalReady()
	// Counted once the consumer is woken, so that whoever sees the gauge rise can rely on it.
	s.metrics.blockedWrites.Inc()
}

func (s *Spool) stopWaiting() {
	s.mu.Lock()
	s.waiting--
	s.mu.Unlock()
	s.metrics.blockedWrites.Dec()
}

// Waiting reports whether writers are waiting for space: the spool is at Options.MaxBytes or the
// disk is full. A consumer that holds records back to send them in fuller batches must then send
// them at once: a full disk may hold fewer records than make a full batch.
func (s *Spool) Waiting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting > 0
}

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func (s *Spool) setDiskFull(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.diskFull {
		s.diskFull = true
		s.logger.Warn("spool disk full: writers wait for space", slog.String(logKeyDir, s.dir),
			slog.Any(logKeyError, err))
	}
}

// waitDiskSpace waits until records are removed, the backoff delay passed, ctx is done or the
// spool is closed.
func (s *Spool) waitDiskSpace(ctx context.Context, bo *backoff.Backoff) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	freed := s.freed
	s.mu.Unlock()

	s.startWaiting()
	defer s.stopWaiting()
	t := time.NewTimer(bo.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-freed:
	case <-t.C:
	}
	return nil
}
