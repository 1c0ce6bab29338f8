package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// record returns a valid gzip member holding a record whose one event's message is payload.
func record(t testing.TB, payload string) []byte {
	t.Helper()
	return testenv.Gzip(t, fmt.Sprintf(`{"owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["g"],`+
		`"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":%q}]}`, payload))
}

func open(t testing.TB, dir string, opts Options) *Spool {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%q) = %v", dir, err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// readAll reads every pending record, oldest first.
func readAll(t testing.TB, s *Spool) [][]byte {
	t.Helper()
	var out [][]byte
	for _, e := range s.Pending(0, s.Len()) {
		b, err := s.Read(e)
		if err != nil {
			t.Fatalf("Read(%s) = %v", e.Name(), err)
		}
		out = append(out, b)
	}
	return out
}

// names lists the directory, without the lock file.
func names(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if de.Name() != lockName {
			out = append(out, de.Name())
		}
	}
	return out
}

func TestWriteReadRemove(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	want := [][]byte{record(t, "one"), record(t, "two"), record(t, "three")}
	for _, r := range want {
		if err := s.Write(context.Background(), r); err != nil {
			t.Fatalf("Write() = %v", err)
		}
	}
	if got := readAll(t, s); !cmp.Equal(got, want) {
		t.Errorf("records read back differ (-got +want):\n%s", cmp.Diff(got, want))
	}
	var size int64
	for _, r := range want {
		size += int64(len(r))
	}
	if got := s.Bytes(); got != size {
		t.Errorf("Bytes() = %d, want %d", got, size)
	}
	pending := s.Pending(0, 10)
	if got := s.Pending(pending[0].Seq, 10); !cmp.Equal(got, pending[1:]) {
		t.Errorf("Pending(after first) = %v, want %v", got, pending[1:])
	}
	if last, ok := s.Last(); !ok || last != pending[2] {
		t.Errorf("Last() = %v, %t, want %v, true", last, ok, pending[2])
	}
	if err := s.Remove(pending[:2]...); err != nil {
		t.Fatalf("Remove() = %v", err)
	}
	if got, want := names(t, s.Dir()), []string{pending[2].Name()}; !cmp.Equal(got, want) {
		t.Errorf("files after Remove = %v, want %v", got, want)
	}
	if got, want := s.Bytes(), int64(len(want[2])); got != want {
		t.Errorf("Bytes() after Remove = %d, want %d", got, want)
	}
}

func TestReadySignalsWrites(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	select {
	case <-s.Ready():
		t.Fatal("Ready() signalled before any write")
	default:
	}
	if err := s.Write(context.Background(), record(t, "x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Ready():
	default:
		t.Fatal("Ready() not signalled after a write")
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "spool")
	s := open(t, dir, Options{})
	if err := s.Write(context.Background(), record(t, "x")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode = %v, want 0700", got)
	}
	e := s.Pending(0, 1)[0]
	fi, err = os.Stat(filepath.Join(dir, e.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("record mode = %v, want 0600", got)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Run("parent is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(file, "spool")
		_, err := Open(dir, Options{})
		if want := "spool: create directory " + dir; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Open() = %v, want an error starting %q", err, want)
		}
	})
	t.Run("not writable", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		if f, err := os.CreateTemp(dir, "probe"); err == nil {
			f.Close()
			os.Remove(f.Name())
			t.Skip("permission bits do not stop this user (root) from writing")
		}
		_, err := Open(dir, Options{})
		want := fmt.Sprintf("spool: directory %s is not writable: ", dir)
		if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Open() = %v, want an error starting %q wrapping fs.ErrPermission", err, want)
		}
	})
	t.Run("in use", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir, Options{})
		if _, err := Open(dir, Options{}); !errors.Is(err, ErrInUse) {
			t.Errorf("second Open() = %v, want ErrInUse", err)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		open(t, dir, Options{})
	})
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	var want [][]byte
	for i := range 12 {
		r := record(t, fmt.Sprint("record ", i))
		want = append(want, r)
		if err := s.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := s.Last()
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	s = open(t, dir, Options{})
	if got := readAll(t, s); !cmp.Equal(got, want) {
		t.Errorf("records after restart differ (-got +want):\n%s", cmp.Diff(got, want))
	}
	if err := s.Write(context.Background(), record(t, "after restart")); err != nil {
		t.Fatal(err)
	}
	if next, _ := s.Last(); next.Seq <= last.Seq {
		t.Errorf("Seq after restart = %d, want above %d", next.Seq, last.Seq)
	}
}

