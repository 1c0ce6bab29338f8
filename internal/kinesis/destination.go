package kinesis

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// The Kinesis Data Streams PutRecords limits (API Reference, PutRecords: "Each PutRecords request
// can support up to 500 records. Each record in the request can be as large as 1 MiB, up to a
// limit of 5 MiB for the entire request, including partition keys." and "The record size limit
// applies to the total size of the partition key and data blob."; PutRecordsRequestEntry: a
// PartitionKey is 1 to 256 characters). A stream's maximum record size can be raised
// (UpdateMaxRecordSize); these are the defaults every stream has.
const (
	MaxBatchRecords = 500
	// MaxPartitionKeyBytes is the longest partition key the Destination sends: 256 bytes, which
	// are at most the service's 256 characters.
	MaxPartitionKeyBytes = 256
	// MaxRecordBytes is 1 MiB less the longest partition key.
	MaxRecordBytes = 1<<20 - MaxPartitionKeyBytes
	// MaxBatchBytes is 5 MiB less the partition keys of a full call.
	MaxBatchBytes = 5<<20 - MaxBatchRecords*MaxPartitionKeyBytes
)

// DefaultTimeout bounds one call, connection included, when Options.Timeout is zero: 30 s, the
// uploader's default call timeout too.
const DefaultTimeout = awsconf.DefaultTimeout

// Options configures a Destination. Only Streams is required; the embedded awsconf.Options say
// where the AWS configuration comes from (region, profile, role, STS endpoint, HTTP client,
// logger).
type Options struct {
	awsconf.Options
	// Streams are the data streams, at least one, each a name or an ARN (ParseStream) of the
	// configured region and of the account the credentials reach. Each source's records go to
	// one of them, chosen by a hash of the source and the number of streams (StreamFor), so that
	// they keep their order.
	Streams []string
	// EndpointURL replaces the Kinesis Data Streams endpoint (a VPC endpoint, FIPS, a test
	// server); zero means the SDK's default, which honours AWS_ENDPOINT_URL_KINESIS. It is not
	// used for STS.
	EndpointURL string
	// Timeout bounds each call; zero means DefaultTimeout. A PutRecords call whose context has a
	// deadline gets that deadline only: the uploader sets its own (--upload-timeout).
	Timeout time.Duration
	// AccountID is the records' owner (--account-id); zero means the account in the stream's
	// ARN, else the account of the credentials (STS GetCallerIdentity).
	AccountID string
	// StateDir is where the owner learned from AWS is kept (the spool directory), for a start
	// while AWS cannot be reached; zero keeps it nowhere.
	StateDir string
}

// A Destination sends records to one or more data streams: the upload.Destination of Kinesis
// Data Streams. Create it with Open. It is safe for concurrent use.
type Destination struct {
	streams []string          // names
	arns    map[string]string // by name, of the streams given as ARNs
	setup   awsconf.Setup
	kinesis *awskinesis.Client
}

var _ upload.Ordered = (*Destination)(nil)

