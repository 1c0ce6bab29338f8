package s3dir

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

const (
	testName = "kinesyslog-1-2026-11-25-02-34-55-0b7e3c9a-6f0c-4d1e-9a51-2f1c7a8e4b10"
	testKey  = "2026/11/25/02/" + testName
)

// published returns the contents of the objects published under dir by key.
func published(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == inprogressDir:
			return filepath.SkipDir
		case d.IsDir():
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return out
}

// inProgress returns the names left in dir's in-progress directory, but for the lock.
func inProgress(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, inprogressDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != lockName {
			names = append(names, e.Name())
		}
	}
	return names
}

// writeInProgress leaves an object in progress as a crash would: data, and a sidecar holding
// the given slots (nil for none).
func writeInProgress(t *testing.T, dir, name, data string, slots []byte) {
	t.Helper()
	path := filepath.Join(dir, inprogressDir, name)
	if err := os.MkdirAll(filepath.Dir(path), dirPerm); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), filePerm); err != nil {
		t.Fatal(err)
	}
	if slots != nil {
		if err := os.WriteFile(path+commitSuffix, slots, filePerm); err != nil {
			t.Fatal(err)
		}
	}
}

// commits returns sidecar contents after commits of the given lengths, numbered from 1.
func commits(lengths ...int64) []byte {
	b := make([]byte, slotCount*slotSize)
	for i, n := range lengths {
		seq := uint64(i + 1)
		slot := encodeSlot(seq, n)
		copy(b[int(seq%slotCount)*slotSize:], slot[:])
	}
	return b
}

