package firehose

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

const (
	roleAccount = "210987654321"
	roleARN     = "arn:aws:iam::" + roleAccount + ":role/kinesyslog-delivery"
)

// TestRole opens the Destination with a role in another account: Firehose accepts only the
// role's credentials, so every call must carry them; the records' owner is the role's account,
// from the stream's ARN or from STS, never the account of the base credentials.
func TestRole(t *testing.T) {
	throttle := func(op string) firehosetest.Fault { return failOp(op, firehosetest.Throttle) }
	tests := []struct {
		name      string
		role      awsconf.Role
		fault     firehosetest.Fault
		wantOwner string
		wantErr   error
		wantSTS   int // GetCallerIdentity calls
	}{
		{name: "owner from the stream's ARN", role: awsconf.Role{ARN: roleARN, ExternalID: "ext-id"}, wantOwner: roleAccount},
		{name: "owner from STS, as the role", role: awsconf.Role{ARN: roleARN, ExternalID: "ext-id", SessionName: "relay-1"},
			fault: throttle("DescribeDeliveryStream"), wantOwner: roleAccount, wantSTS: 1},
		{name: "no role", wantErr: ErrAccessDenied},
		{name: "wrong external id", role: awsconf.Role{ARN: roleARN, ExternalID: "other"}, wantErr: ErrCredentials},
		{name: "another role", role: awsconf.Role{ARN: "arn:aws:iam::" + roleAccount + ":role/other", ExternalID: "ext-id"},
			wantErr: ErrCredentials},
		{name: "STS throttles AssumeRole", role: awsconf.Role{ARN: roleARN, ExternalID: "ext-id"}, fault: throttle("AssumeRole")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := firehosetest.Start(t, firehosetest.Config{Role: firehosetest.Role{ARN: roleARN, ExternalID: "ext-id"}})
			s.SetFault(tt.fault)
			d, err := Open(t.Context(), options(t, s, func(o *Options) { o.Role = tt.role }))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open() = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open() = %v", err)
			}
			done, cancel := context.WithCancel(t.Context())
			cancel()
			if got, _ := d.Owner(done); got != tt.wantOwner {
				t.Errorf("Owner() = %q, want %q (the role's account, not the caller's %s)", got, tt.wantOwner, firehosetest.DefaultAccount)
			}
			if n := s.Stats().Calls["GetCallerIdentity"]; n != tt.wantSTS {
				t.Errorf("%d GetCallerIdentity calls, want %d", n, tt.wantSTS)
			}
			s.SetFault(firehosetest.Fault{})
			if _, err := d.Put(t.Context(), batch(3)); err != nil {
				t.Errorf("Put() = %v", err)
			}
			if n := len(s.Records()); n != 3 {
				t.Errorf("server stored %d records, want 3", n)
			}
		})
	}
}

// TestRoleRefresh puts records for several lifetimes of the role's credentials: every call is
// signed with unexpired credentials, assumed again before the old ones expire, without a
// failure or a new Destination.
func TestRoleRefresh(t *testing.T) {
	const lifetime = 2 * time.Second
	s := firehosetest.Start(t, firehosetest.Config{Role: firehosetest.Role{ARN: roleARN, Lifetime: lifetime}})
	d, err := Open(t.Context(), options(t, s, func(o *Options) { o.Role = awsconf.Role{ARN: roleARN} }))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	puts := 0
	testenv.Eventually(t, "three AssumeRole calls", func() bool {
		puts++
		if _, err := d.Put(t.Context(), [][]byte{fmt.Appendf(nil, "record %d", puts)}); err != nil {
			t.Fatalf("Put() %d, %v after Open: %v", puts, time.Since(start), err)
		}
		return s.Stats().Calls["AssumeRole"] >= 3
	})
	st := s.Stats()
	if st.AuthFailures != 0 {
		t.Errorf("%d calls refused for their credentials, want none", st.AuthFailures)
	}
	if got := len(s.Records()); got != puts {
		t.Errorf("server stored %d records, want the %d put", got, puts)
	}
	// Each set of credentials served many calls: they are cached, not assumed per call.
	if st.Calls["AssumeRole"]*10 > puts {
		t.Errorf("%d AssumeRole calls for %d puts, want credentials reused between refreshes", st.Calls["AssumeRole"], puts)
	}
}
