// Package spread spreads the records of each upload call over several streams of one
// destination (Amazon Data Firehose delivery streams; Kinesis data streams could be spread the
// same way), each stream paced at a sending rate of its own, learned from the service's
// throttling answers. A destination package builds a [Spreader] from its streams and calls its
// Put from its own upload.Destination Put, so that the uploader keeps seeing one destination
// with one shape.
//
// # Spreading
//
// [Spreader.Put] cuts the records it is given into chunks, in order, and gives each chunk to the
// stream that can send it soonest. Each stream is a token bucket of bytes at its rate that saves
// up half a second of it (half of what the service's quota saves up, so that calls that reach the
// service closer together than they were sent still find room), and never less than one record
// of the largest size; a chunk holds half a second of the rate, at least one record, at most
// Limits' records and bytes. A chunk is given to a stream at most half a second before its bucket
// holds it (Put waits to cut the next one otherwise), and one that waits while its stream's rate
// is cut waits again at the new rate. The chunks are sent as soon as their buckets hold them and
// the answers put back together in the records' order: Put returns one upload.Result per
// record, a RecordID only for what a stream stored. A record refused, or caught in a chunk that
// failed, is sent again by the uploader in a later call, possibly to another stream: nothing is
// lost or duplicated by the spreading, as a record leaves the spool only on a RecordID. Put
// returns an error only when every chunk failed as a whole, so that the uploader sees a timeout
// or a batch refused for its size as it would from one stream.
//
// # Learning each stream's rate
//
// A stream starts at Options.InitialRate (1 MiB/s, the smallest regional Firehose quota) and,
// until its first throttling answer, grows by a quarter after each chunk answered with no record
// throttled that had to wait for the bucket (a chunk that did not wait says nothing of the
// quota). A throttling answer (the call refused with upload.ErrThrottled, or records with
// upload.Result.Throttled) ends the slow start and takes as the rate found the rate, or in slow
// start the rate before the last growth (the one that went clean), or the rate the stream sent
// at over the last two seconds when that is lower; it cuts the rate to 90% of the rate found and
// empties the bucket. Each clean chunk that waited then adds an eighth of what the rate lacks of
// the rate found, and at least 0.5% of it, so that the rate is soon back close under the quota
// and probes past it slowly (additive increase, multiplicative decrease, with a concave
// recovery as in TCP CUBIC). Chunks given under the rate before a cut do not cut it again: their
// throttles are the same congestion.
//
// The rate sent at is measured between the starts of the chunks answered within the two
// seconds (the bytes of all but the latest over the time from the first start to the latest),
// throttled or not: a stream of a 1 MiB/s quota takes about one record of 1 MB a second, so
// that a rate measured until now, or from what was stored, would be half its rate or less, and
// the stream would settle near half its quota. The cut is shallow for the same reason: a
// stream sends about one chunk between two throttles for each point of its rate a cut takes
// off, and the service's bucket, one second of the quota, holds barely one more record, so that
// the rate must come back to the quota within a few chunks. With records near 1 MB, three
// streams of 1 MiB/s on the Firehose test server take 96% of their quotas with 4% of calls
// throttled (TestFirehoseStreamsQuota in package upload).
//
// # Failing streams
//
// A stream whose call fails otherwise (a 5xx answer, a timeout, a refused connection) is backed
// off with capped exponential backoff and jitter (package backoff; Options.RetryBase,
// RetryMax): no chunk goes to it until the backoff has passed, unless every stream is backed
// off, and then one chunk at a time probes it. The other streams carry its share meanwhile, at
// their own rates; a call that succeeds ends the backoff.
//
// # Metrics
//
// Per stream (label stream): kinesyslog_stream_delivered_records_total,
// kinesyslog_stream_delivered_bytes_total, kinesyslog_stream_throttled_calls_total,
// kinesyslog_stream_failed_calls_total, kinesyslog_stream_rate_bytes_per_second (the learned
// rate) and kinesyslog_stream_backed_off (1 while the stream is backed off).
//
// A Spreader is safe for concurrent use.
package spread
