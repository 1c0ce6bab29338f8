package firehose

import (
	"errors"

	"github.com/aws/smithy-go"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// Definite answers from AWS (package awsconf): retrying the same call later gets the same
// answer.
var (
	ErrStreamNotFound  = awsconf.ErrNotFound
	ErrStreamNotActive = awsconf.ErrNotActive
	ErrAccessDenied    = awsconf.ErrAccessDenied
	ErrCredentials     = awsconf.ErrCredentials
	// ErrRecordTooLarge wraps upload.ErrBatchTooLarge: the answer does not say which record it
	// is, so the uploader splits the batch until it is alone, then quarantines it.
	ErrRecordTooLarge = awsconf.ErrRecordTooLarge
	// ErrAccountsDiffer says that the delivery streams are not all of one account: the records
	// of one relay have one owner.
	ErrAccountsDiffer = awsconf.ErrAccountsDiffer
)

// IsDefinite reports whether err is an answer that waiting and retrying will not change: a
// missing or not ACTIVE stream, streams of several accounts, access denied, missing or refused
// credentials, or a batch or record too large (awsconf.IsDefinite). Only a definite answer should
// stop the relay at start; records are never dropped for any error.
func IsDefinite(err error) bool { return awsconf.IsDefinite(err) }

// codeThrottled is the error code of a call, or of one record of a call, refused for the
// delivery stream's throughput quota ("Slow down.").
const codeThrottled = "ServiceUnavailableException"

// kind is awsconf.Kind, and upload.ErrThrottled for a call refused for the stream's quota.
func kind(err error) error {
	if apiErr, ok := errors.AsType[smithy.APIError](err); ok && apiErr.ErrorCode() == codeThrottled {
		return upload.ErrThrottled
	}
	return awsconf.Kind(err)
}
