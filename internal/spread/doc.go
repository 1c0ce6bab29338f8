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
// upload.Result.Throttled) takes the rate the stream stored at over the last two seconds (or the
// rate, when lower) as the rate found, cuts the rate to 80% of it and empties the bucket; each
// clean chunk that waited then adds an eighth of what the rate lacks of the rate found, and at
// least 0.5% of it, so that the rate is soon back close under the quota and probes past it
// slowly (additive increase, multiplicative decrease, with a concave recovery as in TCP CUBIC).
// Chunks given under the rate before a cut do not cut it again: their throttles are the same
// congestion.
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
