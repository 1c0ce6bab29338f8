package firehose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// credentialsEnv gives the SDK the server's credentials through the environment.
func credentialsEnv(t *testing.T, s *firehosetest.Server) {
	t.Helper()
	c := s.Credentials()
	t.Setenv("AWS_ACCESS_KEY_ID", c.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", c.SecretAccessKey)
}

// options returns Options for the server's default stream, with the server's credentials in the
// environment, after mod changes them or the environment (which Open reads).
func options(t *testing.T, s *firehosetest.Server, mod func(*Options)) Options {
	t.Helper()
	testenv.IsolateAWS(t)
	credentialsEnv(t, s)
	o := Options{Streams: []string{firehosetest.DefaultStream}, Region: s.Config().Region, EndpointURL: s.URL, STSEndpointURL: s.URL}
	if mod != nil {
		mod(&o)
	}
	return o
}

// open returns a Destination for options(t, s, mod) that has sent nothing: Open's start calls
// are left out, for tests of one call at a time.
func open(t *testing.T, s *firehosetest.Server, mod func(*Options)) *Destination {
	t.Helper()
	o := options(t, s, mod)
	d, err := newDestination(t.Context(), o)
	if err != nil {
		t.Fatalf("newDestination(%+v): %v", o, err)
	}
	return d
}

func batch(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "record %d", i)
	}
	return out
}

func TestPutRecordBatch(t *testing.T) {
	s := firehosetest.Start(t, firehosetest.Config{})
	s.SetFault(firehosetest.Fault{RecordFailure: func(_, i int, _ []byte) firehosetest.RecordFailure {
		switch i {
		case 1:
			return firehosetest.RecordThrottled
		case 3:
			return firehosetest.RecordInternalFailure
		}
		return firehosetest.RecordFailure{}
	}})
	c := open(t, s, nil)
	records := batch(5)
	got, err := c.Put(t.Context(), records)
	if err != nil {
		t.Fatal(err)
	}

	stored := s.Records()
	if len(stored) != 3 {
		t.Fatalf("server stored %d records, want 3", len(stored))
	}
	want := []upload.Result{
		{RecordID: stored[0].ID},
		{ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down.", Throttled: true},
		{RecordID: stored[1].ID},
		{ErrorCode: "InternalFailure", ErrorMessage: "Internal service failure."},
		{RecordID: stored[2].ID},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PutRecordBatch results mismatch (-want +got):\n%s", diff)
	}
	for i, j := range []int{0, 2, 4} {
		if string(stored[i].Data) != string(records[j]) {
			t.Errorf("stored record %d = %q, want %q", i, stored[i].Data, records[j])
		}
	}
}

func TestPutRecordBatchEmpty(t *testing.T) {
	s := firehosetest.Start(t, firehosetest.Config{})
	c := open(t, s, nil)
	if got, err := c.Put(t.Context(), nil); err != nil || got != nil {
		t.Errorf("PutRecordBatch(nil) = %v, %v; want nil, nil", got, err)
	}
	if n := s.Stats().Requests; n != 0 {
		t.Errorf("server saw %d requests for an empty batch", n)
	}
}

func TestPutRecordBatchSize(t *testing.T) {
	tests := []struct {
		name    string
		cfg     firehosetest.Config
		records [][]byte
		want    error
	}{
		{name: "501 records", records: batch(501), want: upload.ErrBatchTooLarge},
		{name: "4,000,001 bytes", records: [][]byte{make([]byte, 1_000_000), make([]byte, 1_000_000),
			make([]byte, 1_000_000), make([]byte, 1_000_001)}, want: upload.ErrBatchTooLarge},
		{name: "service stricter on bytes", cfg: firehosetest.Config{MaxBatchBytes: 1000},
			records: [][]byte{make([]byte, 600), make([]byte, 600)}, want: upload.ErrBatchTooLarge},
		{name: "service stricter on count", cfg: firehosetest.Config{MaxBatchRecords: 2}, records: batch(3), want: upload.ErrBatchTooLarge},
		{name: "record too large", cfg: firehosetest.Config{MaxRecordBytes: 100},
			records: [][]byte{make([]byte, 10), make([]byte, 101)}, want: ErrRecordTooLarge},
		{name: "HTTP 413 from a proxy", cfg: firehosetest.Config{MaxBodyBytes: 1000},
			records: [][]byte{make([]byte, 600), make([]byte, 600)}, want: upload.ErrBatchTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := firehosetest.Start(t, tt.cfg)
			c := open(t, s, nil)
			got, err := c.Put(t.Context(), tt.records)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("PutRecordBatch = %v, %v; want nil, %v", got, err, tt.want)
			}
			if !errors.Is(err, upload.ErrBatchTooLarge) {
				t.Errorf("PutRecordBatch = %v: a size complaint must make the uploader split the batch", err)
			}
			if !IsDefinite(err) {
				t.Errorf("IsDefinite(%v) = false", err)
			}
		})
	}
}

