package firehose

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsfirehose "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
	"github.com/kinesyslog/kinesyslog/internal/spread"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// The Amazon Data Firehose PutRecordBatch quotas ("Each PutRecordBatch request supports up to 500
// records. Each record in the request can be as large as 1,000 KB (before base64 encoding), up to
// a limit of 4 MB for the entire request. These limits cannot be changed."). The service's own
// validation message spells the record limit 1024000; "4 MB" is read strictly as 4,000,000.
const (
	MaxBatchRecords = 500
	MaxBatchBytes   = 4_000_000
	MaxRecordBytes  = 1_024_000
)

// DefaultTimeout bounds one call, connection included, when Options.Timeout is zero: 30 s, the
// uploader's default PutRecordBatch timeout too.
const DefaultTimeout = awsconf.DefaultTimeout

// Options configures a Destination. Only Streams is required.
type Options struct {
	// Streams are the names of the delivery streams, one at least, all of one account. With
	// several, each call's records are spread over them, each paced at a rate learned from its
	// throttling answers (package spread); with one, every call goes to it.
	Streams []string
	// Region is the AWS region; zero means the SDK's default (AWS_REGION, then the profile).
	Region string
	// Profile is the shared configuration profile; zero means the SDK's default (AWS_PROFILE,
	// then "default").
	Profile string
	// EndpointURL replaces the Firehose endpoint (a VPC endpoint, FIPS, a test server); zero
	// means the SDK's default, which honours AWS_ENDPOINT_URL_FIREHOSE. It is not used for STS:
	// a Firehose VPC endpoint does not serve STS.
	EndpointURL string
	// STSEndpointURL replaces the STS endpoint, for GetCallerIdentity and AssumeRole; zero means
	// the SDK's default, which honours AWS_ENDPOINT_URL_STS.
	STSEndpointURL string
	// Role, when its ARN is set, is assumed for every call (--role-arn): the stream is then the
	// role's account's, and so is the owner that STS names.
	Role awsconf.Role
	// HTTPClient sends the requests, credential lookups included; nil means the SDK's default.
	HTTPClient aws.HTTPClient
	// Timeout bounds each call; zero means DefaultTimeout. A caller's shorter deadline wins, and
	// a PutRecordBatch call whose context has a deadline gets that deadline only: the uploader
	// sets its own (--upload-timeout), which may be longer over a slow link.
	Timeout time.Duration
	// AccountID is the records' owner (--account-id); zero means the account in the delivery
	// stream's ARN, else the account of the credentials (STS GetCallerIdentity).
	AccountID string
	// StateDir is where the owner learned from AWS is kept (the spool directory), for a start
	// while AWS cannot be reached; zero keeps it nowhere.
	StateDir string
	// Logger receives the AWS SDK's own log lines and the Destination's warnings; nil means
	// slog.Default().
	Logger *slog.Logger
	// Registerer registers the per-stream metrics of several streams (package spread); nil
	// means none.
	Registerer prometheus.Registerer
}

// A Destination sends records to delivery streams: the upload.Destination of Amazon Data
// Firehose. Create it with Open. It is safe for concurrent use.
type Destination struct {
	streams  []string
	spreader *spread.Spreader // nil with one stream
	setup    awsconf.Setup
	firehose *awsfirehose.Client
}

var _ upload.Destination = (*Destination)(nil)

