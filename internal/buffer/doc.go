// Package buffer is the stage between the listeners and the record encoder: it gathers the events
// of each (source address, port) into batches and hands a batch on when it is large enough to fill
// a record or old enough that it must not wait longer.
//
// A listener takes an Appender per connection (or per datagram source), adds each message to it
// and commits after each read, so the shared per-key batch is locked once per read, not once per
// message. Adding a message stamps it (through a Stamper: syslog or GELF), gives it a random
// version 4 UUID and encodes it as a JSON event (record.AppendEvent); the encoder downstream only
// compresses.
//
// A batch is handed on (Buffers.Batches) when it reaches the flush size or its oldest event reaches
// the flush age (Options.FlushAge, the spec's 60 s). The flush size starts at the spec's 4 MB of
// input and then follows the compression ratio the encoder observes (ObserveRatio), so that a batch
// fills one record of record.TargetBytes. When a batch yields more than a record, the encoder gives
// the rest back (Requeue) to be sent with newer events instead of as a small record of its own.
//
// Backpressure: Commit blocks while the encoder stage is busy (its channel is full), which stops a
// TCP listener from reading. Nothing in this package drops data.
package buffer
