package firehosetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// clients returns SDK clients for s signed with creds. The SDK retries nothing, so that every
// fault reaches the test.
func clients(s *Server, creds aws.CredentialsProvider) (*firehose.Client, *sts.Client) {
	cfg := aws.Config{
		Region:       s.Config().Region,
		Credentials:  creds,
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		BaseEndpoint: aws.String(s.URL),
	}
	return firehose.NewFromConfig(cfg), sts.NewFromConfig(cfg)
}

func goodClients(s *Server) (*firehose.Client, *sts.Client) {
	c := s.Credentials()
	return clients(s, credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken))
}

func put(ctx context.Context, fh *firehose.Client, stream string, data ...[]byte) (*firehose.PutRecordBatchOutput, error) {
	in := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(stream), Records: make([]types.Record, len(data))}
	for i, d := range data {
		in.Records[i].Data = d
	}
	return fh.PutRecordBatch(ctx, in)
}

func records(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte('a' + i%26)}, size)
	}
	return out
}

// errorOf returns the code, message and HTTP status of err, failing the test if it is no API
// error.
func errorOf(t *testing.T, err error) (code, message string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an AWS API error", err)
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), ae.ErrorMessage(), status
}

func TestDescribeDeliveryStream(t *testing.T) {
	s := Start(t, Config{Streams: []string{"active", "creating"}})
	s.SetStream("creating", "CREATING")
	fh, _ := goodClients(s)
	for _, tt := range []struct{ stream, want string }{{"active", "ACTIVE"}, {"creating", "CREATING"}} {
		out, err := fh.DescribeDeliveryStream(t.Context(), &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(tt.stream)})
		if err != nil {
			t.Fatalf("DescribeDeliveryStream(%s): %v", tt.stream, err)
		}
		d := out.DeliveryStreamDescription
		if got := string(d.DeliveryStreamStatus); got != tt.want || aws.ToString(d.DeliveryStreamName) != tt.stream {
			t.Errorf("DescribeDeliveryStream(%s) = %s %s, want status %s", tt.stream, aws.ToString(d.DeliveryStreamName), got, tt.want)
		}
	}

	_, err := fh.DescribeDeliveryStream(t.Context(), &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("missing")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("DescribeDeliveryStream(missing) = %v, want ResourceNotFoundException", err)
	}
	if want := "Firehose missing under account 123456789012 not found."; notFound.ErrorMessage() != want {
		t.Errorf("message = %q, want %q", notFound.ErrorMessage(), want)
	}
}

func TestPutRecordBatch(t *testing.T) {
	s := Start(t, Config{})
	fh, _ := goodClients(s)
	data := [][]byte{[]byte("one"), {}, []byte("three\x00\xff")}
	out, err := put(t.Context(), fh, DefaultStream, data...)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedPutCount) != 0 || len(out.RequestResponses) != len(data) {
		t.Fatalf("PutRecordBatch = FailedPutCount %d, %d responses; want 0, %d", aws.ToInt32(out.FailedPutCount), len(out.RequestResponses), len(data))
	}
	var want []Record
	for i, e := range out.RequestResponses {
		if e.RecordId == nil || e.ErrorCode != nil {
			t.Fatalf("response %d = %+v, want a RecordId only", i, e)
		}
		want = append(want, Record{Stream: DefaultStream, ID: *e.RecordId, Data: data[i]})
	}
	if diff := cmp.Diff(want, s.Records(), cmp.Comparer(bytes.Equal)); diff != "" {
		t.Errorf("Records() mismatch (-want +got):\n%s", diff)
	}
	st := s.Stats()
	if st.Calls[opPutRecordBatch] != 1 || st.RecordsAccepted != 3 || st.RecordsFailed != 0 || st.AuthFailures != 0 {
		t.Errorf("Stats() = %+v, want 1 call, 3 records accepted", st)
	}
}