// Open loads the AWS configuration (see the package documentation), makes sure that each of the
// delivery streams o.Streams exists and is ACTIVE and that all are of one account, and learns the
// records' owner, with calls bounded by 15 s in all. Only a definite answer (IsDefinite) makes
// it fail: when AWS cannot be reached it logs a warning and returns a Destination whose records
// wait in the spool, and whose Run learns the owner once AWS answers.
func Open(ctx context.Context, o Options) (*Destination, error) {
	d, err := newDestination(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := d.setup.Owner.Start(ctx, o.AccountID, d.setup.Stream(d.checkAll)); err != nil {
		return nil, err
	}
	return d, nil
}

// newDestination loads the AWS configuration and returns a Destination whose owner is not known
// yet. It sends nothing.
func newDestination(ctx context.Context, o Options) (*Destination, error) {
	if o.Logger == nil {
		// For the Spreader too.
		o.Logger = slog.Default()
	}
	setup, err := awsconf.NewSetup(ctx, "Firehose", "firehose", "delivery stream", o.Streams, awsconf.Options{Region: o.Region,
		Profile: o.Profile, Role: o.Role, STSEndpointURL: o.STSEndpointURL, HTTPClient: o.HTTPClient, Logger: o.Logger}, o.StateDir, o.Timeout)
	if err != nil {
		return nil, err
	}
	d := &Destination{
		streams: slices.Clone(o.Streams),
		setup:   setup,
		firehose: awsfirehose.NewFromConfig(setup.Config, func(fo *awsfirehose.Options) {
			// The uploader retries every failed call and record with its own backoff, so the
			// SDK must not: two layers would multiply attempts and delays, hide throttling from
			// the uploader's counters, and the SDK's retry quota would fail calls outright
			// ("retry quota exceeded") after a long outage.
			fo.Retryer = aws.NopRetryer{}
			if o.EndpointURL != "" {
				fo.BaseEndpoint = aws.String(o.EndpointURL)
			}
		}),
	}
	if len(d.streams) > 1 {
		streams := make([]spread.Stream, len(d.streams))
		for i, name := range d.streams {
			streams[i] = stream{d, name}
		}
		d.spreader, err = spread.New(streams, spread.Options{Limits: d.Limits(), Logger: o.Logger, Registerer: o.Registerer})
		if err != nil {
			return nil, fmt.Errorf("firehose: %w", err)
		}
	}
	return d, nil
}

// stream is one delivery stream of a Destination, as the Spreader sees it.
type stream struct {
	d    *Destination
	name string
}

func (s stream) Name() string { return s.name }

func (s stream) Put(ctx context.Context, records [][]byte) ([]upload.Result, error) {
	return s.d.put(ctx, s.name, records)
}

// String names the destination in logs.
func (d *Destination) String() string {
	if len(d.streams) == 1 {
		return "Firehose delivery stream " + d.streams[0]
	}
	return "Firehose delivery streams " + strings.Join(d.streams, ", ")
}

// Limits returns the PutRecordBatch quotas: MaxBatchRecords, MaxBatchBytes and MaxRecordBytes.
func (d *Destination) Limits() upload.Limits {
	return upload.Limits{MaxRecords: MaxBatchRecords, MaxBatchBytes: MaxBatchBytes, MaxRecordBytes: MaxRecordBytes}
}

// Close does nothing: a Destination holds no more than idle HTTP connections.
func (d *Destination) Close(context.Context) error { return nil }

// check asks Firehose to describe the delivery stream name and returns its ARN when it is
// ACTIVE. Otherwise the error is one line, such as `firehose: delivery stream "logs" is CREATING,
// not ACTIVE`; IsDefinite tells an answer from a failure to get one.
func (d *Destination) check(ctx context.Context, name string) (streamARN string, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.setup.Timeout)
	defer cancel()
	out, err := d.firehose.DescribeDeliveryStream(ctx, &awsfirehose.DescribeDeliveryStreamInput{
		DeliveryStreamName: aws.String(name),
	})
	if err != nil {
		k := awsconf.Kind(err)
		if k == ErrStreamNotFound {
			return "", &awsconf.CallError{Msg: fmt.Sprintf("firehose: delivery stream %q does not exist", name), Kind: k, Err: err}
		}
		return "", &awsconf.CallError{Msg: fmt.Sprintf("firehose: describe delivery stream %q: %s", name, awsconf.Reason(err)), Kind: k, Err: err}
	}
	if out.DeliveryStreamDescription == nil {
		return "", fmt.Errorf("firehose: describe delivery stream %q: no description in the answer", name)
	}
	if status := out.DeliveryStreamDescription.DeliveryStreamStatus; status != types.DeliveryStreamStatusActive {
		return "", &awsconf.CallError{Msg: fmt.Sprintf("firehose: delivery stream %q is %s, not ACTIVE", name, status), Kind: ErrStreamNotActive}
	}
	return aws.ToString(out.DeliveryStreamDescription.DeliveryStreamARN), nil
}

// Put sends records in one PutRecordBatch call, or with several streams in one call per chunk
// the Spreader gives a stream, and returns one Result per record, in order. A call refused as a
// whole returns an error and no Result; when the service, or a proxy in front of it (HTTP 413),
// refuses it for its size, the error wraps upload.ErrBatchTooLarge, and when it throttles it
// (ServiceUnavailableException), upload.ErrThrottled; a record refused with
// ServiceUnavailableException is Throttled. An empty batch sends nothing. Each call is bounded
// by ctx's deadline, or by Options.Timeout when ctx has none.
func (d *Destination) Put(ctx context.Context, records [][]byte) ([]upload.Result, error) {
	if d.spreader != nil {
		return d.spreader.Put(ctx, records)
	}
	return d.put(ctx, d.streams[0], records)
}

// put sends records to the delivery stream name in one PutRecordBatch call.
func (d *Destination) put(ctx context.Context, name string, records [][]byte) ([]upload.Result, error) {
	if len(records) == 0 {
		// The service refuses an empty batch; there is nothing to ask it.
		return nil, nil
	}
	in := &awsfirehose.PutRecordBatchInput{
		DeliveryStreamName: aws.String(name),
		Records:            make([]types.Record, len(records)),
	}
	for i, r := range records {
		in.Records[i].Data = r
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.setup.Timeout)
		defer cancel()
	}
	out, err := d.firehose.PutRecordBatch(ctx, in)
	if err != nil {
		return nil, &awsconf.CallError{Msg: fmt.Sprintf("firehose: put %d records to %q: %s", len(records), name, awsconf.Reason(err)), Kind: kind(err), Err: err}
	}
	if len(out.RequestResponses) != len(records) {
		// Results could not be matched to records, so none can be trusted.
		return nil, fmt.Errorf("firehose: put %d records to %q: %d responses in the answer",
			len(records), name, len(out.RequestResponses))
	}
	results := make([]upload.Result, len(records))
	for i, e := range out.RequestResponses {
		results[i] = upload.Result{
			RecordID:     aws.ToString(e.RecordId),
			ErrorCode:    aws.ToString(e.ErrorCode),
			ErrorMessage: aws.ToString(e.ErrorMessage),
			Throttled:    aws.ToString(e.ErrorCode) == codeThrottled,
		}
	}
	return results, nil
}
