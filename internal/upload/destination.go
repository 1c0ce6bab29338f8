package upload

import (
	"context"
	"errors"
)

var (
	// ErrBatchTooLarge is returned (wrapped) by a Destination that refused a whole batch for its
	// size. The Uploader answers it by splitting the batch in two and sending each half.
	ErrBatchTooLarge = errors.New("upload: batch too large")
	// ErrThrottled is returned (wrapped) by a Destination whose service refused a whole call for
	// a throughput quota (Firehose's ServiceUnavailableException), so that a sender pacing
	// itself (package spread) sends slower; the Uploader sends the batch again after a backoff,
	// as after any failed call.
	ErrThrottled = errors.New("upload: throttled")
)

// Limits are what a destination accepts in one Put call. They are the destination's data, not
// the uploader's: Amazon Data Firehose takes 500 records and 4,000,000 bytes per call and
// 1,024,000 bytes per record (package firehose), Kinesis Data Streams other numbers. Every field
// must be positive.
type Limits struct {
	// MaxRecords is the most records in one call.
	MaxRecords int
	// MaxBatchBytes is the most bytes of records, all together, in one call.
	MaxBatchBytes int
	// MaxRecordBytes is the largest record the destination accepts: the record stage makes
	// records no larger, and the Uploader quarantines a spooled record that is.
	MaxRecordBytes int
}

// A Destination is where records end: a backend such as Amazon Data Firehose (package firehose)
// or a local directory laid out as Firehose lays out S3 (package s3dir). Every backend has this
// one shape, and a new backend is a new package that implements it. Implementations must be
// safe for concurrent use.
type Destination interface {
	// Limits returns what one Put call may carry. It is constant for the life of the
	// Destination.
	Limits() Limits
	// Put sends records, at most Limits().MaxRecords of at most Limits().MaxBatchBytes bytes in
	// all, in one call. It returns one Result per record, in order, when the call as a whole was
	// answered; a record counts as delivered only when its Result has a RecordID, which the
	// Destination gives only once the record is stored. A non-nil error means the call as a
	// whole failed and no record of it is known to be delivered; a refusal for the batch's size
	// wraps ErrBatchTooLarge.
	Put(ctx context.Context, records [][]byte) ([]Result, error)
	// Owner returns the records' owner, the AWS account ID that the record stage writes into
	// every record. It waits until the owner is known (a Destination may learn it in Run) or
	// ctx is done, and returns a known owner even when ctx is done.
	Owner(ctx context.Context) (string, error)
	// Run does the Destination's background work, such as learning the owner or publishing
	// idle objects, until ctx is done; it may return at once when there is none. It returns an
	// error only when it cannot do its work at all.
	Run(ctx context.Context) error
	// Close releases what the Destination holds, after the last Put; ctx bounds the wait for a
	// call in progress.
	Close(ctx context.Context) error
}

// An Ordered Destination must store the records of one key in the order they were spooled, and
// may store a call's later records while it refuses an earlier one: Kinesis Data Streams, whose
// shard keeps a partition key's records in the order the service stored them (package kinesis).
// The Uploader then never has two records of one key out at once, in a call or refused and
// waiting to be sent again: a key's next record leaves only once the one before it is stored or
// quarantined, one round trip at least, while the records of other keys go on. Firehose is not
// Ordered: it keeps no order a consumer could rely on.
type Ordered interface {
	Destination
	// OrderKey returns the key of a record whose order counts (a partition key). It must be the
	// same for the same record and safe for concurrent use.
	OrderKey(record []byte) string
}

// Result is the outcome of one record of a Put call: RecordID when the destination accepted it,
// else ErrorCode and ErrorMessage as the destination gave them.
type Result struct {
	RecordID     string
	ErrorCode    string
	ErrorMessage string
	// Throttled says that the record was refused for a throughput quota (Firehose's
	// per-record ServiceUnavailableException), rather than for a failure of the service.
	Throttled bool
}

// Delivered reports whether the destination accepted the record.
func (r Result) Delivered() bool { return r.RecordID != "" }