// TestInterruptedWrite simulates a crash between creating the temporary file and renaming it.
func TestInterruptedWrite(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	complete := record(t, "complete")
	if err := s.Write(context.Background(), complete); err != nil {
		t.Fatal(err)
	}
	s.Close(context.Background())
	partial := record(t, "partial")[:7]
	for _, name := range []string{tempPrefix + "123", tempPrefix + "probe-9"} {
		if err := os.WriteFile(filepath.Join(dir, name), partial, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	s = open(t, dir, Options{})
	if got, want := readAll(t, s), [][]byte{complete}; !cmp.Equal(got, want) {
		t.Errorf("records = %q, want %q", got, want)
	}
	for _, name := range names(t, dir) {
		if strings.HasPrefix(name, tempPrefix) {
			t.Errorf("temporary file %s left after Open", name)
		}
	}
}

func TestForeignFilesLeftAlone(t *testing.T) {
	dir := t.TempDir()
	foreign := []string{"owner", "00000000000000000001.gz", "x-00000000000000000001-0000000000001.gz"}
	for _, name := range foreign {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not a record"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "00000000000000000002-0000000000001.gz"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, Options{})
	if got := s.Len(); got != 0 {
		t.Errorf("Len() = %d, want 0: foreign files taken for records", got)
	}
	for _, name := range foreign {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("foreign file %s: %v", name, err)
		}
	}
}

func TestParseName(t *testing.T) {
	e := Entry{Seq: 42, Time: time.UnixMilli(1718000000123)}
	if got, want := e.Name(), "00000000000000000042-1718000000123.gz"; got != want {
		t.Fatalf("Name() = %q, want %q", got, want)
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"round trip", e.Name(), true},
		{"largest seq", "18446744073709551615-1718000000123.gz", true},
		{"seq overflow", "18446744073709551616-1718000000123.gz", false},
		{"short seq", "0000000000000000042-1718000000123.gz", false},
		{"sign in time", "00000000000000000042-+718000000123.gz", false},
		{"other extension", "00000000000000000042-1718000000123.gzz", false},
		{"temporary", tempPrefix + "00000000000000000042-17180000001", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseName(tt.in)
			if ok != tt.ok {
				t.Fatalf("parseName(%q) ok = %t, want %t", tt.in, ok, tt.ok)
			}
			if ok && got.Name() != tt.in {
				t.Errorf("parseName(%q).Name() = %q", tt.in, got.Name())
			}
		})
	}
}

