// Package spool is the durable on-disk queue between the record stage and the uploader of
// kinesyslog. It takes records (each one or more gzip members, already compressed by the record
// stage) and gives them back, oldest first, until the uploader removes them once the destination
// acknowledged them.
//
// # Layout
//
// Each record is one file named <seq>-<unix ms>.gz, where seq is a 20-digit sequence number that
// grows with every write (and continues across restarts), so that names sort in write order and
// `kinesyslog dump` or zcat can read them. Files are 0600 in a directory created 0700. Other
// names are left alone: the directory also holds a lock file (.lock), and may hold files of other
// stages. Records found corrupt are moved to the quarantine/ subdirectory, where an operator can
// inspect them; they are never sent and never block the queue.
//
// # Guarantees
//
//   - Atomic, durable writes: a record is written to a temporary name (.tmp-*), fsynced, renamed to
//     its final name and the directory fsynced. Only when all of that succeeded does Write return
//     nil; from then on the record survives a crash or power loss. WriteGroup does the same for
//     several records with one syncfs(2) and one directory fsync for them all, all or nothing. A final name never holds a
//     partial record; temporary files left by an interrupted write are removed by Open and never
//     read.
//   - Restart: Open indexes every complete record left by an earlier run, and they are pending
//     again in their original order.
//   - One process per directory: Open takes an exclusive lock (flock) on the directory, because two
//     relays sharing a spool would send each record twice.
//   - Bounded size: with Options.MaxBytes set, Write blocks while the record would not fit, until
//     the uploader frees space or the context is done. A disk that is full (ENOSPC, EDQUOT) is
//     treated the same way: Write waits and tries again, so senders feel backpressure instead of
//     losing records. Waiting writers are not served in order.
//   - Verified reads: Open reads only directory metadata, so it is quick with a large backlog. Read
//     decompresses the record fully, checking every gzip member's CRC-32 and length trailer, before
//     handing it out: a record damaged on disk would otherwise poison every record concatenated
//     with it in the same S3 object. A record that fails is quarantined.
//
// Deleting a record is fsynced as well, so a record is sent again after a power loss only when the
// loss came between its acknowledgement and the end of Remove: delivery is at least once.
//
// A Spool is safe for concurrent use: record workers write while the uploader reads and removes.
package spool
