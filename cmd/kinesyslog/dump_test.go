package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

var (
	rec514 = record.Record{
		Owner:               "123456789012",
		LogGroup:            "/kinesyslog/syslog/514",
		LogStream:           "10.0.0.5",
		SubscriptionFilters: []string{"/kinesyslog/syslog/514"},
		MessageType:         "DATA_MESSAGE",
		LogEvents: []record.Event{
			{ID: "363f3136-9356-443b-9eee-ce72d32d2307", Timestamp: 1519247270240, Message: "<13>1 2018-02-21T21:07:50.239881+00:00 host.example.com user 4326 - - Hello, World!"},
			{ID: "fae5ea37-972a-4bc5-a259-0d5404680758", Timestamp: 1519247271713, Message: `<13>Feb 21 21:07:51 host user: a & b <c> "d"`},
		},
	}
	rec601 = record.Record{
		Owner:               "123456789012",
		LogGroup:            "/kinesyslog/syslog/601",
		LogStream:           "10.0.0.6",
		SubscriptionFilters: []string{"/kinesyslog/syslog/601"},
		MessageType:         "DATA_MESSAGE",
		LogEvents: []record.Event{
			{ID: "0b0e4a8c-3f0e-4f7e-9f5e-3b1f2c1d0e9a", Timestamp: 1519247272000, Message: "<14>1 2018-02-21T21:07:52Z other app - - - third"},
		},
	}
)

// gzipRecords returns recs as Firehose delivers them: one gzip member per JSON record, concatenated.
func gzipRecords(t *testing.T, recs ...record.Record) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, r := range recs {
		js, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write(js); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// jsonLine is a record as --json prints it.
func jsonLine(t *testing.T, r record.Record) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDump(t *testing.T) {
	dir := t.TempDir()
	both := filepath.Join(dir, "both.gz")
	writeFile(t, both, gzipRecords(t, rec514, rec601))
	tree := filepath.Join(dir, "tree")
	writeFile(t, filepath.Join(tree, "b"), gzipRecords(t, rec601))
	writeFile(t, filepath.Join(tree, "a", "2018", "02", "x"), gzipRecords(t, rec514))
	if err := os.Symlink(filepath.Join(tree, "b"), filepath.Join(tree, "c-link")); err != nil {
		t.Fatal(err)
	}
	// A link to a directory, here a cycle, is not followed inside a tree.
	if err := os.Symlink(tree, filepath.Join(tree, "d-loop")); err != nil {
		t.Fatal(err)
	}
	treeLink := filepath.Join(dir, "tree-link")
	if err := os.Symlink(tree, treeLink); err != nil {
		t.Fatal(err)
	}
	bothLink := filepath.Join(dir, "both-link")
	if err := os.Symlink(both, bothLink); err != nil {
		t.Fatal(err)
	}

	msg := func(recs ...record.Record) string {
		var b strings.Builder
		for _, r := range recs {
			for _, e := range r.LogEvents {
				b.WriteString(e.Message + "\n")
			}
		}
		return b.String()
	}
	tests := []struct {
		name  string
		args  []string
		stdin []byte
		want  string
	}{
		{name: "messages", args: []string{both}, want: msg(rec514, rec601)},
		{name: "json", args: []string{"--json", both}, want: jsonLine(t, rec514) + jsonLine(t, rec601)},
		{name: "group", args: []string{"--group", "/kinesyslog/syslog/601", both}, want: msg(rec601)},
		{name: "group json", args: []string{"--json", "--group=/kinesyslog/syslog/514", both}, want: jsonLine(t, rec514)},
		{name: "group matching nothing", args: []string{"--group", "/kinesyslog/gelf/514", both}, want: ""},
		// Walked in name order: a/2018/02/x, b, c-link (to b).
		{name: "directory", args: []string{tree}, want: msg(rec514, rec601, rec601)},
		{name: "link to a directory", args: []string{treeLink}, want: msg(rec514, rec601, rec601)},
		{name: "link to a file", args: []string{bothLink}, want: msg(rec514, rec601)},
		{name: "several paths", args: []string{both, filepath.Join(tree, "b")}, want: msg(rec514, rec601, rec601)},
		{name: "stdin", args: []string{"-"}, stdin: gzipRecords(t, rec601, rec514), want: msg(rec601, rec514)},
		{name: "empty stdin", args: []string{"-"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := invocation{args: append([]string{"dump"}, tt.args...), stdin: string(tt.stdin)}
			got := in.run(t)
			if diff := cmp.Diff(result{stdout: tt.want}, got, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("kinesyslog %q mismatch (-want +got):\n%s", in.args, diff)
			}
		})
	}
}

// TestDumpJSONRoundTrip checks that --json prints the records themselves.
func TestDumpJSONRoundTrip(t *testing.T) {
	got := invocation{args: []string{"dump", "--json", "-"}, stdin: string(gzipRecords(t, rec514, rec601))}.run(t)
	var recs []record.Record
	dec := json.NewDecoder(strings.NewReader(got.stdout))
	for dec.More() {
		var r record.Record
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("decode %q: %v", got.stdout, err)
		}
		recs = append(recs, r)
	}
	if diff := cmp.Diff([]record.Record{rec514, rec601}, recs); diff != "" {
		t.Errorf("records of dump --json mismatch (-want +got):\n%s", diff)
	}
	if n := strings.Count(got.stdout, "\n"); n != 2 {
		t.Errorf("dump --json printed %d lines, want 2", n)
	}
}

// TestDumpBadFiles checks that unreadable files are reported by name, exit 1, and do not stop
// the others from being printed.
func TestDumpBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	writeFile(t, good, gzipRecords(t, rec601))
	notGzip := filepath.Join(dir, "not-gzip")
	writeFile(t, notGzip, []byte("plain text\n"))
	truncated := filepath.Join(dir, "truncated")
	whole := gzipRecords(t, rec514, rec601)
	writeFile(t, truncated, whole[:len(whole)-10])
	missing := filepath.Join(dir, "missing")

	got := invocation{args: []string{"dump", notGzip, truncated, missing, good}}.run(t)
	if got.code != exitFailure {
		t.Errorf("exit code = %d, want %d", got.code, exitFailure)
	}
	if want := msg514() + rec601.LogEvents[0].Message + "\n"; got.stdout != want {
		t.Errorf("stdout = %q, want %q", got.stdout, want)
	}
	lines := strings.Split(strings.TrimSuffix(got.stderr, "\n"), "\n")
	wantPrefixes := []string{
		"kinesyslog: dump: " + notGzip + ": record 1: ",
		"kinesyslog: dump: " + truncated + ": record 2: ",
		"kinesyslog: dump: stat " + missing + ": no such file or directory",
	}
	if len(lines) != len(wantPrefixes) {
		t.Fatalf("stderr = %q, want %d lines", got.stderr, len(wantPrefixes))
	}
	for i, p := range wantPrefixes {
		if !strings.HasPrefix(lines[i], p) {
			t.Errorf("stderr line %d = %q, want prefix %q", i, lines[i], p)
		}
	}
}

func msg514() string {
	return rec514.LogEvents[0].Message + "\n" + rec514.LogEvents[1].Message + "\n"
}
