package firehose

import "github.com/kinesyslog/kinesyslog/internal/awsconf"

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
)

// IsDefinite reports whether err is an answer that waiting and retrying will not change: a
// missing or not ACTIVE stream, access denied, missing or refused credentials, or a batch or
// record too large (awsconf.IsDefinite). Only a definite answer should stop the relay at start;
// records are never dropped for any error.
func IsDefinite(err error) bool { return awsconf.IsDefinite(err) }
