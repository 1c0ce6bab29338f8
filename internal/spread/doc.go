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
// stream that can send it soonest: each stream is a token bucket of bytes (its rate, and a second
// of it saved up at most, but never less than one record of the largest size), as the service's
// quota is; a chunk holds what the chosen stream's bucket holds, at most Limits' records and
// bytes. The chunks are sent at once, each when its stream's bucket has its bytes, and the
// answers put back together in the records' order: Put returns one upload.Result per record, a
// RecordID only for what a stream stored. A record refused, or caught in a chunk that failed, is
// sent again by the uploader in a later call, possibly to another stream: nothing is lost or
// duplicated by the spreading, as a record leaves the spool only on a RecordID. Put returns an
// error only when every chunk failed as a whole, so that the uploader sees a timeout or a batch
// refused for its size as it would from one stream.
//
// # Learning each stream's rate
//
// A stream starts at Options.InitialRate (1 MiB/s, the smallest regional Firehose quota) and
// grows by a quarter after each chunk answered with no record throttled that had to wait for the
// bucket (a chunk that did not wait says nothing of the quota), until the first throttling
// answer. A throttling answer (the call refused with upload.ErrThrottled, or records with
// upload.Result.Throttled) cuts the rate to 80% of the lower of the rate and what the stream
// delivered over the last two seconds, and empties its bucket; from then on each such clean
// chunk adds 0.5% of the rate found at the last cut, so that the rate stays close under the quota
// with few throttled calls (AIMD, as TCP's congestion window). Chunks sent under the rate before
// a cut do not cut it again: their throttles are the same congestion.
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
