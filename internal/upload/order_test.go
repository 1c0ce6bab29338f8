package upload

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/klauspost/compress/gzip"

	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// orderedDest is an Ordered Destination whose answers a test writes as a function; a record's
// key is the first part of its log stream ("3" of a record made by keyed, "3/7").
type orderedDest struct{ fakeDest }

func (orderedDest) OrderKey(r []byte) string {
	k, _, _ := strings.Cut(logStream(r), "/")
	return k
}

var _ Ordered = orderedDest{}

// keyed returns record i of key k, whose log stream is "k/i".
func keyed(t testing.TB, k, i int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	fmt.Fprintf(zw, `{"owner":"1","logGroup":"g","logStream":"%d/%d","subscriptionFilters":["g"],`+
		`"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":"m"}]}`, k, i)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func logStream(r []byte) string {
	h, err := record.ReadHeader(r)
	if err != nil {
		panic(err)
	}
	return h.LogStream
}

// keyOf returns the key and the index of a record made by keyed.
func keyOf(r []byte) (k, i int) {
	ks, is, _ := strings.Cut(logStream(r), "/")
	k, _ = strconv.Atoi(ks)
	i, _ = strconv.Atoi(is)
	return k, i
}

// flushWithin flushes u, failing the test when that takes longer than timeout.
func flushWithin(t *testing.T, u *Uploader, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := u.Flush(ctx); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
}

// TestOrderedKeys sends the records of several keys to an Ordered destination that refuses
// records and fails calls at random, with calls in flight at once: each key's records are stored
// once each, in the order spooled, and no call holds a key whose record is already out. Calls of
// two records are full, so that the window lets several in flight.
func TestOrderedKeys(t *testing.T) {
	const keys, perKey = 6, 40
	s := newSpool(t)
	var (
		mu     sync.Mutex
		rng    = rand.New(rand.NewPCG(3, 4))
		out    = map[int]bool{} // keys in a call now
		stored = map[int][]int{}
		calls  int
		most   int
	)
	limits := Limits{MaxRecords: 2, MaxBatchBytes: maxBatchBytes, MaxRecordBytes: maxRecordBytes}
	dest := orderedDest{fakeDest{firehoseLike: firehoseLike{&limits}, put: func(_ context.Context, records [][]byte) ([]Result, error) {
		mu.Lock()
		calls++
		most = max(most, calls)
		for _, r := range records {
			k, i := keyOf(r)
			if out[k] {
				t.Errorf("record %d/%d sent while another of key %d is out", k, i, k)
			}
			out[k] = true
		}
		failed := rng.Float64() < 0.2
		results := make([]Result, len(records))
		for j, r := range records {
			k, i := keyOf(r)
			if failed || rng.Float64() < 0.3 {
				results[j] = Result{ErrorCode: "ProvisionedThroughputExceededException", Throttled: true}
				continue
			}
			results[j] = Result{RecordID: "seq"}
			stored[k] = append(stored[k], i)
		}
		mu.Unlock()
		// Let other calls overlap this one.
		runtime.Gosched()
		mu.Lock()
		defer mu.Unlock()
		calls--
		for _, r := range records {
			k, _ := keyOf(r)
			delete(out, k)
		}
		if failed {
			return nil, &smithy.GenericAPIError{Code: "InternalFailure"}
		}
		return results, nil
	}}}
	opts := fast
	opts.Concurrency = 4
	// Refused records are sent again after calls that started meanwhile.
	opts.RetryBase, opts.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	u := New(s, dest, opts)
	run(t, u)
	for i := range perKey {
		for k := range keys {
			write(t, s, keyed(t, k, i))
		}
	}
	flushWithin(t, u, time.Minute)
	mu.Lock()
	defer mu.Unlock()
	for k := range keys {
		got := stored[k]
		if len(got) != perKey {
			t.Errorf("key %d: %d records stored, want %d", k, len(got), perKey)
		}
		for i, n := range got {
			if n != i {
				t.Errorf("key %d: stored %v, want 0 to %d in order", k, got, perKey-1)
				break
			}
		}
	}
	if most < 2 {
		t.Errorf("at most %d call in flight, want several", most)
	}
}

// TestOrderedKeyRefused refuses the first record of one key until the records of another key,
// spooled after it, are stored: the key whose record waits to be sent again holds up only its
// own records, even with one call in flight.
func TestOrderedKeyRefused(t *testing.T) {
	const perKey = 20
	s := newSpool(t)
	var (
		mu     sync.Mutex
		stored []string
		others int
	)
	dest := orderedDest{fakeDest{put: func(_ context.Context, records [][]byte) ([]Result, error) {
		mu.Lock()
		defer mu.Unlock()
		results := make([]Result, len(records))
		for j, r := range records {
			k, i := keyOf(r)
			if k == 0 && others < perKey {
				results[j] = Result{ErrorCode: "InternalFailure"}
				continue
			}
			if k == 1 {
				others++
			}
			results[j] = Result{RecordID: "seq"}
			stored = append(stored, fmt.Sprintf("%d/%d", k, i))
		}
		return results, nil
	}}}
	opts := fast
	opts.Interval = 10 * time.Millisecond
	opts.RetryBase, opts.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	u := New(s, dest, opts)
	run(t, u)
	write(t, s, keyed(t, 0, 0))
	for i := range perKey {
		write(t, s, keyed(t, 1, i))
		testenv.Eventually(t, fmt.Sprintf("record 1/%d stored while 0/0 is refused", i), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return others > i
		})
	}
	flushWithin(t, u, time.Minute)
	mu.Lock()
	defer mu.Unlock()
	if want := "0/0"; len(stored) != perKey+1 || stored[perKey] != want {
		t.Errorf("stored %v, want 1/0 to 1/%d, then %s", stored, perKey-1, want)
	}
}
