// Package event is the stage between the listeners and the buffers: it turns each framed message
// into a JSON event of a CloudWatch Logs subscription record and commits the events to the
// buffers.
//
// A listener opens a Stream per connection (or per datagram source) through Streams, adds each
// message to it and commits after each read. Adding a message stamps it (a Stamper: syslog or
// GELF, which may also rewrite it), gives it the next version 7 UUID of its Stream (record.IDs),
// and encodes it as a JSON event (record.AppendEvent) straight into a buffer.Staging borrowed from
// the buffers, without allocating. Commit hands the staged events to the buffers' batch of the
// stream's (source, port), blocking while the stages behind are busy or the buffers' memory cap
// is reached: that is how TCP and TLS senders feel backpressure. TryAdd and TryCommit never
// block: what the buffers cannot take is dropped there and counted.
//
// With the intake log (internal/intake), each Stream has a stream number of the log, numbers its
// messages (Seq) and stages, beside each JSON event, the entry the log keeps: source, port,
// format, arrival time, id and the message as received. Commit appends a commit's entries with
// one Append before it commits to the buffers, and the buffers' batches carry the runs of the log
// that their events are, for the record stage to release once spooled. Streams.Hold makes
// commits go to the log only, not to the buffers, while no record can be made (the record owner
// not yet known), so that they wait on disk rather than in memory; Streams.Replay ends the hold
// and hands what the log holds unreleased to the buffers, with the stored ids: what an earlier
// run left and what was held, while new commits go on. Streams.WaitRoom, which a listener calls
// before each read, waits until the log has room for a read's worth, so that what is read is
// appended at once rather than held in memory while the log is at its cap.
//
// Commit returns a listener.Receipt, which tells when the committed messages are durable: with
// the log, once it has synced them (intake.Log.WaitSynced); without, never (ErrNotDurable at
// once): the events are only in memory until the record stage spools them.
package event
