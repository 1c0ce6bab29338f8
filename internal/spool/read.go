package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/gzip"

	// Named apart from the tests' record helper.
	records "github.com/kinesyslog/kinesyslog/internal/record"
)

// Read returns the content of a pending record. A record left by an earlier run is first checked
// to decompress intact: a crash or a bad disk may have damaged it, and one damaged gzip member
// would spoil every record delivered with it in the same S3 object. Records this Spool wrote and
// fsynced itself are not decompressed again: that check cost a fifth of the relay's CPU.
//
// When the record is damaged (a short file, a bad gzip header, CRC-32 or length trailer, trailing
// garbage, an I/O error while reading, or valid gzip of something that is not a record) Read moves it to quarantine/ and returns an error wrapping
// ErrCorrupt; when its file has vanished, Read forgets it and returns an error wrapping
// fs.ErrNotExist. In both cases the record is no longer pending. Any other error (such as too many
// open files) leaves the record pending, to be read again later.
func (s *Spool) Read(e Entry) ([]byte, error) {
	name := e.Name()
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.drop(e)
			s.logger.Error("spooled record vanished before it was sent", slog.String(logKeyFile, name))
		}
		return nil, fmt.Errorf("spool: read %s: %w", name, err)
	}
	defer f.Close()
	data := make([]byte, e.Size)
	_, err = io.ReadFull(f, data)
	if err == nil && e.Seq < s.firstOwn {
		err = s.verify(data)
	}
	if err != nil {
		s.quarantine(e, err.Error())
		return nil, fmt.Errorf("spool: read %s: %w: %w", name, ErrCorrupt, err)
	}
	return data, nil
}

// verify decompresses data, which must be one or more complete gzip members and nothing else,
// each holding one record (records.Check): valid gzip of anything else would reach the
// destination as a record.
func (s *Spool) verify(data []byte) error {
	zr, _ := s.gzips.Get().(*gzip.Reader)
	if zr == nil {
		zr = new(gzip.Reader)
	}
	defer s.gzips.Put(zr)
	in := bytes.NewReader(data)
	if err := zr.Reset(in); err != nil {
		return fmt.Errorf("gzip header: %w", err)
	}
	for member := 1; ; member++ {
		zr.Multistream(false)
		if err := records.Check(zr); err != nil {
			return fmt.Errorf("gzip member %d: %w", member, err)
		}
		switch err := zr.Reset(in); {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("gzip header of member %d: %w", member+1, err)
		}
	}
}

// Remove deletes records, typically once the destination acknowledged them, and syncs the
// directory so that they are not sent again after a crash. The records stop being pending even
// when deleting a file fails; the errors are returned joined.
func (s *Spool) Remove(entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if s.isClosed() {
		return ErrClosed
	}
	var errs []error
	for _, e := range entries {
		if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("spool: remove %s: %w", e.Name(), err))
		}
	}
	s.drop(entries...)
	if err := s.ops.sync(s.dirFile); err != nil {
		errs = append(errs, fmt.Errorf("spool: fsync directory %s: %w", s.dir, err))
	}
	return errors.Join(errs...)
}

// Quarantine takes a record the consumer can never deliver out of the queue: its file is moved
// to quarantine/ for an operator to inspect, and the reason is logged as an error. The record
// stops being pending even when moving the file fails; that error is returned.
func (s *Spool) Quarantine(e Entry, reason string) error {
	if s.isClosed() {
		return ErrClosed
	}
	return s.quarantine(e, reason)
}

func (s *Spool) quarantine(e Entry, reason string) error {
	s.drop(e)
	s.metrics.quarantined.Inc()
	name := e.Name()
	err := os.Mkdir(filepath.Join(s.dir, QuarantineDir), dirPerm)
	if err == nil || errors.Is(err, fs.ErrExist) {
		err = os.Rename(filepath.Join(s.dir, name), filepath.Join(s.dir, QuarantineDir, name))
	}
	if err != nil {
		s.logger.Error("record taken out of the queue, but cannot be moved to quarantine; it will be tried again after a restart",
			slog.String(logKeyFile, name), slog.String(logKeyReason, reason), slog.Any(logKeyError, err))
		return fmt.Errorf("spool: quarantine %s: %w", name, err)
	}
	s.logger.Error("record moved to quarantine and will not be sent",
		slog.String(logKeyFile, filepath.Join(QuarantineDir, name)), slog.String(logKeyReason, reason))
	return nil
}

// drop forgets records and wakes writers waiting for space.
func (s *Spool) drop(entries ...Entry) {
	gone := make(map[uint64]bool, len(entries))
	for _, e := range entries {
		gone[e.Seq] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.entries[:0]
	for _, e := range s.entries {
		if gone[e.Seq] {
			s.bytes -= e.Size
			continue
		}
		kept = append(kept, e)
	}
	if len(kept) == len(s.entries) {
		return
	}
	clear(s.entries[len(kept):])
	s.entries = kept
	s.signalFreedLocked()
}

func (s *Spool) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