func TestPutRecordBatchLimits(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		data     [][]byte
		wantCode string // "" means accepted
		wantMsg  string // a part of the message
	}{
		{name: "500 records", data: records(500, 10)},
		{name: "one record of 1,024,000 bytes", data: records(1, MaxRecordBytes)},
		{name: "4,000,000 bytes", data: records(4, 1_000_000)},
		{name: "501 records", data: records(501, 1), wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value '[501 records]' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"},
		{name: "no record", data: nil, wantCode: "ValidationException", wantMsg: "Member must have length greater than or equal to 1"},
		{name: "record of 1,024,001 bytes", data: append(records(1, 10), records(1, MaxRecordBytes+1)...), wantCode: "ValidationException",
			wantMsg: "at 'records.2.member.data' failed to satisfy constraint: Member must have length less than or equal to 1024000"},
		{name: "4,000,001 bytes", data: append(records(3, 1_000_000), records(1, 1_000_001)...),
			wantCode: "InvalidArgumentException", wantMsg: "Records size exceeds 4 MB limit"},
		{name: "stricter service", cfg: Config{MaxBatchBytes: 1000}, data: records(2, 501),
			wantCode: "InvalidArgumentException", wantMsg: "Records size exceeds 4 MB limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, tt.cfg)
			fh, _ := goodClients(s)
			out, err := put(t.Context(), fh, DefaultStream, tt.data...)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("PutRecordBatch: %v", err)
				}
				if n := len(s.Records()); n != len(tt.data) || aws.ToInt32(out.FailedPutCount) != 0 {
					t.Errorf("server stored %d records, FailedPutCount %d; want %d, 0", n, aws.ToInt32(out.FailedPutCount), len(tt.data))
				}
				return
			}
			code, msg, status := errorOf(t, err)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantMsg) || status != 400 {
				t.Errorf("PutRecordBatch error = %s %q (HTTP %d), want %s containing %q (HTTP 400)", code, msg, status, tt.wantCode, tt.wantMsg)
			}
			if n := len(s.Records()); n != 0 {
				t.Errorf("server stored %d records of a refused call", n)
			}
		})
	}
}

func TestPutRecordBatchNotActive(t *testing.T) {
	s := Start(t, Config{})
	s.SetStream(DefaultStream, "DELETING")
	fh, _ := goodClients(s)
	_, err := put(t.Context(), fh, DefaultStream, []byte("x"))
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Fatalf("PutRecordBatch to a DELETING stream = %v, want ResourceInUseException", err)
	}
	_, err = put(t.Context(), fh, "missing", []byte("x"))
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("PutRecordBatch to a missing stream = %v, want ResourceNotFoundException", err)
	}
}

func TestRecordFailures(t *testing.T) {
	s := Start(t, Config{})
	s.SetFault(Fault{RecordFailure: func(n, i int, data []byte) RecordFailure {
		switch {
		case n == 1 && i%2 == 1:
			return RecordThrottled
		case n == 1 && string(data) == "4":
			return RecordInternalFailure
		}
		return RecordFailure{}
	}})
	fh, _ := goodClients(s)
	data := [][]byte{[]byte("0"), []byte("1"), []byte("2"), []byte("3"), []byte("4")}
	out, err := put(t.Context(), fh, DefaultStream, data...)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		HasID         bool
		Code, Message string
	}
	var got []entry
	for _, e := range out.RequestResponses {
		got = append(got, entry{e.RecordId != nil, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage)})
	}
	want := []entry{
		{HasID: true},
		{Code: "ServiceUnavailableException", Message: "Slow down."},
		{HasID: true},
		{Code: "ServiceUnavailableException", Message: "Slow down."},
		{Code: "InternalFailure", Message: "Internal service failure."},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RequestResponses mismatch (-want +got):\n%s", diff)
	}
	if aws.ToInt32(out.FailedPutCount) != 3 {
		t.Errorf("FailedPutCount = %d, want 3", aws.ToInt32(out.FailedPutCount))
	}
	var stored []string
	for _, r := range s.Records() {
		stored = append(stored, string(r.Data))
	}
	if diff := cmp.Diff([]string{"0", "2"}, stored); diff != "" {
		t.Errorf("stored records mismatch (-want +got):\n%s", diff)
	}

	// The second call is not refused by the function.
	if out, err := put(t.Context(), fh, DefaultStream, data[1]); err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Errorf("second call = %v, %v; want all accepted", out, err)
	}
}

func TestFaultRates(t *testing.T) {
	s := Start(t, Config{Seed: 7})
	s.SetFault(Fault{RecordFailureRate: 0.3, ThrottleRate: 0.5})
	fh, _ := goodClients(s)
	var throttled, answered, failed int
	for range 20 {
		out, err := put(t.Context(), fh, DefaultStream, records(50, 10)...)
		if err != nil {
			var sue *types.ServiceUnavailableException
			if !errors.As(err, &sue) {
				t.Fatalf("PutRecordBatch = %v, want success or ServiceUnavailableException", err)
			}
			throttled++
			continue
		}
		answered++
		failed += int(aws.ToInt32(out.FailedPutCount))
	}
	// With a fixed seed the draws are fixed; these bounds only say that both faults happen and
	// neither happens always.
	if throttled == 0 || answered == 0 {
		t.Errorf("%d calls throttled, %d answered; want some of each", throttled, answered)
	}
	if failed == 0 || failed == answered*50 {
		t.Errorf("%d of %d records failed; want some", failed, answered*50)
	}
	st := s.Stats()
	if st.RecordsFailed != failed || st.RecordsAccepted != answered*50-failed || st.Faults != throttled {
		t.Errorf("Stats() = %+v, want %d failed, %d accepted, %d faults", st, failed, answered*50-failed, throttled)
	}
}