// TestPutRecordBatchCallerDeadline checks that the caller's deadline, the uploader's
// --upload-timeout, bounds a PutRecordBatch call even when it is longer than Options.Timeout.
func TestPutRecordBatchCallerDeadline(t *testing.T) {
	s := firehosetest.Start(t, firehosetest.Config{})
	s.SetFault(firehosetest.Fault{Latency: 300 * time.Millisecond})
	c := open(t, s, func(o *Options) { o.Timeout = 50 * time.Millisecond })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := c.Put(ctx, batch(2)); err != nil {
		t.Errorf("PutRecordBatch with a deadline longer than Options.Timeout = %v", err)
	}
	if _, err := c.Put(t.Context(), batch(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("PutRecordBatch without a deadline = %v, want Options.Timeout's deadline exceeded", err)
	}
}

func TestPutRecordBatchErrors(t *testing.T) {
	failFirst := func(cf firehosetest.CallFault) firehosetest.Fault {
		return firehosetest.Fault{Call: func(_ string, n int) firehosetest.CallFault {
			if n == 1 {
				return cf
			}
			return firehosetest.NoFault
		}}
	}
	tests := []struct {
		name     string
		fault    firehosetest.Fault
		stream   string
		timeout  time.Duration
		wantKind error  // nil: transient
		wantIs   error  // another error the result must wrap
		wantText string // a part of the message
	}{
		{name: "throttled", fault: failFirst(firehosetest.Throttle), wantIs: upload.ErrThrottled, wantText: "ServiceUnavailableException: Slow down."},
		{name: "internal error", fault: failFirst(firehosetest.InternalError), wantText: "StatusCode: 500"},
		{name: "connection refused", fault: firehosetest.Fault{Outage: firehosetest.OutageRefuse}, wantIs: syscall.ECONNREFUSED},
		{name: "load balancer 503", fault: firehosetest.Fault{Outage: firehosetest.OutageUnavailable}, wantText: "StatusCode: 503"},
		{name: "timeout", fault: firehosetest.Fault{Outage: firehosetest.OutageHang}, timeout: 50 * time.Millisecond,
			wantIs: context.DeadlineExceeded},
		{name: "lost response", fault: failFirst(firehosetest.LoseResponse)},
		{name: "access denied", fault: failFirst(firehosetest.AccessDenied), wantKind: ErrAccessDenied},
		{name: "expired token", fault: failFirst(firehosetest.ExpiredToken), wantKind: ErrCredentials},
		{name: "stream missing", stream: "missing", wantKind: ErrStreamNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := firehosetest.Start(t, firehosetest.Config{})
			s.SetFault(tt.fault)
			c := open(t, s, func(o *Options) {
				o.Timeout = tt.timeout
				if tt.stream != "" {
					o.Streams = []string{tt.stream}
				}
			})
			got, err := c.Put(t.Context(), batch(2))
			if err == nil || got != nil {
				t.Fatalf("PutRecordBatch = %v, %v; want an error", got, err)
			}
			if tt.wantKind != nil && !errors.Is(err, tt.wantKind) {
				t.Errorf("PutRecordBatch = %v, want %v", err, tt.wantKind)
			}
			if IsDefinite(err) != (tt.wantKind != nil) {
				t.Errorf("IsDefinite(%v) = %t, want %t", err, IsDefinite(err), tt.wantKind != nil)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("PutRecordBatch = %v, want it to wrap %v", err, tt.wantIs)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "firehose: put 2 records to ") ||
				!strings.Contains(msg, tt.wantText) || strings.Contains(msg, "\n") {
				t.Errorf("PutRecordBatch error = %q, want one line containing %q", msg, tt.wantText)
			}
			// The SDK retries nothing: the uploader owns retries.
			if calls := s.Stats().Requests; calls > 1 {
				t.Errorf("server saw %d requests for one PutRecordBatch, want at most 1", calls)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		status   string // of the default stream; "" leaves it ACTIVE
		stream   string
		fault    firehosetest.Fault
		creds    func(t *testing.T, s *firehosetest.Server) // changes the environment before Open
		wantErr  string                                     // the exact message, or a part of it with wantPart
		wantPart bool
		wantKind error // nil: transient
	}{
		{name: "active"},
		{name: "creating", status: "CREATING", wantKind: ErrStreamNotActive,
			wantErr: `firehose: delivery stream "kinesyslog-test" is CREATING, not ACTIVE`},
		{name: "deleting", status: "DELETING", wantKind: ErrStreamNotActive,
			wantErr: `firehose: delivery stream "kinesyslog-test" is DELETING, not ACTIVE`},
		{name: "missing", stream: "missing", wantKind: ErrStreamNotFound,
			wantErr: `firehose: delivery stream "missing" does not exist`},
		{name: "access denied", fault: firehosetest.Fault{Call: func(string, int) firehosetest.CallFault { return firehosetest.AccessDenied }},
			wantKind: ErrAccessDenied, wantPart: true, wantErr: "AccessDeniedException: User: arn:aws:iam::123456789012:user/kinesyslog-test is not authorized"},
		{name: "wrong secret", creds: func(t *testing.T, _ *firehosetest.Server) { t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong") },
			wantKind: ErrCredentials, wantPart: true, wantErr: "InvalidSignatureException: The request signature we calculated does not match"},
		{name: "unknown key", creds: func(t *testing.T, _ *firehosetest.Server) { t.Setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN") },
			wantKind: ErrCredentials, wantPart: true, wantErr: "UnrecognizedClientException"},
		{name: "no credentials", creds: func(t *testing.T, _ *firehosetest.Server) {
			t.Setenv("AWS_ACCESS_KEY_ID", "")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		}, wantKind: ErrCredentials, wantPart: true, wantErr: `firehose: describe delivery stream "kinesyslog-test": no AWS credentials: `},
		{name: "throttled", fault: firehosetest.Fault{Call: func(string, int) firehosetest.CallFault { return firehosetest.Throttle }},
			wantPart: true, wantErr: "LimitExceededException"},
		{name: "internal error", fault: firehosetest.Fault{Call: func(string, int) firehosetest.CallFault { return firehosetest.InternalError }},
			wantPart: true, wantErr: "InternalFailure"},
		{name: "connection refused", fault: firehosetest.Fault{Outage: firehosetest.OutageRefuse},
			wantPart: true, wantErr: "connection refused"},
		{name: "load balancer 503", fault: firehosetest.Fault{Outage: firehosetest.OutageUnavailable},
			wantPart: true, wantErr: "StatusCode: 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := firehosetest.Start(t, firehosetest.Config{})
			if tt.status != "" {
				s.SetStream(firehosetest.DefaultStream, tt.status)
			}
			s.SetFault(tt.fault)
			c := open(t, s, func(o *Options) {
				if tt.stream != "" {
					o.Streams = []string{tt.stream}
				}
				if tt.creds != nil {
					tt.creds(t, s)
				}
			})
			_, err := c.check(t.Context(), c.streams[0])
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("check() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("check() = nil, want %q", tt.wantErr)
			}
			msg := err.Error()
			if tt.wantPart && !strings.Contains(msg, tt.wantErr) || !tt.wantPart && msg != tt.wantErr || strings.Contains(msg, "\n") {
				t.Errorf("check() = %q, want one line %s %q", msg, map[bool]string{true: "containing", false: "equal to"}[tt.wantPart], tt.wantErr)
			}
			if tt.wantKind != nil && !errors.Is(err, tt.wantKind) {
				t.Errorf("check() = %v, want it to wrap %v", err, tt.wantKind)
			}
			if IsDefinite(err) != (tt.wantKind != nil) {
				t.Errorf("IsDefinite(%v) = %t, want %t", err, IsDefinite(err), tt.wantKind != nil)
			}
		})
	}
}

func TestCheckNoCredentialsSendsNothing(t *testing.T) {
	s := firehosetest.Start(t, firehosetest.Config{})
	testenv.IsolateAWS(t)
	c, err := newDestination(t.Context(), Options{Streams: []string{firehosetest.DefaultStream}, Region: "us-east-1", EndpointURL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.check(t.Context(), firehosetest.DefaultStream); !errors.Is(err, ErrCredentials) {
		t.Errorf("check() = %v, want %v", err, ErrCredentials)
	}
	if _, err := awsconf.CallerAccount(t.Context(), c.setup.STS, c.setup.Timeout); !errors.Is(err, ErrCredentials) {
		t.Errorf("callerAccount() = %v, want %v", err, ErrCredentials)
	}
	if n := s.Stats().Requests; n != 0 {
		t.Errorf("server saw %d requests without credentials, want 0", n)
	}
}

func TestCallerAccount(t *testing.T) {
	s := firehosetest.Start(t, firehosetest.Config{Account: "210987654321"})
	c := open(t, s, nil)
	got, err := awsconf.CallerAccount(t.Context(), c.setup.STS, c.setup.Timeout)
	if err != nil || got != "210987654321" {
		t.Errorf("callerAccount() = %q, %v; want 210987654321", got, err)
	}

	s.SetFault(firehosetest.Fault{Outage: firehosetest.OutageUnavailable})
	if _, err := awsconf.CallerAccount(t.Context(), c.setup.STS, c.setup.Timeout); err == nil || IsDefinite(err) || !strings.HasPrefix(err.Error(), "get caller identity: ") {
		t.Errorf("callerAccount() during an outage = %v, want a transient error", err)
	}
	s.SetFault(firehosetest.Fault{})
	c = open(t, s, func(*Options) { t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong") })
	if _, err := awsconf.CallerAccount(t.Context(), c.setup.STS, c.setup.Timeout); !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("callerAccount() with a wrong secret = %v, want %v from SignatureDoesNotMatch", err, ErrCredentials)
	}
}

func TestEndpoints(t *testing.T) {
	fh := firehosetest.Start(t, firehosetest.Config{Account: "111111111111"})
	st := firehosetest.Start(t, firehosetest.Config{Account: "222222222222"})
	tests := []struct {
		name      string
		env       map[string]string
		opts      Options
		wantOwner string
	}{
		{name: "EndpointURL is Firehose's only", opts: Options{EndpointURL: fh.URL},
			env: map[string]string{"AWS_ENDPOINT_URL_STS": st.URL}, wantOwner: "222222222222"},
		{name: "STSEndpointURL apart", opts: Options{EndpointURL: fh.URL, STSEndpointURL: st.URL}, wantOwner: "222222222222"},
		{name: "the SDK's variables", env: map[string]string{"AWS_ENDPOINT_URL_FIREHOSE": fh.URL, "AWS_ENDPOINT_URL_STS": st.URL},
			wantOwner: "222222222222"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.IsolateAWS(t)
			credentialsEnv(t, fh)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			o := tt.opts
			o.Streams, o.Region = []string{firehosetest.DefaultStream}, firehosetest.DefaultRegion
			c, err := newDestination(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			before := fh.Stats().Calls["DescribeDeliveryStream"]
			if _, err := c.check(t.Context(), firehosetest.DefaultStream); err != nil {
				t.Errorf("check() = %v", err)
			}
			if fh.Stats().Calls["DescribeDeliveryStream"] != before+1 {
				t.Error("check() did not reach the Firehose endpoint")
			}
			if got, err := awsconf.CallerAccount(t.Context(), c.setup.STS, c.setup.Timeout); got != tt.wantOwner {
				t.Errorf("callerAccount() = %q, %v; want %s", got, err, tt.wantOwner)
			}
		})
	}
}

func TestProfile(t *testing.T) {
	s := firehosetest.Start(t, firehosetest.Config{Region: "eu-west-1"})
	testenv.IsolateAWS(t)
	c := s.Credentials()
	creds := fmt.Sprintf("[relay]\naws_access_key_id = %s\naws_secret_access_key = %s\n", c.AccessKeyID, c.SecretAccessKey)
	if err := os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte("[profile relay]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := newDestination(t.Context(), Options{Streams: []string{firehosetest.DefaultStream}, Profile: "relay", EndpointURL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.check(t.Context(), firehosetest.DefaultStream); err != nil {
		t.Errorf("check() with profile relay = %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "no stream", opts: Options{Region: "us-east-1"}, want: "firehose: no delivery stream name"},
		{name: "no region", opts: Options{Streams: []string{"s"}}, want: "firehose: no AWS region"},
		{name: "unknown profile", opts: Options{Streams: []string{"s"}, Region: "us-east-1", Profile: "nonesuch"}, want: "nonesuch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.IsolateAWS(t)
			c, err := Open(t.Context(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) || c != nil {
				t.Errorf("Open(%+v) = %v, %v; want an error containing %q", tt.opts, c, err, tt.want)
			}
		})
	}
}

// TestConcurrent shares one Destination between goroutines; run it with -race.
func TestConcurrent(t *testing.T) {
	s := firehosetest.Start(t, firehosetest.Config{})
	s.SetFault(firehosetest.Fault{RecordFailureRate: 0.2})
	c := open(t, s, nil)
	const senders, calls, perCall = 4, 10, 10
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		delivered = make(map[string]bool)
	)
	for range senders {
		wg.Go(func() {
			for range calls {
				results, err := c.Put(t.Context(), batch(perCall))
				if err != nil {
					t.Errorf("PutRecordBatch: %v", err)
					return
				}
				mu.Lock()
				for _, r := range results {
					if r.Delivered() {
						delivered[r.RecordID] = true
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	stored := s.Records()
	if len(stored) != len(delivered) {
		t.Fatalf("%d results delivered, server stored %d", len(delivered), len(stored))
	}
	for _, r := range stored {
		if !delivered[r.ID] {
			t.Errorf("server stored record %s that no result reports delivered", r.ID)
		}
	}
}
