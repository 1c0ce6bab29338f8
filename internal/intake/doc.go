// Package intake is the write-ahead log of kinesyslog's listeners: every message a listener
// accepts is appended here, with what it takes to rebuild exactly the same event (source address,
// listener port, arrival time, format, event id, the bytes), before it counts as received, and it
// stays until the record stage has it inside a spooled record. After a crash, Open and Replay give
// back what was accepted and not yet spooled.
//
// # Use
//
// A listener numbers each connection or UDP sender stream with NewStream, its messages with Seq
// from 0, adds each message it reads to a Batch (Batch.Add encodes it, on the listener's
// goroutine) and calls Append with a read's worth of them, which only copies their bytes under
// the log's lock; a RELP listener acknowledges only after WaitSynced on the position Append
// returned. The record stage calls Release with the runs
// {Stream, First, Last} a spooled record holds. At start, Replay hands the entries of the earlier
// run that were not released to the buffers. Run is the group-commit loop; Close ends it.
//
// # On-disk format
//
// The directory holds a lock file (.intake.lock, flocked by Open) and segment files named
// intake-<20-digit number>.seg, numbered in append order, mode 0600. A segment starts with a
// 24-byte header: the magic "KSINTAKE", the format version (uint32, 1), the next stream number
// NewStream would give when the segment was started (uint64), and the CRC-32C (Castagnoli) of
// those 20 bytes; integers are little-endian. Records follow, each:
//
//	magic "\xf8KIE" | body length (uint32) | CRC-32C of the length and body (uint32) | body
//
// The body is at most MaxEntryBytes. Its first byte is the kind. An entry (kind 1) continues
// with uvarint Stream, uvarint Seq, varint Unix seconds and uvarint nanoseconds of Received,
// uvarint Port, the Format byte, the source address (a length byte, then 0, 4, or 16 bytes and
// the IPv6 zone), the 16-byte ID and, to the end of the body, the message. A release marker (kind
// 2) continues with a uvarint count (at most 4,096) and that many runs, each uvarint Stream,
// First and Last-First. Every varint is in its shortest form: a record decodes only if encoding
// it again gives the same bytes.
//
// A segment may end in zeros after its last record: rounds written with O_DIRECT are padded with
// zeros to whole 4 KiB blocks, a small round that grew the file is followed by 1 MiB of zeros
// (the rounds after it then overwrite blocks the file has, and their fdatasync need not commit
// the file system's journal), and the file is cut to its records only when the writer closes it
// (it moves to the next segment, or Close), not after each round. A reader takes zeros from
// after the last intact record to the end of the file as the end of the segment, not as damage:
// the padding of one block, or more where a torn write left blocks unwritten. Zeros followed by
// an intact record are damage like any other, and bytes other than zeros before the trailing
// zeros are a torn tail. No record starts with a zero byte, so padding is never read as one.
//
// # Sync guarantee
//
// Appends go to a memory buffer. Run swaps it for a second one (appends never wait for the disk),
// writes it and fdatasyncs it: one sync covers everything appended since the last.
// A round starts at once when a WaitSynced caller waits, and otherwise Options.SyncInterval
// (DefaultSyncInterval, 10 ms) after the first append it would cover. So a kill -9 or a power
// loss costs at most the last SyncInterval of appends (plus a sync in progress), and a position
// WaitSynced returned for survives both. A new segment's file is created with the directory
// fsynced before a sync counts as done.
//
// On Linux, segment files are opened with O_DIRECT: a round goes from the log's buffer to the
// disk without a copy into the page cache (which costs most of the log's CPU where fresh
// page-cache pages are dear, as in VMs with free page reporting). The two round buffers are
// 4 KiB-aligned, and each starts with a copy of the partial last block of the segment appends go
// to (less than 4 KiB), so that a round within one segment is written from where Append put it:
// that block again, then the new bytes, padded with zeros to whole blocks. The rewritten block
// holds the same bytes as before in front of the new ones, so a crash during the write leaves
// what was synced intact. A round that spans segments, or whose buffer Append had to move (a
// batch past the buffer's room), is copied into an aligned buffer first. fdatasync follows as
// without O_DIRECT, which is no sync. When the file system refuses O_DIRECT (EINVAL at open, as
// ramfs, or at a write), the log says so once at Info and writes through the page cache from
// then on.
//
// # Release and removal
//
// The log keeps, for each stream with unreleased entries, its unreleased Seq as spans, each in
// one segment, and for each segment how many entries are unreleased. Release subtracts the runs
// (releasing twice, or what was never appended, does nothing) and appends a release marker, so
// that a restart does not replay them. A segment is removed once it holds no unreleased entry
// and every older segment is removed: only a prefix of the log, oldest first, the directory synced
// after each removal. A release marker is always in the same segment as the entries it releases
// or a later one, so it never goes before them. One unreleased entry in the oldest segment pins
// every later segment.
//
// # What pins the log, and bounds
//
// Options.MaxBytes caps the live log (segments and what is pending): Append blocks at the cap
// until removals make room, or its context ends; WaitRoom lets a listener wait so before it reads,
// rather than with what it read in memory. Append also blocks while 8 MiB wait to be
// written, so that a disk slower than the senders slows the senders instead of filling memory:
// the log holds at most two such buffers and one entry per Replay in memory. Since the oldest unreleased entry pins
// everything after it, a slow source (a batch waiting for its age limit) could fill the cap:
// once the live log is past half of MaxBytes and its oldest segment still holds unreleased
// entries, FlushRequests delivers the latest Received of that segment's entries, T. Flushing
// every batch holding an entry received at or before T, and releasing those records once
// spooled, unpins the segment. The same request goes out at once when appends wait for disk
// space (Options.DiskReserve: the log and the spool on one nearly full disk), whatever the log's
// size, for the oldest segment holding unreleased entries, the one appends go to included (once
// released it is rotated and removed): space comes back as soon as those records are spooled, in
// a second or two under steady load, not when their batches fill or reach their flush age. On
// such a disk segments are small, at most an eighth of what it had free above the reserve at
// Open (at least 1 MiB), so that they are removed, and their space comes back, in steps.
//
// # Recovery
//
// Open reads every segment once, to rebuild the spans and apply the markers; Replay reads the
// segments holding unreleased entries again, in append order, one entry in memory at a time:
// those Open recovered and, while the log runs, those appended before a Position (once synced),
// so that what a caller kept in the log only (messages waiting for their record owner) comes
// back while appends go on. A record whose header, length or checksum does not check out is
// damage: the reader scans forward for the next magic whose record checks out and goes on from
// there. Damage followed by intact records is skipped, counted
// (kinesyslog_intake_corrupt_entries_total{kind="entry"}) and logged with its segment and
// offset; damage that runs to the end of a segment is a torn tail, cut off the file and counted
// (kind="tail"); trailing zeros (padding) are cut off without counting. A damaged or missing
// segment header is counted (kind="header") and the segment scanned for records all the same. A
// zero-length segment is empty. A length field above MaxEntryBytes is damage, and no length
// makes the reader allocate more than the file holds, so Open's memory does not depend on what
// the files contain. Open fails only on I/O errors. Appends after Open go to a new segment;
// recovered segments are never written again.
//
// A Log is safe for concurrent use.
package intake
