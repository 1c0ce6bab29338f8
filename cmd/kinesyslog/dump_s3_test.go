package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/s3test"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

const (
	dumpBucket = "kinesyslog-test"
	dumpPrefix = "firehose/"
	// bulkObjects, all in the first hour, make the listing take more than one page (1,000 keys).
	bulkObjects = 1010
)

// deliveredObject is an object as Firehose names it under its hour, and its records.
type deliveredObject struct {
	key  string
	data []byte
}

// deliveredObjects returns the objects of four hours of a delivery stream, in Firehose's layout:
// in the first hour bulkObjects objects of one record of one event each (group
// /kinesyslog/syslog/601), in each of the next three two objects of two records each, a syslog
// one of two events from 10.0.0.5 or 10.0.0.6 and a GELF one of one event.
func deliveredObjects(t *testing.T) []deliveredObject {
	t.Helper()
	first := time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC)
	n := 0
	event := func(at time.Time, msg string) record.Event {
		n++
		return record.Event{ID: fmt.Sprintf("019ad5c0-0000-7000-8000-%012d", n), Timestamp: at.UnixMilli(), Message: msg}
	}
	rec := func(group, stream string, events ...record.Event) record.Record {
		return record.Record{Owner: "123456789012", LogGroup: group, LogStream: stream,
			SubscriptionFilters: []string{group}, MessageType: "DATA_MESSAGE", LogEvents: events}
	}
	object := func(written time.Time, seq int, recs ...record.Record) deliveredObject {
		key := fmt.Sprintf("%s%s/kinesyslog-test-1-%s-%08x-1b2c-4d5e-8f90-0123456789ab", dumpPrefix,
			written.Format("2006/01/02/15"), written.Format("2006-01-02-15-04-05"), seq)
		return deliveredObject{key: key, data: gzipRecords(t, recs...)}
	}
	var objs []deliveredObject
	for i := range bulkObjects {
		at := first.Add(time.Duration(i) * time.Second)
		objs = append(objs, object(at, i, rec("/kinesyslog/syslog/601", "10.9.9.9",
			event(at, fmt.Sprintf("<14>1 %s bulk app - - - bulk %d", at.Format(time.RFC3339), i)))))
	}
	for h := 1; h <= 3; h++ {
		hour := first.Add(time.Duration(h) * time.Hour)
		for o, stream := range []string{"10.0.0.5", "10.0.0.6"} {
			base := hour.Add(time.Duration(o*30) * time.Minute)
			at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
			objs = append(objs, object(base.Add(29*time.Minute), h*10+o,
				rec("/kinesyslog/syslog/514", stream,
					event(at(5), fmt.Sprintf("<13>1 %s web%d nginx - - - GET /%d/%d 200", at(5).Format(time.RFC3339), o, h, o)),
					event(at(15), fmt.Sprintf(`<11>%s web%d nginx: error "upstream" <timeout> & retry`, at(15).Format(time.Stamp), o))),
				rec("/kinesyslog/gelf/12201", "2001:db8::7",
					event(at(25), fmt.Sprintf(`{"version":"1.1","host":"app","short_message":"job %d/%d done","timestamp":%d}`, h, o, at(25).Unix())))))
		}
	}
	return objs
}

// putObjects uploads objs with the real SDK, eight at a time, and writes them under dir too.
func putObjects(t *testing.T, srv *s3test.Server, dir string, objs []deliveredObject) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	work := make(chan deliveredObject)
	for range 8 {
		wg.Go(func() {
			for o := range work {
				_, err := srv.Client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(dumpBucket),
					Key: aws.String(o.key), Body: bytes.NewReader(o.data)})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, o := range objs {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(o.key)), o.data)
		work <- o
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("upload %d objects: %d failed, the first: %v", len(objs), len(errs), errs[0])
	}
}