func TestCallFaults(t *testing.T) {
	tests := []struct {
		fault      CallFault
		op         string
		wantCode   string
		wantStatus int
	}{
		{Throttle, opPutRecordBatch, "ServiceUnavailableException", 503},
		{Throttle, opDescribeDeliveryStream, "LimitExceededException", 400},
		{Throttle, opGetCallerIdentity, "Throttling", 400},
		{InternalError, opPutRecordBatch, "InternalFailure", 500},
		{InternalError, opGetCallerIdentity, "InternalFailure", 500},
		{AccessDenied, opDescribeDeliveryStream, "AccessDeniedException", 400},
		{AccessDenied, opGetCallerIdentity, "AccessDenied", 403},
		{ExpiredToken, opPutRecordBatch, "ExpiredTokenException", 400},
		{ExpiredToken, opGetCallerIdentity, "ExpiredToken", 403},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%s", tt.fault, tt.op), func(t *testing.T) {
			s := Start(t, Config{})
			s.SetFault(Fault{Call: func(op string, n int) CallFault {
				if op == tt.op && n == 1 {
					return tt.fault
				}
				return NoFault
			}})
			fh, st := goodClients(s)
			call := func() error {
				switch tt.op {
				case opPutRecordBatch:
					_, err := put(t.Context(), fh, DefaultStream, []byte("x"))
					return err
				case opDescribeDeliveryStream:
					_, err := fh.DescribeDeliveryStream(t.Context(), &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(DefaultStream)})
					return err
				default:
					_, err := st.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
					return err
				}
			}
			code, _, status := errorOf(t, call())
			if code != tt.wantCode || status != tt.wantStatus {
				t.Errorf("first call = %s (HTTP %d), want %s (HTTP %d)", code, status, tt.wantCode, tt.wantStatus)
			}
			if err := call(); err != nil {
				t.Errorf("second call = %v, want success", err)
			}
			if n := len(s.Records()); tt.op == opPutRecordBatch && n != 1 {
				t.Errorf("server stored %d records, want only the second call's one", n)
			}
		})
	}
}

func TestLoseResponse(t *testing.T) {
	s := Start(t, Config{})
	s.SetFault(Fault{Call: func(string, int) CallFault { return LoseResponse }})
	fh, _ := goodClients(s)
	if _, err := put(t.Context(), fh, DefaultStream, []byte("x")); err == nil {
		t.Fatal("PutRecordBatch with a lost response succeeded")
	}
	if n := len(s.Records()); n != 1 {
		t.Errorf("server stored %d records, want the 1 whose answer was lost", n)
	}
}

func TestOutageRefuse(t *testing.T) {
	s := Start(t, Config{})
	fh, st := goodClients(s)
	// A first call leaves a kept-alive connection the outage must cut too.
	if _, err := put(t.Context(), fh, DefaultStream, []byte("before")); err != nil {
		t.Fatal(err)
	}
	s.SetFault(Fault{Outage: OutageRefuse})
	// The client may first try its kept-alive connection before it notices the server closed it
	// ("server closed idle connection"), as against a real endpoint that goes away; after that,
	// every connection is refused.
	for attempt := 1; ; attempt++ {
		_, err := put(t.Context(), fh, DefaultStream, []byte("during"))
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if err == nil || attempt == 3 {
			t.Fatalf("PutRecordBatch %d during the outage = %v, want connection refused", attempt, err)
		}
	}
	if _, err := st.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GetCallerIdentity during the outage = %v, want connection refused", err)
	}
	s.SetFault(Fault{})
	if _, err := put(t.Context(), fh, DefaultStream, []byte("after")); err != nil {
		t.Errorf("PutRecordBatch after the outage: %v", err)
	}
	if n := len(s.Records()); n != 2 {
		t.Errorf("server stored %d records, want 2", n)
	}
}

func TestOutageUnavailable(t *testing.T) {
	s := Start(t, Config{})
	s.SetFault(Fault{Outage: OutageUnavailable})
	fh, st := goodClients(s)
	_, err := put(t.Context(), fh, DefaultStream, []byte("x"))
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
		t.Errorf("PutRecordBatch = %v, want an HTTP 503 response error", err)
	}
	if _, err := st.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
		t.Errorf("GetCallerIdentity = %v, want an HTTP 503 response error", err)
	}
	if n := s.Stats().Faults; n != 2 {
		t.Errorf("Stats().Faults = %d, want 2", n)
	}
}

