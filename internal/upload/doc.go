// Package upload is the last stage of kinesyslog: the Uploader takes records from the spool and
// sends them to a Destination (Amazon Data Firehose, or a local directory laid out as Firehose
// lays out S3) in Put calls, and deletes each record from the spool only once the destination
// acknowledged it with a RecordID.
//
// Destination is the one shape of every backend: Limits, Put, Owner, Run and Close. A backend's
// limits are its own data (Limits: records and bytes per call, bytes per record), which the
// Uploader reads from it; the Uploader only calls Limits and Put, and the relay runs and closes
// the Destination.
//
// # Batches
//
// A call carries at most Limits.MaxRecords records and Limits.MaxBatchBytes bytes (for Firehose,
// 500 records and 4,000,000 bytes, the PutRecordBatch quotas). A batch is sent as soon as it is
// full (MaxRecords records, or the next record would not fit), and everything pending is sent at
// least every Options.Interval, at start (records left by an earlier run), when Flush asks, and
// while writers wait for room in the spool (a full disk may hold fewer records than make a full
// batch). Up to Options.Concurrency calls are in flight; no record is ever in two of them.
//
// # Order
//
// A destination that must store each key's records in spool order (Ordered: Kinesis Data
// Streams, by partition key) gets one record of a key at a time: a call holds at most one record
// of a key, and the next record of the key leaves only once the one before it is delivered or
// quarantined, while records of other keys go on, in other calls and beside records refused and
// waiting to be sent again (which take no call slot while they wait). The Uploader looks for such
// records among the oldest 500 pending, each read once for its key. Other destinations get
// batches of consecutive records, whose order across calls is not kept.
//
// # A slow link
//
// Each call is bounded by Options.CallTimeout (--upload-timeout, 30 s by default). What is sent
// at once adapts to the link, AIMD-style: the Uploader starts with one call in flight and lets one
// more after each full call answered in less than half the timeout, up to Options.Concurrency. A
// call that times out halves the calls in flight, down to one, then the bytes per call, down to
// one record; calls answered quickly grow them back. A link about as full as the timeout allows
// (calls taking more than half of it) keeps the window where it is. Fewer calls in flight also
// means fewer duplicates: the destination may store a call the Uploader gave up on, and resending
// it stores it twice. The window is exported as the window_calls and window_batch_bytes gauges.
//
// # Failures
//
//   - A call that succeeds with some records refused (Firehose's FailedPutCount > 0) is not a
//     success: the accepted records are deleted, and exactly the refused ones are sent again
//     after a backoff, never the whole batch (which would duplicate the accepted ones).
//   - A call that fails as a whole (throttling, 5xx, a timeout, a refused connection, expired
//     credentials, or an answer whose results do not match the records) is sent again after a
//     backoff; nothing of it is deleted.
//   - A batch the destination refuses for its size (ErrBatchTooLarge: Firehose's own limits, or a
//     proxy's HTTP 413) is split in two and each half sent, recursively, and later calls carry at
//     most half of it until calls that go well grow the batch size back. A single record refused for its size, or larger than
//     Limits.MaxRecordBytes, can never be delivered: it is moved to the spool's quarantine and logged as
//     an error, so that it does not hold up the records behind it.
//
// Retries back off exponentially with full jitter (package backoff) and go on until the record is
// delivered or the Uploader stops; a record not delivered stays in the spool for the next start.
// Delivery is therefore at least once: a record is sent again when the answer to a call that
// delivered it was lost (a timeout, a dropped connection, a shutdown cutting the call short).
// Every kind of error is counted in the metrics and logged at a limited rate.
package upload
