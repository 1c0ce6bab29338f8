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
// Commit returns a listener.Receipt, which tells when the committed messages are durable. The
// events of this stage are only in memory until the record stage spools them, so every Receipt's
// Durable returns ErrNotDurable at once; an intake log written before the buffers will make it
// wait for its fsync instead.
package event
