package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
)

func TestRefreshAt(t *testing.T) {
	now := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		lifetime time.Duration
		want     time.Duration // after now
	}{
		{name: "15 minutes, the SDK's default", lifetime: 15 * time.Minute, want: 11*time.Minute + 15*time.Second},
		{name: "an hour: at most 5 minutes ahead", lifetime: time.Hour, want: 55 * time.Minute},
		{name: "2 seconds", lifetime: 2 * time.Second, want: 1500 * time.Millisecond},
		{name: "expired already", lifetime: -time.Second, want: -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refreshAt(now, now.Add(tt.lifetime)).Sub(now); got != tt.want {
				t.Errorf("refreshAt(now, now+%v) = now+%v, want now+%v", tt.lifetime, got, tt.want)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	response := func(status int) *smithyhttp.ResponseError {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: errors.New("answer")}
	}
	api := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "access denied", err: api("AccessDenied"), want: true},
		{name: "base credentials refused", err: api("InvalidClientTokenId"), want: true},
		{name: "no base credentials", err: fmt.Errorf("get credentials: %w", &CredentialsError{errors.New("none")}), want: true},
		{name: "throttled", err: api("Throttling")},
		{name: "5xx", err: errors.Join(response(http.StatusInternalServerError), api("InternalFailure"))},
		{name: "timeout", err: fmt.Errorf("send: %w", context.DeadlineExceeded)},
		{name: "connection refused", err: &smithyhttp.RequestSendError{Err: errors.New("connect: connection refused")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refused(tt.err); got != tt.want {
				t.Errorf("refused(%v) = %t, want %t", tt.err, got, tt.want)
			}
		})
	}
}

// TestLoadRole loads a configuration with a role against the test server's STS: the
// credentials are the role's, temporary, refreshed a quarter of their life ahead, and a role
// the base credentials may not assume is a CredentialsError.
func TestLoadRole(t *testing.T) {
	const role = "arn:aws:iam::210987654321:role/kinesyslog-delivery"
	s := firehosetest.Start(t, firehosetest.Config{Role: firehosetest.Role{ARN: role, ExternalID: "ext-id"}})
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, kv := range s.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	base := s.Credentials()
	cfg, err := Load(t.Context(), Options{Role: Role{ARN: role, ExternalID: "ext-id"}, STSEndpointURL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil {
		t.Fatalf("Retrieve() = %v", err)
	}
	if creds.AccessKeyID == base.AccessKeyID || creds.SessionToken == "" || !creds.CanExpire {
		t.Errorf("Retrieve() = key %s, session token %t, expiring %t; want the role's temporary credentials",
			creds.AccessKeyID, creds.SessionToken != "", creds.CanExpire)
	}
	// The SDK asks for 15 minutes: the cache refreshes them after 11m15s.
	if d := time.Until(creds.Expires); d > 11*time.Minute+15*time.Second || d < 11*time.Minute {
		t.Errorf("credentials refreshed in %v, want 3m45s before their 15 minutes are up", d)
	}

	cfg, err = Load(t.Context(), Options{Role: Role{ARN: role, ExternalID: "wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Credentials.Retrieve(t.Context())
	if credErr, ok := errors.AsType[*CredentialsError](err); !ok {
		t.Errorf("Retrieve() with the wrong external ID = %v, want a CredentialsError", err)
	} else if apiErr, ok := errors.AsType[smithy.APIError](credErr); !ok || apiErr.ErrorCode() != "AccessDenied" {
		t.Errorf("Retrieve() with the wrong external ID = %v, want AccessDenied from STS", err)
	}
}
