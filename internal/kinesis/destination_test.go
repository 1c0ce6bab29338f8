package kinesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
	"github.com/kinesyslog/kinesyslog/internal/kinesistest"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// closedURL returns the URL of a loopback port nothing listens on, for an STS that cannot be
// reached.
func closedURL(t *testing.T) string {
	return fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
}

// options returns Options for stream on s, with the server's credentials and STS unreachable, after mod changes them.
func options(t *testing.T, s *kinesistest.Server, stream string, mod func(*Options)) Options {
	t.Helper()
	testenv.IsolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", kinesistest.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", kinesistest.SecretAccessKey)
	o := Options{Options: awsconf.Options{Region: kinesistest.Region, STSEndpointURL: closedURL(t), Logger: slog.New(slog.DiscardHandler)},
		Streams: []string{stream}, EndpointURL: s.URL}
	if mod != nil {
		mod(&o)
	}
	return o
}

// open returns a Destination for stream on s that has sent nothing.
func open(t *testing.T, s *kinesistest.Server, stream string) *Destination {
	t.Helper()
	o := options(t, s, stream, nil)
	d, err := newDestination(t.Context(), o)
	if err != nil {
		t.Fatalf("newDestination(%+v): %v", o, err)
	}
	return d
}

// encode returns the records the Encoder makes of msgs from the source (group, stream).
func encode(t testing.TB, group, stream string, msgs ...string) [][]byte {
	t.Helper()
	var ev record.Events
	for i, m := range msgs {
		ev.Data = record.AppendEvent(ev.Data, record.UUID{byte(i)}, int64(i), []byte(m))
		ev.Ends = append(ev.Ends, len(ev.Data))
	}
	var recs [][]byte
	_, _, err := record.NewEncoder().Encode(record.Header{Owner: kinesistest.Account, LogGroup: group, LogStream: stream}, ev, false,
		func(r []byte) error {
			recs = append(recs, bytes.Clone(r))
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// sources returns one record from each of n sources, source i at "10.0.0.i".
func sources(t testing.TB, n int) [][]byte {
	var recs [][]byte
	for i := range n {
		recs = append(recs, encode(t, "/kinesyslog/syslog/514", fmt.Sprintf("10.0.0.%d", i), fmt.Sprintf("message %d", i))...)
	}
	return recs
}

func TestPutRecords(t *testing.T) {
	s := kinesistest.Start(t, kinesistest.Config{})
	s.CreateStream(t, "logs", 4)
	s.SetFault(kinesistest.Fault{Entry: func(_, i int, _ string, _ []byte) string {
		switch i {
		case 1:
			return kinesistest.Throttled
		case 3:
			return kinesistest.InternalFailure
		}
		return ""
	}})
	d := open(t, s, "logs")
	records := sources(t, 16)
	got, err := d.Put(t.Context(), records)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(records) {
		t.Fatalf("Put(%d records) = %d results", len(records), len(got))
	}
	for i, want := range map[int]string{1: kinesistest.Throttled, 3: kinesistest.InternalFailure} {
		if got[i].Delivered() || got[i].ErrorCode != want || got[i].Throttled != (want == kinesistest.Throttled) {
			t.Errorf("result %d = %+v, want refused with %s", i, got[i], want)
		}
	}

	stored := s.Records(t, "logs")
	if len(stored) != len(records)-2 {
		t.Fatalf("kinesalite stored %d records, want %d", len(stored), len(records)-2)
	}
	bySequence := map[string]kinesistest.Record{}
	shards := map[string]bool{}
	for _, r := range stored {
		bySequence[r.SequenceNumber] = r
		shards[r.ShardID] = true
	}
	for i, r := range got {
		if i == 1 || i == 3 {
			continue
		}
		st, ok := bySequence[r.RecordID]
		if !ok {
			t.Errorf("result %d: RecordID %q is no stored record's sequence number", i, r.RecordID)
			continue
		}
		if !bytes.Equal(st.Data, records[i]) {
			t.Errorf("record stored under the sequence number of result %d is not record %d", i, i)
		}
		if want := fmt.Sprintf("/kinesyslog/syslog/514/10.0.0.%d", i); st.PartitionKey != want {
			t.Errorf("record %d has partition key %q, want %q", i, st.PartitionKey, want)
		}
	}
	// 14 sources hashed onto 4 shards leave none empty but with odds of 4 * (3/4)^14 = 7%; two
	// used shards prove the spreading.
	if len(shards) < 2 {
		t.Errorf("14 sources landed on %d shards, want them spread", len(shards))
	}
}

// TestPutRecordsOneSourceOneShard sends records of one source in several calls: all land on
// one shard, in the order they were sent.
func TestPutRecordsOneSourceOneShard(t *testing.T) {
	s := kinesistest.Start(t, kinesistest.Config{})
	s.CreateStream(t, "logs", 4)
	d := open(t, s, "logs")
	var sent [][]byte
	for i := range 10 {
		recs := encode(t, "/kinesyslog/syslog/514", "192.0.2.7", fmt.Sprintf("call %d a", i), fmt.Sprintf("call %d b", i))
		if _, err := d.Put(t.Context(), recs); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, recs...)
	}
	stored := s.Records(t, "logs")
	if len(stored) != len(sent) {
		t.Fatalf("kinesalite stored %d records, want %d", len(stored), len(sent))
	}
	for i, r := range stored {
		if r.ShardID != stored[0].ShardID {
			t.Errorf("record %d on %s, record 0 on %s: one source must stay on one shard", i, r.ShardID, stored[0].ShardID)
		}
		if !bytes.Equal(r.Data, sent[i]) {
			t.Errorf("record %d of the shard is not the record sent %dth", i, i)
		}
	}
}

func TestPutRecordsEmpty(t *testing.T) {
	s := kinesistest.Start(t, kinesistest.Config{})
	d := open(t, s, "logs")
	if got, err := d.Put(t.Context(), nil); err != nil || got != nil {
		t.Errorf("Put(nil) = %v, %v; want nil, nil", got, err)
	}
	if n := s.Stats().Calls; n != 0 {
		t.Errorf("%d PutRecords calls for an empty batch, want none", n)
	}
}

// TestPutRecordsErrors checks how failed calls are told apart: throttling (upload.ErrThrottled)
// and 5xx answers are transient, a record above the service's limit is ErrRecordTooLarge, a proxy's 413
// upload.ErrBatchTooLarge.
func TestPutRecordsErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		code     string
		records  [][]byte
		wantKind error // nil: transient
	}{
		{name: "throttled", status: http.StatusBadRequest, code: "ProvisionedThroughputExceededException", wantKind: upload.ErrThrottled},
		{name: "internal failure", status: http.StatusInternalServerError, code: "InternalFailure"},
		{name: "unavailable", status: http.StatusServiceUnavailable, code: "ServiceUnavailable"},
		{name: "KMS throttled", status: http.StatusBadRequest, code: "KMSThrottlingException"},
		{name: "proxy 413", status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLarge", wantKind: upload.ErrBatchTooLarge},
		{name: "record over 1 MiB", records: [][]byte{make([]byte, 1<<20+1)}, wantKind: awsconf.ErrRecordTooLarge},
		{name: "stream missing", wantKind: awsconf.ErrNotFound},
	}
	s := kinesistest.Start(t, kinesistest.Config{})
	s.CreateStream(t, "logs", 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.SetFault(kinesistest.Fault{Call: func(op, _ string) (int, string) {
				if op == "PutRecords" {
					return tt.status, tt.code
				}
				return 0, ""
			}})
			defer s.SetFault(kinesistest.Fault{})
			stream := "logs"
			if tt.name == "stream missing" {
				stream = "missing"
			}
			d := open(t, s, stream)
			records := tt.records
			if records == nil {
				records = sources(t, 2)
			}
			got, err := d.Put(t.Context(), records)
			if err == nil || got != nil {
				t.Fatalf("Put() = %v, %v; want an error", got, err)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("kinesis: put %d records to %q: ", len(records), stream)) {
				t.Errorf("Put() error %q does not say what was done", err)
			}
			if tt.wantKind == nil {
				if awsconf.IsDefinite(err) {
					t.Errorf("Put() = %v, definite; want transient", err)
				}
				if tt.code != "" && !strings.Contains(err.Error(), tt.code) {
					t.Errorf("Put() = %v, want it to name %s", err, tt.code)
				}
			} else if !errors.Is(err, tt.wantKind) || (tt.wantKind == upload.ErrThrottled && awsconf.IsDefinite(err)) {
				t.Errorf("Put() = %v, want %v", err, tt.wantKind)
			}
		})
	}
}