// Open loads the AWS configuration (awsconf.Load), makes sure that every data stream of
// o.Streams exists and takes records (ACTIVE, or UPDATING while it is resharded), and learns the
// records' owner, with calls bounded by 15 s in all. Only a definite answer (awsconf.IsDefinite)
// makes it fail: when AWS cannot be reached it logs a warning and returns a Destination whose
// records wait in the spool, and whose Run learns the owner once AWS answers.
func Open(ctx context.Context, o Options) (*Destination, error) {
	d, err := newDestination(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := d.setup.Owner.Start(ctx, o.AccountID, d.setup.Stream(d.check)); err != nil {
		return nil, err
	}
	return d, nil
}

// newDestination loads the AWS configuration and returns a Destination whose owner is not known
// yet. It sends nothing. A stream given as an ARN of another region than the configured one is
// refused.
func newDestination(ctx context.Context, o Options) (*Destination, error) {
	names := make([]string, len(o.Streams))
	arns := map[string]string{}
	var given []Stream // as ARNs
	for i, s := range o.Streams {
		st, err := ParseStream(s)
		if err != nil {
			return nil, err
		}
		names[i] = st.Name
		if st.ARN != "" {
			arns[st.Name] = st.ARN
			given = append(given, st)
		}
	}
	setup, err := awsconf.NewSetup(ctx, "Kinesis", "kinesis", "data stream", names, o.Options, o.StateDir, o.Timeout)
	if err != nil {
		return nil, err
	}
	for _, st := range given {
		if st.Region != setup.Config.Region {
			return nil, fmt.Errorf("kinesis: data stream %s is in region %s, not in %s, the region configured (--region, AWS_REGION or the profile)",
				st.ARN, st.Region, setup.Config.Region)
		}
	}
	return &Destination{
		streams: names,
		arns:    arns,
		setup:   setup,
		kinesis: awskinesis.NewFromConfig(setup.Config, func(ko *awskinesis.Options) {
			// The uploader retries every failed call and record with its own backoff, so the
			// SDK must not: two layers would multiply attempts and hide throttling from the
			// uploader's counters.
			ko.Retryer = aws.NopRetryer{}
			if o.EndpointURL != "" {
				ko.BaseEndpoint = aws.String(o.EndpointURL)
			}
		}),
	}, nil
}

// String names the destination in logs.
func (d *Destination) String() string {
	return "Kinesis data stream " + strings.Join(d.streams, ", ")
}

// Limits returns the PutRecords limits: MaxBatchRecords, MaxBatchBytes and MaxRecordBytes, which
// leave room for the partition keys.
func (d *Destination) Limits() upload.Limits {
	return upload.Limits{MaxRecords: MaxBatchRecords, MaxBatchBytes: MaxBatchBytes, MaxRecordBytes: MaxRecordBytes}
}

// OrderKey returns the partition key of record (PartitionKey): the uploader keeps each key's
// records in spool order, one at a time, which is the order a shard keeps them in.
func (d *Destination) OrderKey(record []byte) string { return PartitionKey(record) }

// Close does nothing: a Destination holds no more than idle HTTP connections.
func (d *Destination) Close(context.Context) error { return nil }

// check asks Kinesis to describe every stream (DescribeStreamSummary, awsconf.DescribeAll) and
// returns the first stream's ARN when they all take records and are of one account. Otherwise
// the error is one line, such as `kinesis: data stream "logs" is CREATING, not ACTIVE`;
// awsconf.IsDefinite tells an answer from a failure to get one.
func (d *Destination) check(ctx context.Context) (streamARN string, err error) {
	return awsconf.DescribeAll(ctx, d.streams, "kinesis", "data stream", d.describe)
}

// describe asks Kinesis to describe the stream and returns its ARN when it takes records and is
// the one given, when it was given as an ARN: calls name the stream, which the credentials reach
// in their own account.
func (d *Destination) describe(ctx context.Context, stream string) (streamARN string, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.setup.Timeout)
	defer cancel()
	out, err := d.kinesis.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		k := awsconf.Kind(err)
		if k == awsconf.ErrNotFound {
			return "", &awsconf.CallError{Msg: fmt.Sprintf("kinesis: data stream %q does not exist", stream), Kind: k, Err: err}
		}
		return "", &awsconf.CallError{Msg: fmt.Sprintf("kinesis: describe data stream %q: %s", stream, awsconf.Reason(err)), Kind: k, Err: err}
	}
	if out.StreamDescriptionSummary == nil {
		return "", fmt.Errorf("kinesis: describe data stream %q: no description in the answer", stream)
	}
	// A stream being resharded (UPDATING) takes records as an ACTIVE one does.
	switch status := out.StreamDescriptionSummary.StreamStatus; status {
	case types.StreamStatusActive, types.StreamStatusUpdating:
	default:
		return "", &awsconf.CallError{Msg: fmt.Sprintf("kinesis: data stream %q is %s, not ACTIVE", stream, status), Kind: awsconf.ErrNotActive}
	}
	got := aws.ToString(out.StreamDescriptionSummary.StreamARN)
	if want, ok := d.arns[stream]; ok && got != want {
		return "", &awsconf.CallError{Kind: awsconf.ErrNotFound,
			Msg: fmt.Sprintf("kinesis: data stream %s not reached: the credentials reach %s by its name; use credentials of the stream's account", want, got)}
	}
	return got, nil
}