// TestDumpS3 delivers four hours of objects in Firehose's layout to s3rver, more than a page of
// keys, and runs `kinesyslog dump s3://...` with each filter and format: what it prints is what
// dump prints of the same objects on the local disk, and matches testdata/dump/NAME.golden.
func TestDumpS3(t *testing.T) {
	srv := s3test.Start(t, dumpBucket)
	local := t.TempDir()
	objs := deliveredObjects(t)
	putObjects(t, srv, local, objs)
	testenv.IsolateAWS(t)
	for _, kv := range srv.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	s3URL := "s3://" + dumpBucket + "/" + dumpPrefix
	s3Options := []string{"--endpoint-url", srv.URL, "--path-style", "--region", s3test.Region}

	tests := []struct {
		name string
		args []string
	}{
		// The first hour, 1,010 objects, is read by second-page and by the dump of everything
		// below; the other cases skip it with --since, to keep the test short.
		{name: "since-until", args: []string{"--since", "2026-11-30T23:00:00Z", "--until", "2026-12-01T00:30"}},
		{name: "gelf-jsonl", args: []string{"--group", "/kinesyslog/gelf/*", "--since", "2026-11-30T23:00:00Z", "--format", "jsonl"}},
		{name: "stream-since-jsonl", args: []string{"--stream", "10.0.0.5", "--since", "2026-11-30T23:10:00Z", "--format", "jsonl"}},
		{name: "group-json", args: []string{"--group", "/kinesyslog/syslog/514", "--since", "2026-12-01", "--format", "json"}},
		// Events of the last bulk objects, on the second page of keys.
		{name: "second-page", args: []string{"--stream", "10.9.*", "--since", "2026-11-30T21:16:45Z"}},
		{name: "nothing", args: []string{"--group", "/kinesyslog/syslog/514", "--stream", "192.0.2.*", "--since", "2026-11-30T23:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fromS3 := invocation{args: append(append([]string{"dump", s3URL}, s3Options...), tt.args...)}.run(t)
			if fromS3.code != exitOK || fromS3.stderr != "" {
				t.Fatalf("kinesyslog dump %s %q = %d, stderr %q", s3URL, tt.args, fromS3.code, fromS3.stderr)
			}
			fromDisk := invocation{args: append([]string{"dump", filepath.Join(local, dumpPrefix)}, tt.args...)}.run(t)
			if diff := cmp.Diff(fromDisk, fromS3, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("dump of S3 and of the same objects on disk differ (-disk +s3):\n%s", diff)
			}
			golden := filepath.Join("testdata", "dump", tt.name+".golden")
			if *update {
				writeFile(t, golden, []byte(fromS3.stdout))
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), fromS3.stdout); diff != "" {
				t.Errorf("dump %q mismatch with %s (-want +got):\n%s", tt.args, golden, diff)
			}
		})
	}

	// Everything, in key order, over both pages: AWS_ENDPOINT_URL_S3 names the endpoint.
	all := invocation{args: []string{"dump", s3URL, "--path-style"}}.run(t)
	if all.code != exitOK || all.stderr != "" {
		t.Fatalf("kinesyslog dump %s = %d, stderr %q", s3URL, all.code, all.stderr)
	}
	var want strings.Builder
	for _, o := range objs {
		rd := record.NewReader(bytes.NewReader(o.data))
		for r, err := rd.Next(); err == nil; r, err = rd.Next() {
			for _, ev := range r.LogEvents {
				want.WriteString(ev.Message + "\n")
			}
		}
	}
	if diff := cmp.Diff(want.String(), all.stdout); diff != "" {
		t.Errorf("dump of every object mismatch (-want +got):\n%s", diff)
	}
}

// TestDumpS3Role checks that dump assumes --role-arn, with --external-id, before it reads S3:
// the project's STS endpoint answers AssumeRole, and s3rver, which knows only its own
// credentials, refuses the role's, by their key id.
func TestDumpS3Role(t *testing.T) {
	const role = "arn:aws:iam::210987654321:role/log-reader"
	sts := firehosetest.Start(t, firehosetest.Config{Role: firehosetest.Role{ARN: role, ExternalID: "ext-id"}})
	srv := s3test.Start(t, dumpBucket)
	testenv.IsolateAWS(t)
	c := sts.Credentials()
	t.Setenv("AWS_ACCESS_KEY_ID", c.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", c.SecretAccessKey)
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	got := invocation{args: []string{"dump", "s3://" + dumpBucket + "/", "--endpoint-url", srv.URL, "--path-style",
		"--region", firehosetest.DefaultRegion, "--role-arn", role, "--external-id", "ext-id"}}.run(t)
	if n := sts.Stats().Calls["AssumeRole"]; n != 1 {
		t.Errorf("%d AssumeRole calls, want 1", n)
	}
	if got.code != exitFailure || !strings.Contains(got.stderr, "InvalidAccessKeyId") || strings.Contains(got.stderr, c.AccessKeyID) {
		t.Errorf("dump with the role = %d, stderr %q; want s3rver refusing the role's key, not the base one", got.code, got.stderr)
	}
}
