// Package upload is the last stage of kinesyslog: the Uploader takes records from the spool and
// sends them to a Sink (Amazon Data Firehose, or a local directory laid out as Firehose lays out
// S3) in PutRecordBatch calls, and deletes each record from the spool only once the destination
// acknowledged it with a RecordID.
//
// # Batches
//
// A call carries at most MaxBatchRecords records and MaxBatchBytes bytes (the PutRecordBatch
// quotas). A batch is sent as soon as it is full (500 records, or the next record would not fit),
// and everything pending is sent at least every Options.Interval, at start (records left by an
// earlier run), when Flush asks, and while writers wait for room in the spool (a full disk may
// hold fewer records than make a full batch). Up to Options.Concurrency calls are in flight; no record is
// ever in two of them.
//
// # Failures
//
//   - A call that succeeds with some records refused (Firehose's FailedPutCount > 0) is not a
//     success: the accepted records are deleted, and exactly the refused ones are sent again
//     after a backoff, never the whole batch (which would duplicate the accepted ones).
//   - A call that fails as a whole (throttling, 5xx, a timeout, a refused connection, expired
//     credentials, or an answer whose results do not match the records) is sent again after a
//     backoff; nothing of it is deleted.
//   - A batch the destination refuses for its size (ErrBatchTooLarge) is split in two and each
//     half sent, recursively. A single record refused for its size, or larger than
//     MaxRecordBytes, can never be delivered: it is moved to the spool's quarantine and logged as
//     an error, so that it does not hold up the records behind it.
//
// Retries back off exponentially with full jitter (package backoff) and go on until the record is
// delivered or the Uploader stops; a record not delivered stays in the spool for the next start.
// Delivery is therefore at least once: a record is sent again when the answer to a call that
// delivered it was lost (a timeout, a dropped connection, a shutdown cutting the call short).
// Every kind of error is counted in the metrics and logged at a limited rate.
package upload
