package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// DefaultRoleSessionName names the role's sessions (in CloudTrail, in the assumed-role ARN) when
// Role.SessionName is zero.
const DefaultRoleSessionName = "kinesyslog"

// maxRefreshAhead caps how long before they expire assumed credentials are refreshed: a quarter
// of their life, at most five minutes (15-minute credentials, the SDK's default, are refreshed
// after 11m15s; hour-long ones after 55 minutes).
const maxRefreshAhead = 5 * time.Minute

// Role is an IAM role that the base credentials assume (sts:AssumeRole) for every call, for
// delivery into another account. The zero value assumes none.
type Role struct {
	// ARN is the role to assume, arn:aws:iam::ACCOUNT:role/NAME (--role-arn); zero means none.
	ARN string
	// ExternalID is the external ID the role's trust policy requires (--external-id); zero
	// sends none.
	ExternalID string
	// SessionName names the session (--role-session-name); zero means DefaultRoleSessionName.
	SessionName string
}

// assume returns credentials of role, assumed with the credentials of base from STS at
// stsEndpointURL (the SDK's default when empty): cached, and refreshed before they expire, a
// quarter of their life ahead and at most maxRefreshAhead, so that no call is signed with
// credentials about to expire and none waits for a refresh.
func assume(base aws.Config, role Role, stsEndpointURL string) aws.CredentialsProvider {
	session := role.SessionName
	if session == "" {
		session = DefaultRoleSessionName
	}
	provider := stscreds.NewAssumeRoleProvider(NewSTS(base, stsEndpointURL), role.ARN, func(ao *stscreds.AssumeRoleOptions) {
		ao.RoleSessionName = session
		if role.ExternalID != "" {
			ao.ExternalID = aws.String(role.ExternalID)
		}
	})
	return aws.NewCredentialsCache(assumedRole{arn: role.ARN, provider: provider})
}

// assumedRole gets a role's credentials, marking a refusal as a *CredentialsError and moving
// their expiry ahead for the cache.
type assumedRole struct {
	arn      string
	provider aws.CredentialsProvider
}

func (p assumedRole) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := p.provider.Retrieve(ctx)
	if err != nil {
		err = fmt.Errorf("assume role %s: %w", p.arn, err)
		if refused(err) {
			return aws.Credentials{}, &CredentialsError{err}
		}
		return aws.Credentials{}, err
	}
	if creds.CanExpire {
		creds.Expires = refreshAt(time.Now(), creds.Expires)
	}
	return creds, nil
}

// refreshAt is when credentials that expire at expires, got at now, are to be refreshed.
func refreshAt(now, expires time.Time) time.Time {
	return expires.Add(-max(0, min(expires.Sub(now)/4, maxRefreshAhead)))
}

// refused reports whether err, from AssumeRole, is STS refusing the role (access denied, a bad
// external ID, base credentials missing or refused), which waiting will not change, rather than
// a failure to get an answer (a timeout, a refused connection, throttling, a 5xx answer).
func refused(err error) bool {
	if Kind(err) != nil {
		return true
	}
	if respErr, ok := errors.AsType[*smithyhttp.ResponseError](err); ok && respErr.HTTPStatusCode() >= http.StatusInternalServerError {
		return false
	}
	// Any other error STS answers (a ValidationError for a malformed session name, say) is the
	// caller's to fix, except being told to slow down.
	apiErr, ok := errors.AsType[smithy.APIError](err)
	return ok && apiErr.ErrorCode() != "Throttling" && apiErr.ErrorCode() != "RequestLimitExceeded"
}
