package upload

import (
	"context"
	"errors"
)

// Limits of one PutRecordBatch call (Amazon Data Firehose quotas). The documentation says "4 MB"
// without saying which; MaxBatchBytes takes the strict reading.
const (
	MaxBatchRecords = 500
	MaxBatchBytes   = 4_000_000
	// MaxRecordBytes is the largest record the service accepts: 1,000 KiB before base64, which
	// its validation message spells "length less than or equal to 1024000".
	MaxRecordBytes = 1_024_000
)

// ErrBatchTooLarge is returned (wrapped) by a Sink whose destination refused a whole batch for its
// size. The Uploader answers it by splitting the batch in two and sending each half.
var ErrBatchTooLarge = errors.New("upload: batch too large")

// A Sink is a destination for records: Amazon Data Firehose, or a local directory laid out as
// Firehose would lay out S3.
//
// PutRecordBatch sends at most MaxBatchRecords records of at most MaxBatchBytes in all. It returns
// one Result per record, in order, when the call as a whole was answered; a record counts as
// delivered only when its Result has a RecordID. A non-nil error means the call as a whole failed
// and no record of it is known to be delivered. Implementations must be safe for concurrent use.
type Sink interface {
	PutRecordBatch(ctx context.Context, records [][]byte) ([]Result, error)
}

// Result is the outcome of one record of a PutRecordBatch call: RecordID when the destination
// accepted it, else ErrorCode and ErrorMessage as the destination gave them.
type Result struct {
	RecordID     string
	ErrorCode    string
	ErrorMessage string
}

// Delivered reports whether the destination accepted the record.
func (r Result) Delivered() bool { return r.RecordID != "" }