// crash leaves a Destination's directory as a killed process would: files as they are, lock released.
func crash(t *testing.T, s *Destination) {
	t.Helper()
	if s.cur != nil {
		if err := s.cur.close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.dirLock.Close(); err != nil {
		t.Fatal(err)
	}
}

func gunzip(t *testing.T, s string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return string(b)
}

func TestOpenRecoversObjectsInProgress(t *testing.T) {
	const otherName = "other-stream-1-2026-11-25-03-00-01-6f0c0b7e-3c9a-4d1e-9a51-2f1c7a8e4b10"
	tornSlot := commits(5, 9)
	tornSlot[0] ^= 0xff // slot 0 holds commit 2
	tests := []struct {
		name       string
		setup      func(t *testing.T, dir string)
		want       map[string]string
		inProgress []string
	}{
		{
			name:  "committed object published whole",
			setup: func(t *testing.T, dir string) { writeInProgress(t, dir, testName, "aaaaabbbb", commits(5, 9)) },
			want:  map[string]string{testKey: "aaaaabbbb"},
		},
		{
			name:  "torn tail cut to the last commit",
			setup: func(t *testing.T, dir string) { writeInProgress(t, dir, testName, "aaaaabbbbcc", commits(5, 9)) },
			want:  map[string]string{testKey: "aaaaabbbb"},
		},
		{
			name:  "torn commit falls back to the one before",
			setup: func(t *testing.T, dir string) { writeInProgress(t, dir, testName, "aaaaabbbb", tornSlot) },
			want:  map[string]string{testKey: "aaaaa"},
		},
		{
			name:  "commit beyond the end after a rollback",
			setup: func(t *testing.T, dir string) { writeInProgress(t, dir, testName, "aaaaa", commits(5, 9)) },
			want:  map[string]string{testKey: "aaaaa"},
		},
		{
			name:  "no sidecar: nothing committed",
			setup: func(t *testing.T, dir string) { writeInProgress(t, dir, testName, "aaaaa", nil) },
			want:  map[string]string{},
		},
		{
			name:  "no intact commit",
			setup: func(t *testing.T, dir string) { writeInProgress(t, dir, testName, "aaaaa", make([]byte, 7)) },
			want:  map[string]string{},
		},
		{
			name: "sidecar of a published object",
			setup: func(t *testing.T, dir string) {
				writeInProgress(t, dir, testName, "aaaaa", commits(5))
				if err := os.Remove(filepath.Join(dir, inprogressDir, testName)); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]string{},
		},
		{
			name: "several objects, each under its hour",
			setup: func(t *testing.T, dir string) {
				writeInProgress(t, dir, testName, "aaaaa", commits(5))
				writeInProgress(t, dir, otherName, "ccc", commits(3))
			},
			want: map[string]string{testKey: "aaaaa", "2026/11/25/03/" + otherName: "ccc"},
		},
		{
			name: "unknown files left alone",
			setup: func(t *testing.T, dir string) {
				writeInProgress(t, dir, "notes.txt", "keep", nil)
				writeInProgress(t, dir, "notes.txt"+commitSuffix, "keep", nil)
			},
			want:       map[string]string{},
			inProgress: []string{"notes.txt", "notes.txt" + commitSuffix},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			s, err := Open(Options{Dir: dir})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if diff := cmp.Diff(tt.want, published(t, dir)); diff != "" {
				t.Errorf("after Open, objects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.inProgress, inProgress(t, dir), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("after Open, in progress (-want +got):\n%s", diff)
			}
			if err := s.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	dir := t.TempDir()
	clock := func() time.Time { return time.Date(2026, 11, 25, 2, 34, 55, 0, time.UTC) }
	s, err := Open(Options{Dir: dir, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][][]byte{{testenv.Gzip(t, "a"), testenv.Gzip(t, "b")}, {testenv.Gzip(t, "c")}} {
		if _, err := s.Put(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	}
	path := s.cur.path
	crash(t, s)
	// The crash came halfway through writing record d.
	d := testenv.Gzip(t, "d")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(d[:len(d)/2]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	s, err = Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open after crash: %v", err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	objs := published(t, dir)
	if len(objs) != 1 {
		t.Fatalf("objects = %v, want 1", objs)
	}
	for key, data := range objs {
		if want := "2026/11/25/02/kinesyslog-1-2026-11-25-02-34-55-"; !strings.HasPrefix(key, want) {
			t.Errorf("key = %q, want prefix %q", key, want)
		}
		if got := gunzip(t, data); got != "abc" {
			t.Errorf("recovered records = %q, want %q", got, "abc")
		}
	}
	if left := inProgress(t, dir); len(left) != 0 {
		t.Errorf("in progress after recovery: %q", left)
	}
	if !strings.Contains(logs.String(), "torn") {
		t.Errorf("no log of the torn tail in:\n%s", logs.String())
	}
}

// readOnly reopens f's file read-only, so that writing through it fails as a failing disk would.
func readOnly(t *testing.T, f *os.File) *os.File {
	t.Helper()
	ro, err := os.Open(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return ro
}

func TestFailedAppend(t *testing.T) {
	tests := []struct {
		name        string
		breakObject func(t *testing.T, o *object)
		// leftInProgress: the failed object could not be cut back and waits for the next Open.
		leftInProgress bool
	}{
		{
			name:        "commit fails: cut back and published",
			breakObject: func(t *testing.T, o *object) { o.commits = readOnly(t, o.commits) },
		},
		{
			name:           "write and rollback fail: left for Open",
			breakObject:    func(t *testing.T, o *object) { o.data = readOnly(t, o.data) },
			leftInProgress: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			now := time.Date(2026, 11, 25, 2, 34, 55, 0, time.UTC)
			clock := func() time.Time { return now }
			var logs bytes.Buffer
			s, err := Open(Options{Dir: dir, Clock: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put(t.Context(), [][]byte{testenv.Gzip(t, "a")}); err != nil {
				t.Fatal(err)
			}
			tt.breakObject(t, s.cur)
			if results, err := s.Put(t.Context(), [][]byte{testenv.Gzip(t, "b")}); err == nil {
				t.Fatalf("Put on a broken object = %v, nil; want an error", results)
			}
			if s.cur != nil {
				t.Errorf("the failed object is still current")
			}
			if got := len(inProgress(t, dir)) > 0; got != tt.leftInProgress {
				t.Errorf("object left in progress = %v, want %v", got, tt.leftInProgress)
			}
			if got := strings.Contains(logs.String(), "level=ERROR"); got != tt.leftInProgress {
				t.Errorf("error logged = %v, want %v; logs:\n%s", got, tt.leftInProgress, logs.String())
			}
			now = now.Add(time.Second)
			if _, err := s.Put(t.Context(), [][]byte{testenv.Gzip(t, "c")}); err != nil {
				t.Fatalf("Put after a failure: %v", err)
			}
			if err := s.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if s, err = Open(Options{Dir: dir}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(t.Context()); err != nil {
				t.Fatal(err)
			}

			var got []string
			for _, data := range published(t, dir) {
				got = append(got, gunzip(t, data))
			}
			if diff := cmp.Diff([]string{"a", "c"}, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("records by object (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailedFirstAppendPublishesNothing(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if s.cur, err = createObject(s.inprogress, s.stream, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	s.cur.data = readOnly(t, s.cur.data)
	if results, err := s.Put(t.Context(), [][]byte{testenv.Gzip(t, "a")}); err == nil {
		t.Fatalf("Put on a broken object = %v, nil; want an error", results)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if objs := published(t, dir); len(objs) != 0 {
		t.Errorf("objects = %v, want none", objs)
	}
	if left := inProgress(t, dir); len(left) != 0 {
		t.Errorf("in progress = %q, want nothing", left)
	}
}