// waitRequests polls until the server has seen n requests.
func waitRequests(t *testing.T, s *Server, n int) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%d requests", n), func() bool { return s.Stats().Requests >= n })
}

func TestOutageHang(t *testing.T) {
	s := Start(t, Config{})
	s.SetFault(Fault{Outage: OutageHang})
	fh, _ := goodClients(s)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := put(ctx, fh, DefaultStream, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("PutRecordBatch = %v, want the client's deadline exceeded", err)
	}

	// A held call is let go, unanswered, when the outage ends.
	done := make(chan error, 1)
	go func() {
		_, err := put(t.Context(), fh, DefaultStream, []byte("y"))
		done <- err
	}()
	waitRequests(t, s, 2)
	s.SetFault(Fault{})
	if err := <-done; err == nil {
		t.Error("held PutRecordBatch succeeded, want its connection dropped")
	}
	if n := len(s.Records()); n != 0 {
		t.Errorf("server stored %d records during the hang", n)
	}
}

func TestLatency(t *testing.T) {
	s := Start(t, Config{})
	s.SetFault(Fault{Latency: time.Hour})
	fh, _ := goodClients(s)
	done := make(chan error, 1)
	go func() {
		_, err := put(t.Context(), fh, DefaultStream, []byte("x"))
		done <- err
	}()
	waitRequests(t, s, 1)
	select {
	case err := <-done:
		t.Fatalf("PutRecordBatch answered while held: %v", err)
	default:
	}
	// Changing the fault lets the slow call go ahead.
	s.SetFault(Fault{})
	if err := <-done; err != nil {
		t.Errorf("PutRecordBatch after the latency ended: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	good := DefaultAccessKeyID
	tests := []struct {
		name                  string
		creds                 aws.CredentialsProvider
		region                string
		wantFirehose, wantSTS string
		wantFirehoseStatus    int
	}{
		{name: "wrong secret", creds: credentials.NewStaticCredentialsProvider(good, "wrong", ""),
			wantFirehose: "InvalidSignatureException", wantSTS: "SignatureDoesNotMatch"},
		{name: "unknown key", creds: credentials.NewStaticCredentialsProvider("AKIAUNKNOWN", DefaultSecretAccessKey, ""),
			wantFirehose: "UnrecognizedClientException", wantSTS: "InvalidClientTokenId"},
		{name: "wrong region", creds: credentials.NewStaticCredentialsProvider(good, DefaultSecretAccessKey, ""), region: "eu-west-1",
			wantFirehose: "InvalidSignatureException", wantSTS: "SignatureDoesNotMatch"},
		{name: "unsigned", creds: aws.AnonymousCredentials{},
			wantFirehose: "MissingAuthenticationTokenException", wantSTS: "MissingAuthenticationToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, Config{})
			fh, st := clients(s, tt.creds)
			if tt.region != "" {
				cfg := aws.Config{Region: tt.region, Credentials: tt.creds, Retryer: func() aws.Retryer { return aws.NopRetryer{} }, BaseEndpoint: aws.String(s.URL)}
				fh, st = firehose.NewFromConfig(cfg), sts.NewFromConfig(cfg)
			}
			_, err := put(t.Context(), fh, DefaultStream, []byte("x"))
			if code, _, status := errorOf(t, err); code != tt.wantFirehose || status != 400 {
				t.Errorf("PutRecordBatch = %s (HTTP %d), want %s (HTTP 400)", code, status, tt.wantFirehose)
			}
			_, err = st.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			if code, _, status := errorOf(t, err); code != tt.wantSTS || status != 403 {
				t.Errorf("GetCallerIdentity = %s (HTTP %d), want %s (HTTP 403)", code, status, tt.wantSTS)
			}
			got := s.Stats()
			if got.AuthFailures != 2 || len(got.Calls) != 0 || len(s.Records()) != 0 {
				t.Errorf("Stats() = %+v, want 2 auth failures and no call", got)
			}
		})
	}
}

func TestSessionToken(t *testing.T) {
	s := Start(t, Config{SessionToken: "token"})
	fh, st := goodClients(s)
	if _, err := put(t.Context(), fh, DefaultStream, []byte("x")); err != nil {
		t.Errorf("PutRecordBatch with the session token: %v", err)
	}
	if _, err := st.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("GetCallerIdentity with the session token: %v", err)
	}
	fh, _ = clients(s, credentials.NewStaticCredentialsProvider(DefaultAccessKeyID, DefaultSecretAccessKey, ""))
	if code, _, _ := errorOf(t, func() error { _, err := put(t.Context(), fh, DefaultStream, []byte("x")); return err }()); code != "UnrecognizedClientException" {
		t.Errorf("PutRecordBatch without the session token = %s, want UnrecognizedClientException", code)
	}
}

