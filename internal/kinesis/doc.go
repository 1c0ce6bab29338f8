// Package kinesis is the Amazon Kinesis Data Streams destination of the relay: an
// [upload.Destination] that sends spooled records with PutRecords. [Open] checks that the data
// stream takes records (DescribeStreamSummary: ACTIVE, or UPDATING while it is resharded), that
// the streams are all of one account ([awsconf.ErrAccountsDiffer] otherwise), and learns the
// account ID that becomes the records' owner.
// A stream is given by name or by ARN ([ParseStream]); one given by ARN is called by its name
// and must be of the configured region and of the account the credentials reach.
//
// Records are the same gzip-compressed CloudWatch Logs subscription records that the Firehose
// destination sends, one per Kinesis record, so that a consumer reads them as it reads
// CloudWatch Logs subscription data in a Kinesis stream.
//
// # Limits and partition keys
//
// [Destination.Limits] are the PutRecords limits, less room for the partition keys, which the
// service counts in a record's 1 MiB and a call's 5 MiB: [MaxBatchRecords] records and
// [MaxBatchBytes] bytes of data per call, [MaxRecordBytes] bytes per record. The record stage
// makes records of record.TargetBytes (1,000,000 bytes), so five fill a call.
//
// Each record's partition key is its source, log group and log stream
// ([PartitionKey]: "/kinesyslog/syslog/514/10.0.0.5"). Every record holds the events of one
// source, and the service hashes a key onto one shard, so a source's records stay on one shard
// while sources spread over the shards.
//
// # Order
//
// A shard keeps a key's records in the order the service stored them, but PutRecords may store
// a call's later entries while it refuses an earlier one, and the uploader has several calls in
// flight. The Destination is therefore [upload.Ordered], its [Destination.OrderKey] the
// partition key: the uploader never has two records of one source out at once, in a call or
// refused and waiting to be sent again, so a source's records are stored in the order they were
// spooled, while the other sources' records go on beside a refused one. The cost is one round
// trip per record of a source: a source's records leave one PutRecords answer apart, about 1 MB
// each (a busy source's records are full), which is above a shard's 1 MiB/s whenever a call
// takes less than a second; sources still share calls, up to 500 records each. One source is
// anyway limited to one shard's write throughput (1 MiB/s, 1,000 records/s): about 20,000
// messages/s of 200 bytes at 48 compressed bytes each.
//
// # Several streams
//
// With several streams (Options.Streams, --kinesis-stream repeated), each source's records go to
// one of them, chosen by a hash of its partition key ([StreamFor]), and one Put makes one
// PutRecords call per stream, at once: sources spread over the streams and keep their order. A
// stream whose call fails as a whole costs only its own records, refused to be sent again; its
// sources wait for it rather than move to another stream, which would break their order. A
// stream takes as much as its shards do, so more shards in one stream (UpdateShardCount) is the
// usual way to grow.
//
// # Results
//
// [Destination.Put] gives back one [upload.Result] per record, in order: the entry's
// SequenceNumber as its RecordID when the service stored it, ErrorCode and ErrorMessage
// (ProvisionedThroughputExceededException, marked Throttled, or InternalFailure) when it refused
// it; the uploader deletes a record from the spool only on a RecordID and sends exactly the
// refused ones again. A call refused as a whole returns an error and no result; refused for a
// shard's throughput, it wraps upload.ErrThrottled.
//
// # The records' owner and configuration
//
// The owner is Options.AccountID (--account-id) when given; else the account in the stream's
// ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME); else the account of the credentials (STS
// GetCallerIdentity), as for Firehose ([awsconf.Owner], kept in Options.StateDir). The AWS SDK
// for Go v2 configuration is [awsconf.Load]'s; the endpoint is Options.EndpointURL, else the
// SDK's own AWS_ENDPOINT_URL_KINESIS.
//
// # Errors
//
// Errors are one line saying what was being done and what AWS answered, classified by
// [awsconf.Kind]: a missing or not ACTIVE stream, access denied, or missing or refused
// credentials are definite ([awsconf.IsDefinite]) and stop [Open]; throttling, 5xx answers and
// timeouts are transient, sent again with the uploader's backoff. A record too large
// ([awsconf.ErrRecordTooLarge]) or a call refused for its size (a proxy's HTTP 413) wraps
// [upload.ErrBatchTooLarge], which the uploader answers by splitting the batch. The SDK's own
// retries are off: the uploader owns every retry.
//
// A [Destination] is safe for concurrent use.
package kinesis
