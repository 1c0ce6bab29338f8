package firehosetest

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// refusals returns, for each entry of a PutRecordBatch answer, "" for a stored record and
// "code: message" for a refused one.
func refusals(out []types.PutRecordBatchResponseEntry) []string {
	got := make([]string, len(out))
	for i, e := range out {
		if e.RecordId == nil {
			got[i] = aws.ToString(e.ErrorCode) + ": " + aws.ToString(e.ErrorMessage)
		}
	}
	return got
}

// TestQuotaRecords checks the per-record answer of a stream past its byte or record quota: the
// records that fit are stored, each of the others refused alone with "Slow down.".
func TestQuotaRecords(t *testing.T) {
	const slow = "ServiceUnavailableException: Slow down."
	tests := []struct {
		name  string
		quota Quota
		sizes []int
		want  []string
	}{
		{"bytes", Quota{BytesPerSecond: 50_000}, []int{10_000, 10_000, 20_000, 10_000, 10_000, 10_000},
			[]string{"", "", "", "", slow, slow}},
		{"a smaller record still fits", Quota{BytesPerSecond: 50_000}, []int{30_000, 10_000, 20_000, 5_000},
			[]string{"", "", slow, ""}},
		{"records", Quota{RecordsPerSecond: 3}, []int{1, 1, 1, 1, 1}, []string{"", "", "", slow, slow}},
		{"burst", Quota{RecordsPerSecond: 10, Burst: 200 * time.Millisecond}, []int{1, 1, 1}, []string{"", "", slow}},
		{"a burst holds one record at least", Quota{BytesPerSecond: 1000}, []int{30_000, 1}, []string{"", slow}},
		{"unlimited", Quota{}, []int{10_000, 10_000, 10_000, 10_000, 10_000, 10_000}, make([]string, 6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, Config{MaxRecordBytes: 30_000, Quota: tt.quota})
			fh, _ := goodClients(s)
			data := make([][]byte, len(tt.sizes))
			for i, n := range tt.sizes {
				data[i] = make([]byte, n)
			}
			// One call holds every record: the buckets cannot refill between them.
			out, err := put(t.Context(), fh, DefaultStream, data...)
			if err != nil {
				t.Fatal(err)
			}
			got := refusals(out.RequestResponses)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PutRecordBatch of %v records answered (-want +got):\n%s", tt.sizes, diff)
			}
			failed := 0
			for _, g := range got {
				if g != "" {
					failed++
				}
			}
			if int(aws.ToInt32(out.FailedPutCount)) != failed {
				t.Errorf("FailedPutCount = %d, want %d", aws.ToInt32(out.FailedPutCount), failed)
			}
			st := s.Stats()
			wantThrottled := min(failed, 1)
			if st.RecordsThrottled != failed || st.Throttled != wantThrottled || st.RecordsAccepted != len(data)-failed {
				t.Errorf("Stats() = %+v, want %d records throttled in %d calls", st, failed, wantThrottled)
			}
		})
	}
}

// TestQuotaRequests checks that a call past the request quota is refused as a whole, as the
// service refuses it, and that the bucket fills again.
func TestQuotaRequests(t *testing.T) {
	s := Start(t, Config{Quota: Quota{RequestsPerSecond: 1}})
	fh, _ := goodClients(s)
	if _, err := put(t.Context(), fh, DefaultStream, []byte("a")); err != nil {
		t.Fatalf("first call = %v", err)
	}
	_, err := put(t.Context(), fh, DefaultStream, []byte("b"))
	var sue *types.ServiceUnavailableException
	if !errors.As(err, &sue) {
		t.Fatalf("second call within a second = %v, want ServiceUnavailableException", err)
	}
	if code, msg, status := errorOf(t, err); code != "ServiceUnavailableException" || msg != "Slow down." || status != 503 {
		t.Errorf("second call answered %s %q HTTP %d, want ServiceUnavailableException \"Slow down.\" HTTP 503", code, msg, status)
	}
	testenv.Eventually(t, "a call accepted once the request bucket filled again", func() bool {
		_, err := put(t.Context(), fh, DefaultStream, []byte("c"))
		return err == nil
	})
	st := s.Stats()
	if st.Throttled == 0 || st.RecordsThrottled != 0 || st.RecordsAccepted != 2 {
		t.Errorf("Stats() = %+v, want calls throttled, no record throttled, 2 accepted", st)
	}
	if got := len(s.Records()); got != 2 {
		t.Errorf("server stored %d records, want 2", got)
	}
}

// TestQuotaRate checks that over a sustained load a stream never takes more than its burst and
// its rate over the time elapsed; only this upper bound holds on a busy machine.
func TestQuotaRate(t *testing.T) {
	const rate, size = 200_000, 10_000
	s := Start(t, Config{MaxRecordBytes: size, Quota: Quota{BytesPerSecond: rate}})
	fh, _ := goodClients(s)
	start := time.Now()
	for time.Since(start) < time.Second {
		if _, err := put(t.Context(), fh, DefaultStream, records(40, size)...); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	accepted := len(s.Records()) * size
	if most := rate + int(elapsed.Seconds()*rate); accepted > most {
		t.Errorf("stream took %d bytes in %v at %d B/s, want at most %d", accepted, elapsed, rate, most)
	}
	if accepted < rate {
		t.Errorf("stream took %d bytes, less than its one-second burst of %d", accepted, rate)
	}
}

// TestQuotaPerStream checks that each stream has a quota of its own, which SetQuota changes.
func TestQuotaPerStream(t *testing.T) {
	s := Start(t, Config{Streams: []string{"a", "b"}, Quota: Quota{RecordsPerSecond: 2}})
	s.SetQuota("b", Quota{})
	s.SetStream("c", "ACTIVE")
	fh, _ := goodClients(s)
	for _, tt := range []struct {
		stream string
		failed int32
	}{{"a", 2}, {"b", 0}, {"c", 2}} {
		out, err := put(t.Context(), fh, tt.stream, records(4, 1)...)
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToInt32(out.FailedPutCount); got != tt.failed {
			t.Errorf("stream %s: FailedPutCount = %d, want %d", tt.stream, got, tt.failed)
		}
	}
}

// TestStreamFault checks that a stream's fault affects calls to it alone, and heals.
func TestStreamFault(t *testing.T) {
	s := Start(t, Config{Streams: []string{"a", "b"}})
	s.SetStreamFault("b", Fault{Call: func(string, int) CallFault { return InternalError }})
	fh, _ := goodClients(s)
	if _, err := put(t.Context(), fh, "a", []byte("a")); err != nil {
		t.Errorf("call to the healthy stream = %v", err)
	}
	_, err := put(t.Context(), fh, "b", []byte("b"))
	if code, _, status := errorOf(t, err); code != "InternalFailure" || status != 500 {
		t.Errorf("call to the failing stream answered %s HTTP %d, want InternalFailure HTTP 500", code, status)
	}
	s.SetStreamFault("b", Fault{})
	if _, err := put(t.Context(), fh, "b", []byte("b")); err != nil {
		t.Errorf("call to the healed stream = %v", err)
	}
}
