// Package firehose is the Amazon Data Firehose destination of the relay: an [upload.Sink] that
// sends spooled records with PutRecordBatch, plus the two calls the relay makes at start, a check
// that the delivery stream is ACTIVE (DescribeDeliveryStream) and the account id that becomes the
// records' owner (STS GetCallerIdentity).
//
// It takes records that already meet the service's limits (package upload: at most 500 records
// and 4,000,000 bytes per call, 1,024,000 bytes per record) and gives back one [upload.Result]
// per record, in order: a RecordId for each record the service accepted, ErrorCode and
// ErrorMessage for each it refused. A call the service refuses as a whole returns an error and no
// result, so no record is ever taken as delivered without its RecordId.
//
// # Configuration
//
// [Open] loads the AWS SDK for Go v2 configuration the default way: credentials from the
// environment, the shared files (optionally a named profile), SSO, web identity, the container
// or the EC2 instance role; the region from [Options], the environment or the profile. Endpoints
// come from [Options] or from the SDK's own AWS_ENDPOINT_URL_FIREHOSE and AWS_ENDPOINT_URL_STS
// variables. Open makes no call, so the relay can start while AWS cannot be reached.
//
// # Errors
//
// Errors are one line saying what was being done and what AWS answered. [IsDefinite] separates
// answers that waiting will not change (the stream is missing or not ACTIVE, access is denied,
// the credentials are missing or refused, a batch or record is too large) from transient
// failures (timeouts, refused connections, throttling, 5xx answers), because only a definite
// answer should stop the relay at start. [ErrStreamNotFound], [ErrStreamNotActive],
// [ErrAccessDenied], [ErrCredentials] and [ErrRecordTooLarge] name the definite answers; a batch
// refused for its size (InvalidArgumentException or ValidationException speaking of a size or
// length, a record too large, or HTTP 413 from a proxy in front of the endpoint) wraps
// [upload.ErrBatchTooLarge], which the uploader answers by splitting the batch.
//
// The SDK's own retries are off: the uploader owns every retry, with one backoff policy, and
// must see every throttle and failure to back off and count them.
//
// A [Client] is safe for concurrent use and logs nothing.
package firehose