func TestGetCallerIdentity(t *testing.T) {
	s := Start(t, Config{Account: "210987654321"})
	_, st := goodClients(s)
	out, err := st.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{aws.ToString(out.Account), aws.ToString(out.Arn), aws.ToString(out.UserId)}
	want := []string{"210987654321", "arn:aws:iam::210987654321:user/kinesyslog-test", stsUserID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetCallerIdentity mismatch (-want +got):\n%s", diff)
	}
}

// TestEnviron points an SDK configuration loaded the default way at the server through nothing
// but the environment Environ gives.
func TestEnviron(t *testing.T) {
	s := Start(t, Config{})
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	for _, kv := range s.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := firehose.NewFromConfig(cfg).DescribeDeliveryStream(t.Context(),
		&firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(DefaultStream)}); err != nil {
		t.Errorf("DescribeDeliveryStream: %v", err)
	}
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("GetCallerIdentity: %v", err)
	}
}

// TestConcurrent sends from several goroutines while faults change; run it with -race.
func TestConcurrent(t *testing.T) {
	s := Start(t, Config{})
	fh, _ := goodClients(s)
	const senders, calls, perCall = 4, 25, 20
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for c := range calls {
				data := make([][]byte, perCall)
				for i := range data {
					data[i] = fmt.Appendf(nil, "%d/%d/%d", g, c, i)
				}
				_, _ = put(t.Context(), fh, DefaultStream, data...)
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			s.SetFault(Fault{RecordFailureRate: float64(i%3) / 4, ThrottleRate: float64(i%2) / 3})
			_ = s.Stats()
		}
		s.SetFault(Fault{})
	})
	wg.Wait()

	st := s.Stats()
	recs := s.Records()
	ids := make(map[string]bool)
	for _, r := range recs {
		if ids[r.ID] {
			t.Fatalf("RecordId %s answered twice", r.ID)
		}
		ids[r.ID] = true
	}
	if st.RecordsAccepted != len(recs) || st.Calls[opPutRecordBatch] != senders*calls ||
		st.RecordsAccepted+st.RecordsFailed != (senders*calls-st.Faults)*perCall {
		t.Errorf("Stats() = %+v with %d records stored; counters disagree", st, len(recs))
	}
}

func TestDuplicates(t *testing.T) {
	s := Start(t, Config{})
	fh, _ := goodClients(s)
	for _, data := range [][][]byte{{[]byte("a"), []byte("b")}, {[]byte("b"), []byte("c"), []byte("a")}, {[]byte("a")}} {
		if _, err := put(t.Context(), fh, DefaultStream, data...); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.RecordsAccepted != 6 || st.Duplicates != 3 {
		t.Errorf("Stats() = %+v, want 6 records accepted, 3 of them duplicates", st)
	}
}

func TestMaxBodyBytes(t *testing.T) {
	s := Start(t, Config{MaxBodyBytes: 2000})
	fh, _ := goodClients(s)
	if _, err := put(t.Context(), fh, DefaultStream, make([]byte, 1000)); err != nil {
		t.Errorf("PutRecordBatch of a body under the limit = %v", err)
	}
	_, err := put(t.Context(), fh, DefaultStream, make([]byte, 2000))
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 413 {
		t.Errorf("PutRecordBatch of a body over the limit = %v, want an HTTP 413 response error", err)
	}
	if n := len(s.Records()); n != 1 {
		t.Errorf("server stored %d records, want 1", n)
	}
}

// TestUplink checks that calls sharing the link take at least as long as it needs to carry them;
// only the lower bound holds on a busy machine.
func TestUplink(t *testing.T) {
	const rate, calls, size = 1 << 20, 4, 128 << 10
	s := Start(t, Config{UplinkBytesPerSecond: rate})
	fh, _ := goodClients(s)
	start := time.Now()
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			if _, err := put(t.Context(), fh, DefaultStream, make([]byte, size)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Base64 makes the bodies a third larger than the records.
	if elapsed, least := time.Since(start), time.Duration(calls*size*4/3*int64(time.Second)/rate); elapsed < least {
		t.Errorf("%d calls of %d bytes over a link of %d B/s took %v, want at least %v", calls, size, rate, elapsed, least)
	}
	if n := len(s.Records()); n != calls {
		t.Errorf("server stored %d records, want %d", n, calls)
	}
}
