// Package encode is the record stage: it takes the batches the buffers hand on
// (buffer.Buffers.Batches), compresses each into records of the CloudWatch Logs subscription
// shape (record.Encoder), and writes them to the spool, where they become durable.
//
// A Stage runs one worker per CPU and one spooler. A worker asks the destination for the record
// owner (Owner), encodes a batch and queues its records; it reports on every batch to the buffers
// with one call, buffer.Buffers.Done, which observes the compression ratio, takes back the events
// of a full batch that did not fill a record, and releases the batch. The spooler writes what the
// workers queued while it wrote the group before as one group (Spool.WriteGroup: one sync for the
// group instead of one per record), so that many quiet or spoofed sources, each a record of its
// own, cannot outrun the spool; and the queue is bounded, so that a spool that cannot keep up
// makes the workers wait, and the buffers behind them (backpressure). A write the spool refuses
// (its disk full, say) is retried with internal/backoff.
//
// A record is not copied on its way: the encoder compresses it into a buffer it hands over with
// the record (record.NewEncoderFrom), and once the spool has written the group the spooler keeps
// the buffer for the next record, in a free list of a few (the queue's bytes), so that a steady
// flow allocates no megabyte per record. A small record, of a quiet source, is queued as a copy
// of its size instead: the queued records hold at most twice the bytes the queue counts.
//
// Records are at most record.TargetBytes (1,000,000 bytes), which must be within the
// destination's limit (Options.MaxRecordBytes).
//
// Nothing is dropped but at shutdown: Run's context ends the waits, and once its cause is
// ErrDeadline (ShutdownWindow: --shutdown-timeout after the signal) batches are counted as lost
// without being encoded and no write starts. Lost messages are logged, counted
// (kinesyslog_encode_lost_messages_total) and reported by Run's error.
package encode
