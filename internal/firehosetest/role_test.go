package firehosetest

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

const (
	testRoleAccount = "210987654321"
	testRoleARN     = "arn:aws:iam::" + testRoleAccount + ":role/kinesyslog-delivery"
)

// assumed returns an SDK credentials provider that assumes role with the server's own
// credentials, as the SDK's stscreds does, with externalID when not empty.
func assumed(s *Server, role, externalID string) aws.CredentialsProvider {
	_, base := goodClients(s)
	return stscreds.NewAssumeRoleProvider(base, role, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "test-session"
		if externalID != "" {
			o.ExternalID = aws.String(externalID)
		}
	})
}

// TestAssumeRole drives the SDK's AssumeRole provider against the server: the base credentials
// may assume the role with its external ID and nothing else, the temporary credentials carry a
// session token, and with a role Firehose serves its sessions only.
func TestAssumeRole(t *testing.T) {
	s := Start(t, Config{Role: Role{ARN: testRoleARN, ExternalID: "ext-id-1"}})
	tests := []struct {
		name, role, externalID string
		wantCode               string // of AssumeRole; "" for success
	}{
		{name: "role and external id", role: testRoleARN, externalID: "ext-id-1"},
		{name: "no external id", role: testRoleARN, wantCode: "AccessDenied"},
		{name: "wrong external id", role: testRoleARN, externalID: "ext-id-2", wantCode: "AccessDenied"},
		{name: "another role", role: "arn:aws:iam::210987654321:role/other", externalID: "ext-id-1", wantCode: "AccessDenied"},
		{name: "bad external id", role: testRoleARN, externalID: "a b", wantCode: "ValidationError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds, err := assumed(s, tt.role, tt.externalID).Retrieve(t.Context())
			if tt.wantCode != "" {
				if code, _, _ := errorOf(t, err); code != tt.wantCode {
					t.Fatalf("AssumeRole = %v, want %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			if !strings.HasPrefix(creds.AccessKeyID, "ASIA") || creds.SessionToken == "" || !creds.CanExpire {
				t.Errorf("AssumeRole gave %+v, want temporary credentials with a session token and an expiry", creds)
			}
			if d := time.Until(creds.Expires); d < 14*time.Minute || d > 15*time.Minute {
				t.Errorf("credentials expire in %v, want the 15 minutes the SDK asks for", d)
			}
			fh, st := clients(s, credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken))
			if _, err := put(t.Context(), fh, DefaultStream, []byte("x")); err != nil {
				t.Errorf("PutRecordBatch with the role's credentials: %v", err)
			}
			id, err := st.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			if err != nil || aws.ToString(id.Account) != testRoleAccount ||
				aws.ToString(id.Arn) != "arn:aws:sts::210987654321:assumed-role/kinesyslog-delivery/test-session" {
				t.Errorf("GetCallerIdentity of the role's session = %+v, %v; want the role's account and assumed-role ARN", id, err)
			}
			out, err := fh.DescribeDeliveryStream(t.Context(), &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(DefaultStream)})
			if err != nil || !strings.Contains(aws.ToString(out.DeliveryStreamDescription.DeliveryStreamARN), ":"+testRoleAccount+":") {
				t.Errorf("DescribeDeliveryStream = %v; want the stream in the role's account", err)
			}
			// Without the session token the key is unknown.
			fh, _ = clients(s, credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""))
			if _, err := put(t.Context(), fh, DefaultStream, []byte("x")); err == nil {
				t.Error("PutRecordBatch without the session token succeeded")
			} else if code, _, _ := errorOf(t, err); code != "UnrecognizedClientException" {
				t.Errorf("PutRecordBatch without the session token = %v, want UnrecognizedClientException", err)
			}
		})
	}

	fh, st := goodClients(s)
	if _, err := put(t.Context(), fh, DefaultStream, []byte("x")); err == nil {
		t.Error("PutRecordBatch with the base credentials succeeded, want AccessDeniedException")
	} else if code, msg, _ := errorOf(t, err); code != "AccessDeniedException" || !strings.Contains(msg, "user/kinesyslog-test") {
		t.Errorf("PutRecordBatch with the base credentials = %v, want AccessDeniedException naming the user", err)
	}
	if id, err := st.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil || aws.ToString(id.Account) != DefaultAccount {
		t.Errorf("GetCallerIdentity of the base credentials = %+v, %v; want %s", id, err, DefaultAccount)
	}
	if got := s.Stats().Calls[opAssumeRole]; got != len(tests) {
		t.Errorf("Stats().Calls[AssumeRole] = %d, want %d", got, len(tests))
	}
}

// TestAssumeRoleExpiry checks that the role's credentials stop working once they expire:
// ExpiredTokenException, until new ones are assumed.
func TestAssumeRoleExpiry(t *testing.T) {
	s := Start(t, Config{Role: Role{ARN: testRoleARN, Lifetime: 2 * time.Second}})
	provider := assumed(s, testRoleARN, "")
	creds, err := provider.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(creds.Expires); d > 2*time.Second {
		t.Errorf("credentials expire in %v, want at most the server's 2 s", d)
	}
	fh, _ := clients(s, credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken))
	var last error
	testenv.Eventually(t, "the role's credentials to expire", func() bool {
		_, last = put(t.Context(), fh, DefaultStream, []byte("x"))
		return last != nil
	})
	if code, _, _ := errorOf(t, last); code != "ExpiredTokenException" {
		t.Errorf("PutRecordBatch with expired credentials = %v, want ExpiredTokenException", last)
	}
	if time.Now().Before(creds.Expires) {
		t.Errorf("credentials refused before %v, when they expire", creds.Expires)
	}
	fh, _ = clients(s, aws.NewCredentialsCache(provider))
	if _, err := put(t.Context(), fh, DefaultStream, []byte("x")); err != nil {
		t.Errorf("PutRecordBatch with newly assumed credentials: %v", err)
	}
}