// Put sends records in one PutRecords call per stream, at once, each record with the partition
// key of its source (PartitionKey) to the stream of that key (StreamFor), and returns one Result
// per record, in order: a record is delivered only when its entry carries a SequenceNumber, which
// is its RecordID. When every call failed as a whole, Put returns their error and no Result;
// when it was refused for its size, the error wraps upload.ErrBatchTooLarge. When only some
// did, the records of those are refused with the error's code, to be sent again. An empty batch
// sends nothing. The calls are bounded by ctx's deadline, or by Options.Timeout when ctx has
// none.
func (d *Destination) Put(ctx context.Context, records [][]byte) ([]upload.Result, error) {
	if len(records) == 0 {
		// The service refuses an empty batch; there is nothing to ask it.
		return nil, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.setup.Timeout)
		defer cancel()
	}
	entries := make([][]types.PutRecordsRequestEntry, len(d.streams))
	indexes := make([][]int, len(d.streams)) // of records, per stream
	for i, r := range records {
		key := PartitionKey(r)
		s := StreamFor(key, len(d.streams))
		entries[s] = append(entries[s], types.PutRecordsRequestEntry{Data: r, PartitionKey: aws.String(key)})
		indexes[s] = append(indexes[s], i)
	}
	results := make([]upload.Result, len(records))
	errs := make([]error, len(d.streams))
	var wg sync.WaitGroup
	for s := range d.streams {
		if len(entries[s]) > 0 {
			wg.Go(func() { errs[s] = d.put(ctx, d.streams[s], entries[s], indexes[s], results) })
		}
	}
	wg.Wait()
	var failed []error
	calls := 0
	for s, err := range errs {
		if len(entries[s]) > 0 {
			calls++
		}
		if err == nil {
			continue
		}
		failed = append(failed, err)
		for _, i := range indexes[s] {
			results[i] = upload.Result{ErrorCode: callCode(err), ErrorMessage: err.Error()}
		}
	}
	switch {
	case calls == 1 && len(failed) == 1:
		return nil, failed[0]
	case len(failed) == calls:
		return nil, errors.Join(failed...)
	}
	return results, nil
}

// put sends entries to stream in one PutRecords call and sets the results of the records they
// are (at indexes), or returns the call's error.
func (d *Destination) put(ctx context.Context, stream string, entries []types.PutRecordsRequestEntry, indexes []int, results []upload.Result) error {
	out, err := d.kinesis.PutRecords(ctx, &awskinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil {
		k := awsconf.Kind(err)
		if callCode(err) == codeThrottled {
			k = upload.ErrThrottled
		}
		return &awsconf.CallError{Msg: fmt.Sprintf("kinesis: put %d records to %q: %s", len(entries), stream, awsconf.Reason(err)),
			Kind: k, Err: err}
	}
	if len(out.Records) != len(entries) {
		// Results could not be matched to records, so none can be trusted.
		return fmt.Errorf("kinesis: put %d records to %q: %d entries in the answer", len(entries), stream, len(out.Records))
	}
	for j, e := range out.Records {
		code := aws.ToString(e.ErrorCode)
		if code == "" && aws.ToString(e.SequenceNumber) == "" {
			// Neither stored nor refused: sending it again may store it twice, taking it as
			// delivered may lose it.
			code = "NoSequenceNumber"
		}
		if code != "" {
			results[indexes[j]] = upload.Result{ErrorCode: code, ErrorMessage: aws.ToString(e.ErrorMessage), Throttled: code == codeThrottled}
			continue
		}
		results[indexes[j]] = upload.Result{RecordID: aws.ToString(e.SequenceNumber)}
	}
	return nil
}

// codeThrottled is the error code of a call, or of one entry of a call, refused for a shard's
// write throughput (1 MiB/s, 1,000 records/s).
const codeThrottled = "ProvisionedThroughputExceededException"

// callCode names a failed call in the results of its records: the AWS error code, else
// "CallFailed".
func callCode(err error) string {
	if apiErr, ok := errors.AsType[smithy.APIError](err); ok && apiErr.ErrorCode() != "" {
		return apiErr.ErrorCode()
	}
	return "CallFailed"
}

// StreamFor returns which of n streams takes the records of partition key key: the same one
// for the same key and n, so that a source's records keep their order, and the keys spread
// evenly over the streams.
func StreamFor(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Owner returns the records' owner: Options.AccountID, else the account in the stream's ARN,
// else the account of the credentials (STS). It waits until the owner is known or ctx is done; a
// known owner is returned even when ctx is done.
func (d *Destination) Owner(ctx context.Context) (string, error) {
	return d.setup.Owner.Get(ctx)
}

// Run learns the records' owner when Open could not, asking AWS with backoff until it answers,
// and keeps it in the state directory; it returns at once when Open learned it. It returns nil
// once the owner is learned or ctx is done.
func (d *Destination) Run(ctx context.Context) error {
	return d.setup.Owner.Run(ctx, d.setup.Stream(d.check))
}