func TestCorruptRecordsQuarantined(t *testing.T) {
	good := record(t, "good")
	tests := []struct {
		name    string
		content []byte
	}{
		{"truncated", good[:len(good)-3]},
		{"bad crc", func() []byte {
			b := bytes.Clone(good)
			b[len(b)-5] ^= 0xff
			return b
		}()},
		{"not gzip", []byte("plain text")},
		{"trailing garbage", append(bytes.Clone(good), "junk"...)},
		{"gzip of text", testenv.Gzip(t, "plain text")},
		{"gzip of other JSON", testenv.Gzip(t, `{"version":"1.1","host":"h","short_message":"m"}`)},
		{"a record, then gzip of text", append(bytes.Clone(good), testenv.Gzip(t, "plain text")...)},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			bad := Entry{Seq: 1, Time: time.UnixMilli(1)}
			if err := os.WriteFile(filepath.Join(dir, bad.Name()), tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			s := open(t, dir, Options{})
			if err := s.Write(context.Background(), good); err != nil {
				t.Fatal(err)
			}
			pending := s.Pending(0, 10)
			if len(tt.content) > 0 {
				if _, err := s.Read(pending[0]); !errors.Is(err, ErrCorrupt) {
					t.Errorf("Read(corrupt) = %v, want ErrCorrupt", err)
				}
			}
			if got, want := readAll(t, s), [][]byte{good}; !cmp.Equal(got, want) {
				t.Errorf("pending records = %q, want only the good one", got)
			}
			moved, err := os.ReadFile(filepath.Join(dir, QuarantineDir, bad.Name()))
			if err != nil {
				t.Fatalf("corrupt record not in quarantine: %v", err)
			}
			if !bytes.Equal(moved, tt.content) {
				t.Errorf("quarantined content = %q, want %q", moved, tt.content)
			}
			if got, want := s.Bytes(), int64(len(good)); got != want {
				t.Errorf("Bytes() = %d, want %d", got, want)
			}
		})
	}
}

func TestReadVanished(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	if err := s.Write(context.Background(), record(t, "x")); err != nil {
		t.Fatal(err)
	}
	e := s.Pending(0, 1)[0]
	if err := os.Remove(filepath.Join(s.Dir(), e.Name())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(e); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(vanished) = %v, want fs.ErrNotExist", err)
	}
	if got := s.Len(); got != 0 {
		t.Errorf("Len() = %d, want 0", got)
	}
}

func TestQuarantine(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := open(t, t.TempDir(), Options{Registerer: reg})
	if err := s.Write(context.Background(), record(t, "undeliverable")); err != nil {
		t.Fatal(err)
	}
	e := s.Pending(0, 1)[0]
	if err := s.Quarantine(e, "refused by the destination"); err != nil {
		t.Fatalf("Quarantine() = %v", err)
	}
	if got := s.Len(); got != 0 {
		t.Errorf("Len() = %d, want 0", got)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), QuarantineDir, e.Name())); err != nil {
		t.Errorf("record not in quarantine: %v", err)
	}
	if got := testutil.ToFloat64(s.metrics.quarantined); got != 1 {
		t.Errorf("quarantined_total = %v, want 1", got)
	}
}

func TestCap(t *testing.T) {
	r := record(t, "capped")
	size := int64(len(r))

	t.Run("blocks until Remove", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{MaxBytes: 2 * size})
		for range 2 {
			if err := s.Write(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		if s.Waiting() {
			t.Error("Waiting() = true at the cap before a write waits")
		}
		if err := s.Check(); err == nil || !strings.Contains(err.Error(), "full") {
			t.Errorf("Check() at the cap = %v, want full", err)
		}
		<-s.Ready() // the writes above
		done := make(chan error, 1)
		go func() { done <- s.Write(context.Background(), r) }()
		testenv.Eventually(t, "the third write to block", func() bool {
			return testutil.ToFloat64(s.metrics.blockedWrites) == 1
		})
		select {
		case err := <-done:
			t.Fatalf("Write() at the cap returned %v, want it to block", err)
		default:
		}
		if !s.Waiting() {
			t.Error("Waiting() = false while a write waits")
		}
		select {
		case <-s.Ready():
		default:
			t.Error("Ready() not signalled when a write began to wait")
		}
		if err := s.Remove(s.Pending(0, 1)...); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Write() after Remove = %v", err)
		}
		if err := s.Remove(s.Pending(0, 1)...); err != nil {
			t.Fatal(err)
		}
		if err := s.Check(); err != nil {
			t.Errorf("Check() below the cap = %v, want nil", err)
		}
		if err := s.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if s.Waiting() {
			t.Error("Waiting() = true once the write went through")
		}
		if got := s.Len(); got != 2 {
			t.Errorf("Len() = %d, want 2", got)
		}
	})
	t.Run("context cancel unblocks", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{MaxBytes: size})
		if err := s.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Write(ctx, r) }()
		testenv.Eventually(t, "the write to block", func() bool {
			return testutil.ToFloat64(s.metrics.blockedWrites) == 1
		})
		cancel()
		if err := <-done; !errors.Is(err, ErrFull) || !errors.Is(err, context.Canceled) {
			t.Errorf("Write() = %v, want ErrFull and context.Canceled", err)
		}
		if got := s.Len(); got != 1 {
			t.Errorf("Len() = %d, want 1", got)
		}
	})
	t.Run("close unblocks", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{MaxBytes: size})
		if err := s.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Write(context.Background(), r) }()
		testenv.Eventually(t, "the write to block", func() bool {
			return testutil.ToFloat64(s.metrics.blockedWrites) == 1
		})
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Errorf("Write() = %v, want ErrClosed", err)
		}
	})
	t.Run("record above the cap fails at once", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{MaxBytes: size - 1})
		if err := s.Write(context.Background(), r); err == nil {
			t.Error("Write() = nil, want an error")
		}
	})
}

