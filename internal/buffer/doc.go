// Package buffer is the stage between the listeners and the record encoder: it gathers the events
// of each (source address, port) into batches and hands a batch on when it is large enough to fill
// a record or old enough that it must not wait longer.
//
// The event stage (internal/event) stages the JSON events of a connection (or datagram source) in
// a Staging borrowed from the Buffers (Stage) and commits them after each read (Commit,
// TryCommit), so the shared per-key batch is locked once per read, not once per message; the
// encoder downstream only compresses.
//
// A batch is handed on (Buffers.Batches) when it reaches the flush size or its oldest event reaches
// the flush age (Options.FlushAge, the spec's 60 s). The record stage reports on each batch with
// one call, Done: the flush size starts at the spec's 4 MB of input and then follows the
// compression ratio Done observes, so that a batch fills one record of record.TargetBytes; when a
// batch yields more than a record, Done puts the rest back to be sent with newer events instead of
// as a small record of its own; and Done releases the batch's memory.
//
// With Options.Ordered (set by the relay for a destination that keeps a source's records in
// order, upload.Ordered: Kinesis Data Streams) a key has at most one batch in the record stage at
// a time: until Done reports on it, the key's newer events keep filling its batch (within the
// cap), and Done puts the tail in front of them and hands the merged batch on when it is due, so
// that a source's records are made one after the other, in order, while other keys go in
// parallel. Close hands such a key's last batch on after that Done.
//
// # Bounded memory and backpressure
//
// The bytes of events held in memory, in the batches being filled and in the batches handed on
// until the encoder releases them, are capped by Options.MaxBytes (DefaultMaxBytes; the relay gives
// DefaultLoggedMaxBytes when its intake log holds the events on disk too). Commit blocks
// while the encoder stage is busy (its channel is full) or the cap is reached, which stops a TCP
// listener from reading: senders feel backpressure and nothing is dropped. Of the commits of one
// key (one source's connections), one at a time waits with a full batch; the others wait behind
// it before adding theirs, so a key holds at most the batch being filled and one waiting, however
// many connections it has. When the cap is reached
// while no batch is with the encoder, the largest batch being filled is handed on early, so that
// many quiet sources cannot hold the memory until their batches age. A stream stages at most
// MaxStagedBytes (256 KiB) between commits: past that, the event stage commits by itself, blocking
// as Commit does, so that a caller that seldom commits cannot defeat the cap or the backpressure.
// Stagings are borrowed from the Buffers at the first message after a commit and given back by
// the commit, and at most 32 are borrowed with wait at once (the others wait in Stage): an idle
// connection holds no staging memory, and staging takes a few MiB however many connections are
// open.
//
// A connection reserves under the same cap (Reserve) the memory of a message it is still
// reading beyond its framing's first buffer; connections together reserve at most half the cap,
// so that batches always have room to drain into, and a reservation that does not fit waits
// (backpressure) until one is given back. The reservations are shown as
// kinesyslog_buffer_connection_bytes, apart from the events of kinesyslog_buffer_bytes.
//
// A datagram cannot wait: Stage without wait and TryCommit never block. A full batch that the busy
// encoder stage cannot take stays with its key and keeps growing, to be handed on by the next
// commit or the age ticker, so that a moment's delay behind costs memory rather than datagrams.
// Only at the cap does TryCommit drop the staged messages, count them
// (kinesyslog_buffer_dropped_messages_total) and log at a limited rate. Nothing else in this
// package drops data.
//
// What the buffers hold is lost if the process dies without shutting down (kill -9, power loss),
// unless the intake log has it (internal/intake, the batches' Chunks): at most Options.FlushAge
// of each source's messages, and at most one batch per source, never more than Options.MaxBytes
// in all. The kinesyslog_buffer_bytes metric shows what is held.
package buffer
