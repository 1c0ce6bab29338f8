package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

func (a *app) dumpCommand() *cobra.Command {
	var d dumper
	cmd := &cobra.Command{
		Use:   "dump PATH...",
		Short: "Print the events of delivered objects or spool files",
		Long: `Print the events of objects Firehose delivered to S3, of files written with --output, or of
spool files: each holds gzip-compressed records, one gzip member per record. A directory is
read recursively in name order; "-" reads standard input.

Each event's message is printed as received, followed by a newline (a message that holds
newlines spans several lines); with --json each record is printed whole, as one JSON line.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("dump: give at least one PATH: a file, a directory, or - for stdin")
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			d.out = bufio.NewWriter(a.stdout)
			var errs []error
			for _, p := range args {
				err := d.path(p, a.stdin)
				if _, ok := errors.AsType[writeError](err); ok {
					return failure{err}
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			if err := d.out.Flush(); err != nil {
				return failure{writeError{err}}
			}
			if len(errs) > 0 {
				return failure{errors.Join(errs...)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&d.json, "json", false, "print each record as one JSON line")
	cmd.Flags().StringVar(&d.group, "group", "", "print only the records whose logGroup is `GROUP`, e.g. /kinesyslog/syslog/514")
	return cmd
}

// dumper prints records. A file it cannot read is reported and skipped; a failure to write
// stops it, since nothing more could be printed.
type dumper struct {
	json  bool
	group string
	out   *bufio.Writer
}

// writeError is a failure to write the output.
type writeError struct{ error }

func (e writeError) Unwrap() error { return e.error }

// path prints the records of the file or directory p, or of stdin when p is "-". It goes on
// after a file it cannot read, and returns the errors of all of them. Symbolic links to files are
// read; inside a directory, links to directories are not followed, which rules out cycles.
func (d *dumper) path(p string, stdin io.Reader) error {
	if p == "-" {
		return d.records(stdin, "stdin")
	}
	root := p
	if fi, err := os.Stat(p); err != nil {
		return fmt.Errorf("dump: %w", err)
	} else if !fi.IsDir() {
		return d.file(p)
	}
	// WalkDir does not descend into a root that is a link to a directory.
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if root, err = filepath.EvalSymlinks(p); err != nil {
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
		err = d.file(name)
		if _, ok := errors.AsType[writeError](err); ok {
			return err
		}
		if err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

func (d *dumper) file(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	defer f.Close()
	return d.records(f, name)
}

// records prints the records read from r; name says where from in errors.
func (d *dumper) records(r io.Reader, name string) error {
	rd := record.NewReader(r)
	enc := json.NewEncoder(d.out)
	// Messages are syslog: keep their '<', '>' and '&' readable.
	enc.SetEscapeHTML(false)
	for n := 1; ; n++ {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dump: %s: record %d: %w", name, n, err)
		}
		if d.group != "" && rec.LogGroup != d.group {
			continue
		}
		if d.json {
			err = enc.Encode(rec)
		} else {
			for _, ev := range rec.LogEvents {
				// bufio.Writer keeps its first error and returns it from every later call, so
				// checking WriteByte checks WriteString too.
				d.out.WriteString(ev.Message)
				if err = d.out.WriteByte('\n'); err != nil {
					break
				}
			}
		}
		if err != nil {
			return writeError{fmt.Errorf("dump: write: %w", err)}
		}
	}
}