func TestWriteAfterClose(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	s.Close(context.Background())
	if err := s.Write(context.Background(), record(t, "x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write() = %v, want ErrClosed", err)
	}
}

// TestFsync checks that a write syncs the record before renaming it, then the directory.
func TestFsync(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	var calls []string
	s.ops.sync = func(f *os.File) error {
		calls = append(calls, filepath.Base(f.Name()))
		return f.Sync()
	}
	s.ops.rename = func(oldpath, newpath string) error {
		calls = append(calls, "rename "+filepath.Base(newpath))
		return os.Rename(oldpath, newpath)
	}
	if err := s.Write(context.Background(), record(t, "x")); err != nil {
		t.Fatal(err)
	}
	e := s.Pending(0, 1)[0]
	if len(calls) != 3 || !strings.HasPrefix(calls[0], tempPrefix) {
		t.Fatalf("calls = %q, want fsync of the temporary file, rename, fsync of the directory", calls)
	}
	if want := []string{"rename " + e.Name(), filepath.Base(s.Dir())}; !cmp.Equal(calls[1:], want) {
		t.Errorf("calls after fsync = %q, want %q", calls[1:], want)
	}
	calls = nil
	if err := s.Remove(e); err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Base(s.Dir())}; !cmp.Equal(calls, want) {
		t.Errorf("calls of Remove = %q, want %q", calls, want)
	}
}

// TestWriteFailures injects an error at each step of a write: nothing may be left behind.
func TestWriteFailures(t *testing.T) {
	errIO := fmt.Errorf("injected: %w", syscall.EIO)
	tests := []struct {
		name   string
		inject func(*fileOps, *os.File)
	}{
		{"write", func(o *fileOps, _ *os.File) {
			o.write = func(*os.File, []byte) (int, error) { return 0, errIO }
		}},
		{"short write", func(o *fileOps, _ *os.File) {
			o.write = func(f *os.File, b []byte) (int, error) {
				n, _ := f.Write(b[:len(b)/2])
				return n, errIO
			}
		}},
		{"fsync file", func(o *fileOps, dir *os.File) {
			o.sync = func(f *os.File) error {
				if f == dir {
					return f.Sync()
				}
				return errIO
			}
		}},
		{"rename", func(o *fileOps, _ *os.File) {
			o.rename = func(string, string) error { return errIO }
		}},
		{"fsync directory", func(o *fileOps, dir *os.File) {
			o.sync = func(f *os.File) error {
				if f == dir {
					return errIO
				}
				return f.Sync()
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, t.TempDir(), Options{})
			tt.inject(&s.ops, s.dirFile)
			err := s.Write(context.Background(), record(t, "x"))
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("Write() = %v, want the injected EIO", err)
			}
			if got := names(t, s.Dir()); len(got) != 0 {
				t.Errorf("files left after a failed write: %q", got)
			}
			if got := s.Len(); got != 0 {
				t.Errorf("Len() = %d, want 0", got)
			}
		})
	}
}

