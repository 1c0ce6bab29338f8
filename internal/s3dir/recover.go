package s3dir

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// recover publishes every object a crash left in .inprogress, cut to its committed length, and
// removes what holds nothing committed. It goes on past a failing object so that one bad file
// does not hold back the others, and reports every failure.
func (s *Destination) recover() error {
	entries, err := os.ReadDir(s.inprogress)
	if err != nil {
		return fmt.Errorf("s3dir: recover: %w", err)
	}
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		present[e.Name()] = true
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		base, isSidecar := strings.CutSuffix(name, commitSuffix)
		switch created, ok := parseName(base); {
		case name == lockName:
		case !ok || !e.Type().IsRegular():
			s.log.Warn("s3dir: ignoring unknown file in progress directory",
				slog.String(attrObject, filepath.Join(s.inprogress, name)))
		case isSidecar:
			// Its object was published and the crash came before the sidecar was removed.
			if !present[base] {
				errs = append(errs, removeFile(filepath.Join(s.inprogress, name)))
			}
		default:
			errs = append(errs, s.recoverObject(name, created))
		}
	}
	return errors.Join(errs...)
}

// recoverObject publishes the object name left in progress, cut to its committed length.
func (s *Destination) recoverObject(name string, created time.Time) error {
	o := &object{name: name, path: filepath.Join(s.inprogress, name), created: created}
	committed, err := readCommitted(o.commitPath())
	if err != nil {
		return fmt.Errorf("s3dir: recover %s: %w", name, err)
	}
	if o.data, err = os.OpenFile(o.path, os.O_RDWR, 0); err != nil {
		return fmt.Errorf("s3dir: recover %s: %w", name, err)
	}
	info, err := o.data.Stat()
	if err != nil {
		return errors.Join(fmt.Errorf("s3dir: recover %s: %w", name, err), o.close())
	}
	if committed > info.Size() {
		// An append failed after its commit was written, and rollback cut the file back to
		// the last acknowledged record.
		s.log.Warn("s3dir: object in progress shorter than committed; keeping all of it",
			slog.String(attrObject, name), slog.Int64(attrBytes, info.Size()))
		committed = info.Size()
	}
	o.size = committed
	if committed == 0 {
		// The crash came before the first call into this object returned: nothing in it
		// was acknowledged.
		err := errors.Join(o.close(), removeFile(o.path), removeFile(o.commitPath()), syncDir(s.inprogress))
		if err != nil {
			return fmt.Errorf("s3dir: recover %s: %w", name, err)
		}
		s.log.Info("s3dir: removed object in progress with nothing committed",
			slog.String(attrObject, name), slog.Int64(attrTornBytes, info.Size()))
		return nil
	}
	if torn := info.Size() - committed; torn > 0 {
		if err := o.rollback(); err != nil {
			return errors.Join(err, o.close())
		}
		s.log.Warn("s3dir: cut unacknowledged records torn by a crash",
			slog.String(attrObject, name), slog.Int64(attrTornBytes, torn))
	}
	renamed, err := s.publish(o)
	if !renamed {
		err = errors.Join(err, o.close())
	}
	if err != nil {
		return err
	}
	s.log.Info("s3dir: published object left in progress",
		slog.String(attrObject, o.key()), slog.Int64(attrBytes, committed))
	return nil
}

// readCommitted returns the committed length in the sidecar at path: zero when the sidecar is
// missing or holds no intact commit.
func readCommitted(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return decodeCommitted(b), nil
}

// removeFile removes path, which may already be gone.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("s3dir: %w", err)
	}
	return nil
}