// TestLimits checks that Limits leave room for the partition keys within the service's 1 MiB
// per record and 5 MiB per call, and that a record of MaxRecordBytes is taken.
func TestLimits(t *testing.T) {
	l := (&Destination{}).Limits()
	if l.MaxRecords != 500 || l.MaxRecordBytes+MaxPartitionKeyBytes != 1<<20 ||
		l.MaxBatchBytes+l.MaxRecords*MaxPartitionKeyBytes != 5<<20 {
		t.Errorf("Limits() = %+v: records and keys exceed 500 records, 1 MiB each, 5 MiB a call", l)
	}
	if l.MaxRecordBytes < record.TargetBytes || l.MaxBatchBytes < 5*record.TargetBytes {
		t.Errorf("Limits() = %+v: the record stage's records of %d bytes do not fit five to a call", l, record.TargetBytes)
	}
	s := kinesistest.Start(t, kinesistest.Config{})
	s.CreateStream(t, "logs", 1)
	d := open(t, s, "logs")
	got, err := d.Put(t.Context(), [][]byte{make([]byte, l.MaxRecordBytes)})
	if err != nil || len(got) != 1 || !got[0].Delivered() {
		t.Errorf("Put(a record of MaxRecordBytes) = %v, %v; want it delivered", got, err)
	}
}