func TestDiskFull(t *testing.T) {
	t.Run("waits and retries", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{})
		var mu sync.Mutex
		failures := 2
		s.ops.write = func(f *os.File, b []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			if failures > 0 {
				failures--
				n, _ := f.Write(b[:1])
				return n, syscall.ENOSPC
			}
			return f.Write(b)
		}
		want := record(t, "eventually")
		if err := s.Write(context.Background(), want); err != nil {
			t.Fatalf("Write() = %v", err)
		}
		if got := readAll(t, s); !cmp.Equal(got, [][]byte{want}) {
			t.Errorf("records = %q, want %q", got, want)
		}
		if got := names(t, s.Dir()); len(got) != 1 {
			t.Errorf("files = %q, want only the record", got)
		}
	})
	t.Run("gives up when the context is done", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{})
		s.ops.write = func(*os.File, []byte) (int, error) { return 0, syscall.ENOSPC }
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Write(ctx, record(t, "never")) }()
		testenv.Eventually(t, "the write to wait for disk space", func() bool {
			return testutil.ToFloat64(s.metrics.blockedWrites) == 1
		})
		if !s.Waiting() {
			t.Error("Waiting() = false while a write waits for disk space")
		}
		if err := s.Check(); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("Check() while a write waits for disk space = %v, want disk full", err)
		}
		cancel()
		err := <-done
		if !errors.Is(err, ErrFull) || !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, context.Canceled) {
			t.Errorf("Write() = %v, want ErrFull, ENOSPC and context.Canceled", err)
		}
		if got := names(t, s.Dir()); len(got) != 0 {
			t.Errorf("files left: %q", got)
		}
	})
}

// TestConcurrentWritersAndConsumer runs writers against a consumer that reads and removes, as the
// record workers and the uploader do; run it with -race.
func TestConcurrentWritersAndConsumer(t *testing.T) {
	const writers, perWriter = 4, 40
	s := open(t, t.TempDir(), Options{MaxBytes: 4 << 10})
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := s.Write(ctx, record(t, fmt.Sprintf("%d/%d", w, i))); err != nil {
					t.Errorf("Write() = %v", err)
					return
				}
			}
		})
	}
	seen := make(map[string]int)
	var after uint64
	for len(seen) < writers*perWriter {
		select {
		case <-s.Ready():
		case <-time.After(10 * time.Second):
			t.Fatalf("consumer stalled with %d records seen", len(seen))
		}
		for {
			batch := s.Pending(after, 7)
			if len(batch) == 0 {
				break
			}
			for _, e := range batch {
				b, err := s.Read(e)
				if err != nil {
					t.Fatal(err)
				}
				seen[string(b)]++
			}
			after = batch[len(batch)-1].Seq
			if err := s.Remove(batch...); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	for r, n := range seen {
		if n != 1 {
			t.Errorf("record read %d times, want once: %x", n, r)
		}
	}
	if got := s.Len(); got != 0 {
		t.Errorf("Len() = %d, want 0", got)
	}
}

var benchErr error

func BenchmarkWrite(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s := open(b, b.TempDir(), Options{})
			r := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				benchErr = s.Write(context.Background(), r)
			}
		})
	}
}

// TestReadVerifiesOnlyEarlierRuns checks that Read trusts the records its own Spool wrote and
// fsynced, and decompresses those an earlier run left before handing them out.
func TestReadVerifiesOnlyEarlierRuns(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	if err := s.Write(context.Background(), []byte("not gzip")); err != nil {
		t.Fatal(err)
	}
	e, _ := s.Last()
	if got, err := s.Read(e); err != nil || string(got) != "not gzip" {
		t.Fatalf("Read of this run's record = %q, %v; want it as written", got, err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{})
	e, _ = s.Last()
	if _, err := s.Read(e); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Read of an earlier run's damaged record = %v, want ErrCorrupt", err)
	}
}
