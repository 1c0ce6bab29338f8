// Package firehose is the Amazon Data Firehose destination of the relay: an
// [upload.Destination] that sends spooled records with PutRecordBatch. [Open] checks that each
// delivery stream is ACTIVE (DescribeDeliveryStream), that all are of one account
// ([ErrAccountsDiffer] otherwise), and learns the account ID that becomes the records' owner.
// With several streams, each call's records are spread over them by a [spread.Spreader], each
// stream paced at a rate learned from its throttling answers; a throttled call wraps
// [upload.ErrThrottled] and a throttled record is [upload.Result.Throttled]. With one, every
// call goes to it.
//
// Its [Destination.Limits] are the service's quotas, [MaxBatchRecords] records and
// [MaxBatchBytes] bytes per call, [MaxRecordBytes] bytes per record: the record stage sizes
// records and the uploader sizes calls from them. It gives back one [upload.Result] per record,
// in order: a RecordId for each record the service accepted, ErrorCode and ErrorMessage for each
// it refused. A call the service refuses as a whole returns an error and no result, so no record
// is ever taken as delivered without its RecordId.
//
// # The records' owner
//
// [Destination.Owner] is Options.AccountID (--account-id) when given; else the account in the
// delivery stream's ARN (arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME), which Open's
// DescribeDeliveryStream call returns; else the account of the credentials (STS
// GetCallerIdentity). What AWS gave is kept in Options.StateDir (the spool directory, file
// "owner"), so that a relay started while AWS cannot be reached uses the owner an earlier run
// learned; with none kept, records wait for it. Either way [Destination.Run] asks AWS, with
// backoff, until it answers. The owner does not change during a run.
//
// # Configuration
//
// [Open] loads the AWS SDK for Go v2 configuration with [awsconf.Load]: credentials the SDK's
// default way (environment, shared files with an optional profile, SSO, web identity, container
// or instance role), the region from [Options], the environment or the profile. Endpoints
// come from [Options] or from the SDK's own AWS_ENDPOINT_URL_FIREHOSE and AWS_ENDPOINT_URL_STS
// variables. Open's calls are bounded by 15 s and only a definite answer makes it fail, so the
// relay can start while AWS cannot be reached.
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
// A [Destination] is safe for concurrent use. It logs only its start and what it learns of the
// owner; every failure of Put is the uploader's to count and log.
package firehose