func TestPartitionKey(t *testing.T) {
	long := strings.Repeat("g", MaxPartitionKeyBytes)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{name: "syslog", data: encode(t, "/kinesyslog/syslog/514", "10.0.0.5", "m")[0], want: "/kinesyslog/syslog/514/10.0.0.5"},
		{name: "IPv6", data: encode(t, "/kinesyslog/gelf/12201", "2001:db8::1", "m")[0], want: "/kinesyslog/gelf/12201/2001:db8::1"},
		{name: "too long", data: encode(t, long, "10.0.0.5", "m")[0], want: hexSHA256([]byte(long + "/10.0.0.5"))},
		{name: "not a record", data: []byte("plain"), want: hexSHA256([]byte("plain"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PartitionKey(tt.data)
			if got != tt.want {
				t.Errorf("PartitionKey() = %q, want %q", got, tt.want)
			}
			if len(got) == 0 || len(got) > MaxPartitionKeyBytes {
				t.Errorf("PartitionKey() is %d bytes, want 1 to %d", len(got), MaxPartitionKeyBytes)
			}
		})
	}
}

// TestOpen checks what Open makes of the stream and where it learns the records' owner:
// --account-id first, else the account in the stream's ARN; a definite answer stops it, a
// failure to get one does not.
func TestOpen(t *testing.T) {
	tests := []struct {
		name      string
		stream    string
		accountID string
		describe  func(op, stream string) (int, string)
		secret    string // instead of the server's
		want      string
		wantErr   error
		wantText  string // in the error
	}{
		{name: "owner from the ARN", stream: "logs", want: kinesistest.Account},
		{name: "stream ARN", stream: streamARN(kinesistest.Region, kinesistest.Account, "logs"), want: kinesistest.Account},
		{name: "stream ARN of another region", stream: streamARN("eu-west-3", kinesistest.Account, "logs"),
			wantText: "is in region eu-west-3, not in " + kinesistest.Region},
		{name: "stream ARN of another account", stream: streamARN(kinesistest.Region, "111122223333", "logs"),
			wantErr: awsconf.ErrNotFound, wantText: "the credentials reach " + streamARN(kinesistest.Region, kinesistest.Account, "logs")},
		{name: "stream ARN missing", stream: streamARN(kinesistest.Region, kinesistest.Account, "missing"), wantErr: awsconf.ErrNotFound},
		{name: "ARN of a delivery stream", stream: "arn:aws:firehose:" + kinesistest.Region + ":" + kinesistest.Account + ":deliverystream/logs",
			wantText: "is not arn:aws:kinesis:REGION:ACCOUNT:stream/NAME"},
		{name: "account id", stream: "logs", accountID: "111122223333", want: "111122223333"},
		{name: "stream missing", stream: "missing", wantErr: awsconf.ErrNotFound},
		{name: "stream creating", stream: "creating", wantErr: awsconf.ErrNotActive},
		{name: "access denied", stream: "logs", describe: refuse("DescribeStreamSummary", http.StatusBadRequest, "AccessDeniedException"),
			wantErr: awsconf.ErrAccessDenied},
		{name: "bad credentials", stream: "logs", describe: refuse("DescribeStreamSummary", http.StatusBadRequest, "UnrecognizedClientException"),
			wantErr: awsconf.ErrCredentials},
		{name: "wrong secret", stream: "logs", secret: "not the secret", wantErr: awsconf.ErrCredentials},
	}
	s := kinesistest.Start(t, kinesistest.Config{})
	s.CreateStream(t, "logs", 1)
	// Streams of this one stay CREATING.
	creating := kinesistest.Start(t, kinesistest.Config{CreateStreamDelay: time.Hour})
	if _, err := creating.Client.CreateStream(t.Context(), &awskinesis.CreateStreamInput{
		StreamName: aws.String("creating"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := s
			if tt.stream == "creating" {
				srv = creating
			}
			srv.SetFault(kinesistest.Fault{Call: tt.describe})
			defer srv.SetFault(kinesistest.Fault{})
			o := options(t, srv, tt.stream, func(o *Options) { o.AccountID = tt.accountID })
			if tt.secret != "" {
				t.Setenv("AWS_SECRET_ACCESS_KEY", tt.secret)
			}
			d, err := Open(t.Context(), o)
			if tt.wantErr != nil || tt.wantText != "" {
				if err == nil || !errors.Is(err, tt.wantErr) && tt.wantErr != nil || !strings.Contains(err.Error(), tt.wantText) || d != nil {
					t.Fatalf("Open() = %v, %v; want %v, %q", d, err, tt.wantErr, tt.wantText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open() = %v", err)
			}
			done, cancel := context.WithCancel(t.Context())
			cancel()
			if got, err := d.Owner(done); got != tt.want || err != nil {
				t.Errorf("Owner() = %q, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// streamARN is the ARN of the data stream name of account in region.
func streamARN(region, account, name string) string {
	return "arn:aws:kinesis:" + region + ":" + account + ":stream/" + name
}

// TestOwnerLearnedInRun starts while Kinesis throttles DescribeStreamSummary and STS cannot be
// reached: Open succeeds with the owner unknown, and Run learns it from the stream's ARN once
// Kinesis answers, keeping it in the state directory.
func TestOwnerLearnedInRun(t *testing.T) {
	s := kinesistest.Start(t, kinesistest.Config{})
	s.CreateStream(t, "logs", 1)
	s.SetFault(kinesistest.Fault{Call: refuse("DescribeStreamSummary", http.StatusBadRequest, "LimitExceededException")})
	dir := t.TempDir()
	d, err := Open(t.Context(), options(t, s, "logs", func(o *Options) { o.StateDir = dir }))
	if err != nil {
		t.Fatalf("Open() while Kinesis throttles = %v, want a Destination", err)
	}
	short, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	if got, err := d.Owner(short); err == nil {
		t.Errorf("Owner() while AWS does not answer = %q, want the owner unknown", got)
	}
	cancel()
	s.SetFault(kinesistest.Fault{})
	if err := d.Run(t.Context()); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if got, err := d.Owner(t.Context()); got != kinesistest.Account || err != nil {
		t.Errorf("Owner() after Run = %q, %v; want %s", got, err, kinesistest.Account)
	}
	if b, err := os.ReadFile(filepath.Join(dir, awsconf.OwnerFile)); strings.TrimSpace(string(b)) != kinesistest.Account {
		t.Errorf("owner file after Run = %q, %v; want %s", b, err, kinesistest.Account)
	}
}

// refuse returns a Fault.Call that refuses every call of op with status and code.
func refuse(op string, status int, code string) func(string, string) (int, string) {
	return func(got, _ string) (int, string) {
		if got == op {
			return status, code
		}
		return 0, ""
	}
}

// TestSeveralStreams puts the records of 12 sources to three streams: each source's records go
// to one stream, the sources spread over all three, and a stream whose call fails as a whole
// costs only its own records, refused to be sent again, while the others are delivered.
func TestSeveralStreams(t *testing.T) {
	s := kinesistest.Start(t, kinesistest.Config{})
	streams := []string{"a", "b", "c"}
	for _, name := range streams {
		s.CreateStream(t, name, 2)
	}
	d, err := newDestination(t.Context(), options(t, s, "", func(o *Options) { o.Streams = streams }))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := d.Put(t.Context(), sources(t, 12)); err != nil {
			t.Fatal(err)
		}
	}
	streamOf := map[string]string{} // partition key to stream
	for _, name := range streams {
		recs := s.Records(t, name)
		if len(recs) == 0 {
			t.Errorf("stream %s has no records: 12 sources should spread over 3 streams", name)
		}
		for _, r := range recs {
			if other, ok := streamOf[r.PartitionKey]; ok && other != name {
				t.Errorf("source %s on streams %s and %s, want one", r.PartitionKey, other, name)
			}
			streamOf[r.PartitionKey] = name
		}
	}
	if len(streamOf) != 12 {
		t.Errorf("%d sources stored, want 12", len(streamOf))
	}

	s.SetFault(kinesistest.Fault{Call: func(op, stream string) (int, string) {
		if op == "PutRecords" && stream == "b" {
			return http.StatusInternalServerError, kinesistest.InternalFailure
		}
		return 0, ""
	}})
	records := sources(t, 12)
	got, err := d.Put(t.Context(), records)
	if err != nil {
		t.Fatalf("Put() with one of three streams failing = %v, want results", err)
	}
	for i, r := range got {
		onB := streams[StreamFor(PartitionKey(records[i]), 3)] == "b"
		if r.Delivered() == onB || (onB && r.ErrorCode != kinesistest.InternalFailure) {
			t.Errorf("record %d (on b: %t) = %+v; want refused with InternalFailure exactly when on b", i, onB, r)
		}
	}
	s.SetFault(kinesistest.Fault{Call: refuse("PutRecords", http.StatusInternalServerError, kinesistest.InternalFailure)})
	if got, err := d.Put(t.Context(), records); err == nil || awsconf.IsDefinite(err) {
		t.Errorf("Put() with every stream failing = %v, %v; want a transient error", got, err)
	}
}
