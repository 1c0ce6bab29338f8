package s3read_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
	"github.com/kinesyslog/kinesyslog/internal/s3read"
	"github.com/kinesyslog/kinesyslog/internal/s3test"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestObjects reads objects from s3rver with three fetched ahead and the larger ones streamed:
// every object whole, in key order, whichever way it was read; keep skips objects unread; an
// error of fn stops the reading and is returned.
func TestObjects(t *testing.T) {
	const bucket = "objects"
	srv := s3test.Start(t, bucket)
	want := map[string]string{}
	var keys []string
	for i := range 40 {
		key := fmt.Sprintf("p/2026/12/03/%02d/object-%02d", i/10, i)
		// Every fourth object is larger than the prefetch limit below.
		body := strings.Repeat(fmt.Sprintf("%02d", i), 10+i%4*40)
		if _, err := srv.Client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		want[key], keys = body, append(keys, key)
	}
	testenv.IsolateAWS(t)
	for _, kv := range srv.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	b, err := s3read.Open(t.Context(), s3read.Options{AWS: awsconf.Options{Region: s3test.Region}, PathStyle: true,
		Concurrency: 3, MaxPrefetchBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	loc := s3read.Location{Bucket: bucket, Prefix: "p/"}

	read := func(t *testing.T, startAfter string, keep func(string) bool, stopAt string) ([]string, map[string]string, error) {
		var (
			mu   sync.Mutex
			seen []string
			got  = map[string]string{}
		)
		err := b.Objects(t.Context(), loc, startAfter, keep, func(o s3read.Object) error {
			if o.Err != nil {
				t.Errorf("object %s: %v", o.Key, o.Err)
				return nil
			}
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, o.Body); err != nil {
				t.Errorf("read %s: %v", o.Key, err)
			}
			mu.Lock()
			defer mu.Unlock()
			seen, got[o.Key] = append(seen, o.Key), buf.String()
			if o.Key == stopAt {
				return errStop
			}
			return nil
		})
		return seen, got, err
	}

	seen, got, err := read(t, "", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keys, seen); diff != "" {
		t.Errorf("keys handed over (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}

	seen, _, err = read(t, "p/2026/12/03/02", func(k string) bool { return !strings.HasSuffix(k, "5") }, "")
	if err != nil {
		t.Fatal(err)
	}
	wantSeen := []string{"p/2026/12/03/02/object-20", "p/2026/12/03/02/object-21", "p/2026/12/03/02/object-22",
		"p/2026/12/03/02/object-23", "p/2026/12/03/02/object-24", "p/2026/12/03/02/object-26"}
	if len(seen) < len(wantSeen) || !cmp.Equal(wantSeen, seen[:len(wantSeen)]) || len(seen) != 18 {
		t.Errorf("after p/2026/12/03/02, without keys ending in 5: %q", seen)
	}

	seen, _, err = read(t, "", nil, keys[7])
	if !errors.Is(err, errStop) || len(seen) != 8 {
		t.Errorf("Objects stopped by fn at the 8th object = %v after %d objects, want errStop after 8", err, len(seen))
	}
}

var errStop = errors.New("stop")
