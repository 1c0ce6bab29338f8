package firehose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsfirehose "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// DefaultTimeout bounds one call, connection included, when Options.Timeout is zero: 30 s, the
// uploader's default PutRecordBatch timeout too.
const DefaultTimeout = 30 * time.Second

// Options configures a Client. Only Stream is required.
type Options struct {
	// Stream is the name of the delivery stream.
	Stream string
	// Region is the AWS region; zero means the SDK's default (AWS_REGION, then the profile).
	Region string
	// Profile is the shared configuration profile; zero means the SDK's default (AWS_PROFILE,
	// then "default").
	Profile string
	// EndpointURL replaces the Firehose endpoint (a VPC endpoint, FIPS, a test server); zero
	// means the SDK's default, which honours AWS_ENDPOINT_URL_FIREHOSE. It is not used for STS:
	// a Firehose VPC endpoint does not serve STS.
	EndpointURL string
	// STSEndpointURL replaces the STS endpoint; zero means the SDK's default, which honours
	// AWS_ENDPOINT_URL_STS.
	STSEndpointURL string
	// HTTPClient sends the requests, credential lookups included; nil means the SDK's default.
	HTTPClient aws.HTTPClient
	// Timeout bounds each call; zero means DefaultTimeout. A caller's shorter deadline wins, and
	// a PutRecordBatch call whose context has a deadline gets that deadline only: the uploader
	// sets its own (--upload-timeout), which may be longer over a slow link.
	Timeout time.Duration
	// Logger receives the AWS SDK's own log lines; nil means slog.Default().
	Logger *slog.Logger
}

// A Client sends records to one delivery stream. It is safe for concurrent use.
type Client struct {
	stream   string
	timeout  time.Duration
	firehose *awsfirehose.Client
	sts      *sts.Client
}

var _ upload.Sink = (*Client)(nil)

// Open loads the AWS configuration (see the package documentation) and returns a Client for
// o.Stream. It sends nothing: use Check and Owner to find out whether the stream and the
// credentials work.
func Open(ctx context.Context, o Options) (*Client, error) {
	if o.Stream == "" {
		return nil, errors.New("firehose: no delivery stream name")
	}
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
		return nil, fmt.Errorf("firehose: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("firehose: no AWS region: give one, or set AWS_REGION or the profile's region")
	}
	if cfg.Credentials != nil {
		cfg.Credentials = markedCredentials{cfg.Credentials}
	}

	stsEndpoint := o.STSEndpointURL
	c := &Client{
		stream:  o.Stream,
		timeout: o.Timeout,
		firehose: awsfirehose.NewFromConfig(cfg, func(fo *awsfirehose.Options) {
			// The uploader retries every failed call and record with its own backoff, so the
			// SDK must not: two layers would multiply attempts and delays, hide throttling from
			// the uploader's counters, and the SDK's retry quota would fail calls outright
			// ("retry quota exceeded") after a long outage.
			fo.Retryer = aws.NopRetryer{}
			if o.EndpointURL != "" {
				fo.BaseEndpoint = aws.String(o.EndpointURL)
			}
		}),
		sts: sts.NewFromConfig(cfg, func(so *sts.Options) {
			so.Retryer = aws.NopRetryer{}
			if stsEndpoint != "" {
				so.BaseEndpoint = aws.String(stsEndpoint)
			}
		}),
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// markedCredentials marks a failure to get credentials, which happens before any request is
// sent and which the SDK reports as a plain error.
type markedCredentials struct{ aws.CredentialsProvider }

func (p markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := p.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return creds, &credentialsError{err}
	}
	return creds, nil
}

// Check asks Firehose to describe the stream and returns nil when it is ACTIVE. Otherwise the
// error is one line, such as `firehose: delivery stream "logs" is CREATING, not ACTIVE`; use
// IsDefinite to tell an answer from a failure to get one.
func (c *Client) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out, err := c.firehose.DescribeDeliveryStream(ctx, &awsfirehose.DescribeDeliveryStreamInput{
		DeliveryStreamName: aws.String(c.stream),
	})
	if err != nil {
		k := kind(err)
		if k == ErrStreamNotFound {
			return &callError{fmt.Sprintf("firehose: delivery stream %q does not exist", c.stream), k, err}
		}
		return &callError{fmt.Sprintf("firehose: describe delivery stream %q: %s", c.stream, reason(err)), k, err}
	}
	if out.DeliveryStreamDescription == nil {
		return fmt.Errorf("firehose: describe delivery stream %q: no description in the answer", c.stream)
	}
	if status := out.DeliveryStreamDescription.DeliveryStreamStatus; status != types.DeliveryStreamStatusActive {
		return &callError{fmt.Sprintf("firehose: delivery stream %q is %s, not ACTIVE", c.stream, status), ErrStreamNotActive, nil}
	}
	return nil
}

// Owner returns the AWS account id of the credentials (STS GetCallerIdentity), the owner of the
// records.
func (c *Client) Owner(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", &callError{"firehose: get caller identity: " + reason(err), kind(err), err}
	}
	if aws.ToString(out.Account) == "" {
		return "", errors.New("firehose: get caller identity: no account in the answer")
	}
	return *out.Account, nil
}

// PutRecordBatch sends records in one PutRecordBatch call and returns one Result per record, in
// order. A call refused as a whole returns an error and no Result; when the service, or a proxy
// in front of it (HTTP 413), refuses it for its size, the error wraps upload.ErrBatchTooLarge. An
// empty batch sends nothing. The call is bounded by ctx's deadline, or by Options.Timeout when
// ctx has none.
func (c *Client) PutRecordBatch(ctx context.Context, records [][]byte) ([]upload.Result, error) {
	if len(records) == 0 {
		// The service refuses an empty batch; there is nothing to ask it.
		return nil, nil
	}
	in := &awsfirehose.PutRecordBatchInput{
		DeliveryStreamName: aws.String(c.stream),
		Records:            make([]types.Record, len(records)),
	}
	for i, r := range records {
		in.Records[i].Data = r
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	out, err := c.firehose.PutRecordBatch(ctx, in)
	if err != nil {
		return nil, &callError{fmt.Sprintf("firehose: put %d records to %q: %s", len(records), c.stream, reason(err)), kind(err), err}
	}
	if len(out.RequestResponses) != len(records) {
		// Results could not be matched to records, so none can be trusted.
		return nil, fmt.Errorf("firehose: put %d records to %q: %d responses in the answer",
			len(records), c.stream, len(out.RequestResponses))
	}
	results := make([]upload.Result, len(records))
	for i, e := range out.RequestResponses {
		results[i] = upload.Result{
			RecordID:     aws.ToString(e.RecordId),
			ErrorCode:    aws.ToString(e.ErrorCode),
			ErrorMessage: aws.ToString(e.ErrorMessage),
		}
	}
	return results, nil
}
