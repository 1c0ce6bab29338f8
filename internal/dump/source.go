package dump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kinesyslog/kinesyslog/internal/s3read"
)

// Path prints the records of the file or directory p, or of stdin when p is "-". It goes on
// after a file it cannot read, and returns the errors of all of them; a *WriteError stops it.
// Symbolic links to files are read; inside a directory, links to directories are not followed,
// which rules out cycles. Files of Firehose's layout (YYYY/MM/DD/HH/NAME) delivered too early to
// hold events from Filter.Since on are skipped unread.
func (p *Printer) Path(path string, stdin io.Reader) error {
	if path == "-" {
		return p.Records(stdin, "stdin")
	}
	root := path
	if fi, err := os.Stat(path); err != nil {
		return fmt.Errorf("dump: %w", err)
	} else if !fi.IsDir() {
		return p.file(path)
	}
	// WalkDir does not descend into a root that is a link to a directory.
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if root, err = filepath.EvalSymlinks(path); err != nil {
			return fmt.Errorf("dump: %w", err)
		}
	}
	var errs []error
	err := filepath.WalkDir(root, func(name string, e fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, fmt.Errorf("dump: %w", err))
			return nil
		}
		if e.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(name)
			if err != nil {
				errs = append(errs, fmt.Errorf("dump: %w", err))
				return nil
			}
			if !fi.Mode().IsRegular() {
				return nil
			}
		} else if !e.Type().IsRegular() {
			return nil
		}
		if rel, err := filepath.Rel(root, name); err == nil && !s3read.MayHold(filepath.ToSlash(rel), p.since) {
			return nil
		}
		return skip(&errs, p.file(name))
	})
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

func (p *Printer) file(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	defer f.Close()
	return p.Records(f, name)
}

// S3 prints the records of the objects of l, in key order, read through b. Hours of Firehose's
// layout delivered too early to hold events from Filter.Since on are neither listed nor read. It
// goes on after an object it cannot read and returns the errors of all of them; a *WriteError
// or a listing that fails stops it.
func (p *Printer) S3(ctx context.Context, b *s3read.Bucket, l s3read.Location) error {
	var errs []error
	keep := func(key string) bool { return s3read.MayHold(key, p.since) }
	err := b.Objects(ctx, l, l.StartAfter(p.since), keep, func(o s3read.Object) error {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("dump: %w", o.Err))
			return nil
		}
		return skip(&errs, p.Records(o.Body, "s3://"+l.Bucket+"/"+o.Key))
	})
	if err != nil {
		if _, ok := errors.AsType[*WriteError](err); ok {
			return err
		}
		errs = append(errs, fmt.Errorf("dump: %w", err))
	}
	return errors.Join(errs...)
}

// skip keeps err, a source that could not be read, in *errs and returns nil, so that the next
// source is read; a *WriteError it returns, since nothing more can be printed.
func skip(errs *[]error, err error) error {
	if _, ok := errors.AsType[*WriteError](err); ok {
		return err
	}
	if err != nil {
		*errs = append(*errs, err)
	}
	return nil
}
