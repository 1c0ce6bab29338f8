package awsconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Options says where the AWS configuration comes from. The zero value is the SDK's default
// chain, logging to slog.Default().
type Options struct {
	// Region is the AWS region; zero means the SDK's default (AWS_REGION, then the profile).
	Region string
	// Profile is the shared configuration profile; zero means the SDK's default (AWS_PROFILE,
	// then "default").
	Profile string
	// Role, when its ARN is set, is assumed with the credentials of the default chain, and every
	// call is signed with the role's credentials instead (see Role).
	Role Role
	// STSEndpointURL replaces the STS endpoint that AssumeRole calls; zero means the SDK's
	// default, which honours AWS_ENDPOINT_URL_STS.
	STSEndpointURL string
	// HTTPClient sends the requests, credential lookups included; nil means the SDK's default.
	HTTPClient aws.HTTPClient
	// Logger receives the AWS SDK's own log lines; nil means slog.Default().
	Logger *slog.Logger
}

// ErrNoRegion is returned by Load when neither Options, the environment nor the profile name a
// region.
var ErrNoRegion = errors.New("no AWS region: give one, or set AWS_REGION or the profile's region")

// Load loads the AWS configuration o describes (see the package documentation). It sends
// nothing: credentials are looked up at the first request.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	loads := []func(*config.LoadOptions) error{config.WithLogger(sdkLogger{o.Logger})}
	if o.Region != "" {
		loads = append(loads, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		loads = append(loads, config.WithSharedConfigProfile(o.Profile))
	}
	if o.HTTPClient != nil {
		loads = append(loads, config.WithHTTPClient(o.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, ErrNoRegion
	}
	if cfg.Credentials != nil {
		cfg.Credentials = markedCredentials{cfg.Credentials}
	}
	if o.Role.ARN != "" {
		cfg.Credentials = assume(cfg, o.Role, o.STSEndpointURL)
	}
	return cfg, nil
}

// NewSTS returns an STS client for cfg, at endpointURL when it is not empty (else the SDK's
// default, which honours AWS_ENDPOINT_URL_STS), without the SDK's retries: callers retry with
// their own backoff.
func NewSTS(cfg aws.Config, endpointURL string) *sts.Client {
	return sts.NewFromConfig(cfg, func(so *sts.Options) {
		so.Retryer = aws.NopRetryer{}
		if endpointURL != "" {
			so.BaseEndpoint = aws.String(endpointURL)
		}
	})
}

// CallerAccount returns the AWS account ID of client's credentials (STS GetCallerIdentity), the
// call bounded by timeout. Its error is a *CallError whose Kind says whether it is definite.
func CallerAccount(ctx context.Context, client *sts.Client, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", &CallError{Msg: "get caller identity: " + Reason(err), Kind: Kind(err), Err: err}
	}
	if aws.ToString(out.Account) == "" {
		return "", errors.New("get caller identity: no account in the answer")
	}
	return *out.Account, nil
}

// A CredentialsError is a failure to get credentials at all, before any request is sent.
type CredentialsError struct{ Err error }

func (e *CredentialsError) Error() string { return "no AWS credentials: " + e.Err.Error() }

// Unwrap returns the credential provider's error.
func (e *CredentialsError) Unwrap() error { return e.Err }

// markedCredentials marks a failure to get credentials as a *CredentialsError.
type markedCredentials struct{ aws.CredentialsProvider }

func (p markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := p.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return creds, &CredentialsError{err}
	}
	return creds, nil
}

// ARNAccount returns the account ID in resourceARN when it is an ARN of service
// (arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME for "firehose"), and whether there is one.
func ARNAccount(resourceARN, service string) (string, bool) {
	a, err := arn.Parse(resourceARN)
	if err != nil || a.Service != service || !IsAccountID(a.AccountID) {
		return "", false
	}
	return a.AccountID, true
}

// IsAccountID reports whether s has the form of an AWS account ID: twelve digits.
func IsAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
