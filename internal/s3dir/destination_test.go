package s3dir_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/firehose"
	"github.com/kinesyslog/kinesyslog/internal/s3dir"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// fakeClock is a Clock for tests that moves only when told. It answers in a zone other than UTC
// so that tests see the Destination convert.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

var tokyo = time.FixedZone("JST", 9*60*60)

func newFakeClock(utc string) *fakeClock {
	t, err := time.Parse(time.RFC3339Nano, utc)
	if err != nil {
		panic(err)
	}
	return &fakeClock{now: t.In(tokyo)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// gzBatch returns the records testenv.Gzip(s) of each s.
func gzBatch(t testing.TB, ss ...string) [][]byte {
	var records [][]byte
	for _, s := range ss {
		records = append(records, testenv.Gzip(t, s))
	}
	return records
}

// object is a published object as a reader of the directory sees it.
type object struct {
	Key  string
	Data []byte
}

// objects returns the published objects under dir, skipping dot names as readers must, sorted
// by key: by creation time when the clock moves between objects.
func objects(t *testing.T, dir string) []object {
	t.Helper()
	var out []object
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		out = append(out, object{Key: filepath.ToSlash(rel), Data: data})
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	slices.SortFunc(out, func(a, b object) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// members returns the contents of each gzip member of data: the records of an object.
func members(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	br := bufio.NewReader(bytes.NewReader(data))
	zr, err := gzip.NewReader(br)
	for err == nil {
		zr.Multistream(false)
		var b []byte
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatalf("read gzip member %d: %v", len(out), err)
		}
		out = append(out, string(b))
		err = zr.Reset(br)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read gzip member %d: %v", len(out), err)
	}
	return out
}

// contents returns the records of each object.
func contents(t *testing.T, objs []object) [][]string {
	t.Helper()
	var out [][]string
	for _, o := range objs {
		out = append(out, members(t, o.Data))
	}
	return out
}

func open(t *testing.T, opts s3dir.Options) *s3dir.Destination {
	t.Helper()
	s, err := s3dir.Open(opts)
	if err != nil {
		t.Fatalf("Open(%+v): %v", opts, err)
	}
	return s
}

func put(t *testing.T, s *s3dir.Destination, records [][]byte) []upload.Result {
	t.Helper()
	results, err := s.Put(t.Context(), records)
	if err != nil {
		t.Fatalf("Put(%d records): %v", len(records), err)
	}
	if len(results) != len(records) {
		t.Fatalf("Put(%d records) = %d results", len(records), len(results))
	}
	for i, r := range results {
		if !r.Delivered() {
			t.Fatalf("Put result %d = %+v, want a RecordID", i, r)
		}
	}
	return results
}

func closeDest(t *testing.T, s *s3dir.Destination) {
	t.Helper()
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

var uuidPattern = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`

func TestPutWritesOneObjectInOrder(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock("2026-11-25T02:34:55.7Z")
	s := open(t, s3dir.Options{Dir: dir, Clock: clock.Now})
	var ids []string
	for _, batch := range [][]string{{"a", "b"}, {"c"}, {"d", "e", "f"}} {
		for _, r := range put(t, s, gzBatch(t, batch...)) {
			ids = append(ids, r.RecordID)
		}
		clock.Advance(time.Minute)
	}
	if got := objects(t, dir); len(got) != 0 {
		t.Errorf("before Close: objects %v, want none: an object appears whole", got)
	}
	closeDest(t, s)

	objs := objects(t, dir)
	if len(objs) != 1 {
		t.Fatalf("objects = %d, want 1", len(objs))
	}
	keyPattern := regexp.MustCompile(`^2026/11/25/02/kinesyslog-1-2026-11-25-02-34-55-` + uuidPattern + `$`)
	if !keyPattern.MatchString(objs[0].Key) {
		t.Errorf("key = %q, want it to match %s", objs[0].Key, keyPattern)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d", "e", "f"}, members(t, objs[0].Data)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	// Any gzip reader reads an object whole, as a multistream file.
	zr, err := gzip.NewReader(bytes.NewReader(objs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("read object as one gzip stream: %v", err)
	}
	if got, want := string(all), "abcdef"; got != want {
		t.Errorf("object as one gzip stream = %q, want %q", got, want)
	}
	if slices.Sort(ids); len(slices.Compact(ids)) != 6 {
		t.Errorf("RecordIDs not unique: %q", ids)
	}
}

func TestObjectsWrittenWithoutFraming(t *testing.T) {
	dir := t.TempDir()
	s := open(t, s3dir.Options{Dir: dir})
	records := [][]byte{[]byte("not"), []byte("gzip"), []byte("at all")}
	put(t, s, records)
	closeDest(t, s)
	objs := objects(t, dir)
	if len(objs) != 1 {
		t.Fatalf("objects = %d, want 1", len(objs))
	}
	if got, want := string(objs[0].Data), "notgzipat all"; got != want {
		t.Errorf("object = %q, want %q", got, want)
	}
}

func TestRotateBySize(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock("2026-11-25T02:00:00Z")
	s := open(t, s3dir.Options{Dir: dir, Clock: clock.Now, BufferBytes: 250})
	record := func(name string) []byte { return []byte(fmt.Sprintf("%-100s", name)) }
	for _, batch := range [][]string{{"r1"}, {"r2"}, {"r3"}, {"r4", "r5"}, {"r6", "r7", "r8"}} {
		var records [][]byte
		for _, name := range batch {
			records = append(records, record(name))
		}
		put(t, s, records)
		// Objects are named by the second they start in: moving the clock orders them.
		clock.Advance(time.Second)
	}
	closeDest(t, s)

	var got []string
	for _, o := range objects(t, dir) {
		got = append(got, strings.Join(strings.Fields(string(o.Data)), ""))
	}
	// r3 would take the first object to 300 bytes, r4 and r5 the second; the last batch is
	// larger than BufferBytes on its own and has an object to itself.
	want := []string{"r1r2", "r3", "r4r5", "r6r7r8"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

func TestRotateByTime(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock("2026-11-25T02:58:30Z")
	s := open(t, s3dir.Options{Dir: dir, Clock: clock.Now})

	put(t, s, gzBatch(t, "a"))
	clock.Advance(s3dir.DefaultBufferInterval - time.Nanosecond)
	// 03:03:29.999999999: the next hour, yet the object keeps the hour of its oldest record.
	put(t, s, gzBatch(t, "b"))
	if got := objects(t, dir); len(got) != 0 {
		t.Fatalf("before BufferInterval: objects %v, want none", got)
	}
	clock.Advance(time.Nanosecond)
	put(t, s, gzBatch(t, "c"))

	objs := objects(t, dir)
	if len(objs) != 1 {
		t.Fatalf("after BufferInterval: objects = %d, want the first one published", len(objs))
	}
	if want := "2026/11/25/02/kinesyslog-1-2026-11-25-02-58-30-"; !strings.HasPrefix(objs[0].Key, want) {
		t.Errorf("first key = %q, want prefix %q", objs[0].Key, want)
	}
	closeDest(t, s)

	objs = objects(t, dir)
	if len(objs) != 2 {
		t.Fatalf("after Close: objects = %d, want 2", len(objs))
	}
	if want := "2026/11/25/03/kinesyslog-1-2026-11-25-03-03-30-"; !strings.HasPrefix(objs[1].Key, want) {
		t.Errorf("second key = %q, want prefix %q", objs[1].Key, want)
	}
	if diff := cmp.Diff([][]string{{"a", "b"}, {"c"}}, contents(t, objs)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestRunPublishesIdleObject(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock("2026-11-25T02:34:55Z")
	s := open(t, s3dir.Options{Dir: dir, Clock: clock.Now, BufferInterval: time.Millisecond, StreamName: "idle"})
	defer closeDest(t, s)
	put(t, s, gzBatch(t, "a"))
	clock.Advance(time.Millisecond)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	objs := objects(t, dir)
	testenv.Eventually(t, "an object published by Run", func() bool {
		objs = objects(t, dir)
		return len(objs) > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if len(objs) != 1 {
		t.Fatalf("objects = %d, want 1 published by Run", len(objs))
	}
	if !strings.HasPrefix(objs[0].Key, "2026/11/25/02/idle-1-2026-11-25-02-34-55-") {
		t.Errorf("key = %q", objs[0].Key)
	}
	if diff := cmp.Diff([]string{"a"}, members(t, objs[0].Data)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestConcurrentPuts(t *testing.T) {
	const writers, calls = 6, 15
	dir := t.TempDir()
	// A small BufferBytes makes objects rotate while calls race.
	s := open(t, s3dir.Options{Dir: dir, BufferBytes: 2048})
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[string]bool{}
	)
	for w := range writers {
		wg.Go(func() {
			for c := range calls {
				var batch []string
				for r := range 1 + (w+c)%4 {
					batch = append(batch, fmt.Sprintf("w%d-c%d-r%d", w, c, r))
				}
				results, err := s.Put(t.Context(), gzBatch(t, batch...))
				if err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				mu.Lock()
				for _, r := range results {
					ids[r.RecordID] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	closeDest(t, s)

	// Every record once, and each call's records together and in order.
	seen := map[string]bool{}
	total := 0
	for _, o := range objects(t, dir) {
		records := members(t, o.Data)
		for i := 0; i < len(records); {
			var w, c, r int
			if _, err := fmt.Sscanf(records[i], "w%d-c%d-r%d", &w, &c, &r); err != nil || r != 0 {
				t.Fatalf("object %s record %d = %q, want the first record of a call", o.Key, i, records[i])
			}
			for r := range 1 + (w+c)%4 {
				want := fmt.Sprintf("w%d-c%d-r%d", w, c, r)
				if i >= len(records) || records[i] != want {
					t.Fatalf("object %s record %d: want %q", o.Key, i, want)
				}
				if seen[want] {
					t.Fatalf("record %q written twice", want)
				}
				seen[want] = true
				i++
			}
			total += 1 + (w+c)%4
		}
	}
	if len(ids) != total {
		t.Errorf("%d unique RecordIDs for %d records", len(ids), total)
	}
	wantTotal := 0
	for w := range writers {
		for c := range calls {
			wantTotal += 1 + (w+c)%4
		}
	}
	if total != wantTotal {
		t.Errorf("found %d records, want %d", total, wantTotal)
	}
}

func TestPutValidates(t *testing.T) {
	repeat := func(n, size int) [][]byte {
		records := make([][]byte, n)
		for i := range records {
			records[i] = bytes.Repeat([]byte{'x'}, size)
		}
		return records
	}
	tests := []struct {
		name    string
		records [][]byte
		want    error // nil: accepted
	}{
		{name: "no records", records: nil, want: s3dir.ErrNoRecords},
		{name: "most records", records: repeat(firehose.MaxBatchRecords, 1)},
		{name: "too many records", records: repeat(firehose.MaxBatchRecords+1, 1), want: upload.ErrBatchTooLarge},
		{name: "most bytes", records: repeat(4, firehose.MaxBatchBytes/4)},
		{name: "too many bytes", records: append(repeat(4, firehose.MaxBatchBytes/4), []byte{'x'}), want: upload.ErrBatchTooLarge},
		{name: "largest record", records: repeat(1, firehose.MaxRecordBytes)},
		{name: "record too large", records: repeat(1, firehose.MaxRecordBytes+1), want: s3dir.ErrRecordTooLarge},
		{name: "empty record", records: [][]byte{[]byte("x"), {}, []byte("y")}, want: s3dir.ErrEmptyRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, s3dir.Options{Dir: dir})
			results, err := s.Put(t.Context(), tt.records)
			closeDest(t, s)
			objs := objects(t, dir)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || results != nil {
					t.Errorf("Put = %v, %v; want nil, %v", results, err, tt.want)
				}
				if len(objs) != 0 {
					t.Errorf("refused call wrote %d objects", len(objs))
				}
				return
			}
			if err != nil || len(results) != len(tt.records) {
				t.Fatalf("Put = %d results, %v; want %d, nil", len(results), err, len(tt.records))
			}
			if len(objs) != 1 || len(objs[0].Data) != len(bytes.Join(tt.records, nil)) {
				t.Errorf("accepted call: %d objects, want 1 of all its bytes", len(objs))
			}
		})
	}
}

func TestOwnerAndLimits(t *testing.T) {
	for _, tt := range []struct {
		accountID string
		want      string
	}{
		{"", s3dir.DefaultAccountID},
		{"123456789012", "123456789012"},
	} {
		s := open(t, s3dir.Options{Dir: t.TempDir(), AccountID: tt.accountID})
		done, cancel := context.WithCancel(t.Context())
		cancel()
		if got, err := s.Owner(done); got != tt.want || err != nil {
			t.Errorf("Owner() with AccountID %q = %q, %v; want %s", tt.accountID, got, err, tt.want)
		}
		want := upload.Limits{MaxRecords: firehose.MaxBatchRecords, MaxBatchBytes: firehose.MaxBatchBytes, MaxRecordBytes: firehose.MaxRecordBytes}
		if got := s.Limits(); got != want {
			t.Errorf("Limits() = %+v, want Firehose's %+v", got, want)
		}
		closeDest(t, s)
	}
}

func TestPutRefusesWhenDoneOrClosed(t *testing.T) {
	dir := t.TempDir()
	s := open(t, s3dir.Options{Dir: dir})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Put(ctx, gzBatch(t, "a")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put(canceled) = %v, want %v", err, context.Canceled)
	}
	closeDest(t, s)
	if _, err := s.Put(t.Context(), gzBatch(t, "a")); !errors.Is(err, s3dir.ErrClosed) {
		t.Errorf("Put after Close = %v, want %v", err, s3dir.ErrClosed)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if objs := objects(t, dir); len(objs) != 0 {
		t.Errorf("objects = %v, want none", objs)
	}
	// The directory is free again.
	closeDest(t, open(t, s3dir.Options{Dir: dir}))
}

func TestOpenRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts func(dir string) s3dir.Options
	}{
		{name: "no dir", opts: func(string) s3dir.Options { return s3dir.Options{} }},
		{name: "slash in stream name", opts: func(dir string) s3dir.Options { return s3dir.Options{Dir: dir, StreamName: "a/b"} }},
		{name: "stream name too long", opts: func(dir string) s3dir.Options {
			return s3dir.Options{Dir: dir, StreamName: strings.Repeat("a", 65)}
		}},
		{name: "negative interval", opts: func(dir string) s3dir.Options { return s3dir.Options{Dir: dir, BufferInterval: -time.Second} }},
		{name: "negative size", opts: func(dir string) s3dir.Options { return s3dir.Options{Dir: dir, BufferBytes: -1} }},
		{name: "dir is a file", opts: func(dir string) s3dir.Options {
			path := filepath.Join(dir, "file")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				panic(err)
			}
			return s3dir.Options{Dir: path}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts(t.TempDir())
			if s, err := s3dir.Open(opts); err == nil {
				t.Errorf("Open(%+v) = nil error, want one", opts)
				closeDest(t, s)
			}
		})
	}
}

var benchResults []upload.Result

func BenchmarkPut(b *testing.B) {
	for _, bc := range []struct {
		name          string
		records, size int
	}{
		{name: "500x4KiB", records: 500, size: 4 << 10},
		{name: "4x1000KB", records: 4, size: 1_000_000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			records := make([][]byte, bc.records)
			for i := range records {
				records[i] = bytes.Repeat([]byte{byte(i)}, bc.size)
			}
			s, err := s3dir.Open(s3dir.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			b.ReportAllocs()
			b.SetBytes(int64(bc.records * bc.size))
			for b.Loop() {
				if benchResults, err = s.Put(context.Background(), records); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
