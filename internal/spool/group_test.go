package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWriteGroup checks that a group of records is spooled in order with one syncfs (where the
// system has it) and one fsync of the directory for all of them, synced before any is renamed,
// and that a restart finds them all.
func TestWriteGroup(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	var calls []string
	s.ops.sync = func(f *os.File) error {
		if f == s.dirFile {
			calls = append(calls, "fsync directory")
		} else {
			calls = append(calls, "fsync")
		}
		return f.Sync()
	}
	wantCalls := []string{"fsync", "fsync", "fsync", "rename", "rename", "rename", "fsync directory"}
	if syncFS := s.ops.syncFS; syncFS != nil {
		s.ops.syncFS = func(dir *os.File) error {
			calls = append(calls, "syncfs")
			return syncFS(dir)
		}
		wantCalls = []string{"syncfs", "rename", "rename", "rename", "fsync directory"}
	}
	s.ops.rename = func(oldpath, newpath string) error {
		calls = append(calls, "rename")
		return os.Rename(oldpath, newpath)
	}
	want := [][]byte{record(t, "a"), record(t, "b"), record(t, "c")}
	if err := s.WriteGroup(context.Background(), want); err != nil {
		t.Fatalf("WriteGroup() = %v", err)
	}
	if !cmp.Equal(calls, wantCalls) {
		t.Errorf("calls = %q, want %q", calls, wantCalls)
	}
	if got := readAll(t, s); !cmp.Equal(got, want) {
		t.Errorf("records = %q, want %q", got, want)
	}
	s.Close(context.Background())
	again := open(t, dir, Options{})
	if got := readAll(t, again); !cmp.Equal(got, want) {
		t.Errorf("records after a restart = %q, want %q", got, want)
	}
}

// TestWriteGroupFailures injects an error at each step, on the second record of a group where a
// step is per record: the group is all or nothing, and nothing is left behind.
func TestWriteGroupFailures(t *testing.T) {
	errIO := fmt.Errorf("injected: %w", syscall.EIO)
	// second reports true on its second call only.
	second := func() func() bool {
		n := 0
		return func() bool { n++; return n == 2 }
	}
	tests := []struct {
		name   string
		inject func(s *Spool)
	}{
		{"write", func(s *Spool) {
			fail := second()
			s.ops.write = func(f *os.File, b []byte) (int, error) {
				if fail() {
					return 0, errIO
				}
				return f.Write(b)
			}
		}},
		{"fsync file", func(s *Spool) {
			s.ops.syncFS = nil
			fail := second()
			s.ops.sync = func(f *os.File) error {
				if f != s.dirFile && fail() {
					return errIO
				}
				return f.Sync()
			}
		}},
		{"syncfs", func(s *Spool) {
			s.ops.syncFS = func(*os.File) error { return errIO }
		}},
		{"rename", func(s *Spool) {
			fail := second()
			s.ops.rename = func(oldpath, newpath string) error {
				if fail() {
					return errIO
				}
				return os.Rename(oldpath, newpath)
			}
		}},
		{"fsync directory", func(s *Spool) {
			s.ops.sync = func(f *os.File) error {
				if f == s.dirFile {
					return errIO
				}
				return f.Sync()
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, t.TempDir(), Options{})
			tt.inject(s)
			err := s.WriteGroup(context.Background(), [][]byte{record(t, "a"), record(t, "b"), record(t, "c")})
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("WriteGroup() = %v, want the injected EIO", err)
			}
			if got := names(t, s.Dir()); len(got) != 0 {
				t.Errorf("files left after a failed group: %q", got)
			}
			if got := s.Len(); got != 0 {
				t.Errorf("Len() = %d, want 0", got)
			}
			if got := s.Pending(0, 10); len(got) != 0 {
				t.Errorf("Pending() = %v, want none", got)
			}
			// The failed group's Seqs hold nothing back.
			if err := s.Write(context.Background(), record(t, "later")); err == nil {
				if got := s.Pending(0, 10); len(got) != 1 {
					t.Errorf("Pending() after a later write = %v, want its record", got)
				}
			}
		})
	}
}
