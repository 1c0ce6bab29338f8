// Package gelf reads GELF 1.1 (Graylog Extended Log Format) messages: it turns UDP datagrams into
// whole messages and finds the event time of a message.
//
// It sits where the syslog header scan sits for syslog: after the listener (UDP) or the framer
// (TCP and TLS, where a NUL ends each message) and before batching. Its two parts are:
//
//   - [Assembler], for UDP: reassembles chunked datagrams and decompresses gzip and zlib
//     payloads, giving the message's uncompressed JSON.
//   - [Stamper], for every transport: implements the event stage's Stamper, reading the event
//     time from the message's top-level "timestamp" member. The message is recorded as it
//     arrived (the whole GELF JSON), never rewritten.
//
// # UDP datagrams
//
// The GELF specification (Graylog documentation, "GELF via UDP") lets a datagram carry
//
//   - a chunk: the magic bytes 0x1e 0x0f, an 8-byte message id, a 1-byte sequence number and a
//     1-byte sequence count, then a piece of the payload. The pieces, in sequence order, make up
//     one payload. A message has at most 128 chunks ([MaxChunks]), and all of them must arrive
//     within 5 seconds ([DefaultExpiry]) or the server discards them;
//   - or a whole payload.
//
// A payload is gzip (RFC 1952, first bytes 0x1f 0x8b), zlib (RFC 1950, first byte 0x78 with a
// valid header check) or plain JSON (anything else). Chunking applies to the payload as sent, so
// a compressed message is reassembled first and decompressed as a whole.
//
// The original Python relay enforced the chunk limit with an assert and never expired a chunk set
// that lacked a piece. This package rejects a sequence count above 128 or of 0, a sequence number
// not below its count, and a count that differs from the one the set started with, with an error
// for each ([ErrTooManyChunks], [ErrBadChunk]); ignores duplicate chunks; and drops a set that is
// still incomplete [Options.Expiry] after its first chunk. Sets are keyed by the sender's address
// and port together with the message id, so one sender can neither complete nor spoil another's
// message by reusing its id.
//
// # Bounded memory
//
// Incomplete sets hold at most [Options.MaxPendingBytes], counted as what they take: 4 KiB
// pages that their chunks fill end to end, as they arrive, and 2 KiB of bookkeeping a set. To
// take a chunk beyond that, the oldest sets are dropped (counted in
// kinesyslog_gelf_chunk_sets_evicted_total and logged at a limited rate). The sets and pages of
// dropped and completed sets are kept, within the bound, for the chunks that follow, so that a
// flood of chunk sets that never complete holds the bound and makes no garbage; what no chunk
// takes between two [Assembler.Sweep] calls is let go. A complete set is decompressed from its
// pages straight into the caller's buffer. A message is at most
// [Options.MaxMessageBytes] once decompressed: decompression stops there whatever the
// compressed size (a "zip bomb" of a few kilobytes costs at most that much memory), and
// [Assembler.Add] returns the first MaxMessageBytes bytes with [ErrTooLarge], so that the caller
// can keep a truncated message as it does for syslog. Decompressors are pooled and reset, so a
// datagram costs no allocation once the pools are warm and the caller's buffer has room.
//
// # TCP and TLS
//
// GELF over TCP is uncompressed JSON ended by a NUL byte. The framer delivers each message and the
// Stamper reads it; the Assembler is not involved. The original relay's plain-JSON TCP path was
// broken; here it is the same path as every other message. (JSON may hold raw line feeds between
// its tokens, so for GELF only the NUL may end a message.)
//
// # Timestamps
//
// GELF 1.1's "timestamp" is seconds since the Unix epoch with optional decimal places, a JSON
// number. The Stamper reads it exactly (decimally, not through a float64, which would turn
// 1700000000.123 into 1700000000.122999906). See [Stamper] for what else it accepts and how it
// treats messages that are not JSON objects.
package gelf
