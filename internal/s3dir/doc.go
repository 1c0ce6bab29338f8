// Package s3dir is the local-directory destination of kinesyslog: the last stage of the pipeline
// when the relay runs with --output DIR instead of --stream NAME, so that it needs no AWS account.
//
// A Destination takes Put calls from the uploader, as Amazon Data Firehose takes PutRecordBatch
// calls, and lays its records out in a directory the way Firehose's S3 destination lays objects
// out in a bucket:
//
//	DIR/2026/11/25/02/kinesyslog-1-2026-11-25-02-34-55-0b7e3c9a-6f0c-4d1e-9a51-2f1c7a8e4b10
//
// An object is the records of one or more calls concatenated as they are, without framing: each
// record is a complete gzip member, so an object reads back as one multistream gzip file, which
// is what Firehose delivers when records arrive compressed and the stream itself adds no
// compression. For the same reason objects carry no ".gz" extension: Firehose appends one only when
// it compresses the data itself. As on Firehose (see "Configure Amazon S3 object name format" in
// the Amazon Data Firehose developer guide), the key is <prefix><suffix>: the prefix is the UTC
// time YYYY/MM/DD/HH/ and the suffix is
// <stream name>-<stream version>-YYYY-MM-DD-HH-MM-SS-<random UUID>, both taken from the arrival
// time of the object's oldest record. The stream version is always 1, the version of a stream
// whose configuration was never changed.
//
// A new object is started when the current one has been open for BufferInterval, or when the next
// call's records would take it past BufferBytes. A call's records always go into one object, in
// the call's order; calls are appended in the order the Destination serves them.
//
// # Objects appear whole
//
// An object is written under DIR/.inprogress/ and published by renaming it into its hour
// directory when it rotates, when Run finds it due, or at Close. Readers of DIR must skip names
// that begin with a dot, as they would skip an incomplete multipart upload on S3.
//
// # Durability and crash recovery
//
// Put returns RecordIDs only once its records are on disk, because the uploader deletes
// its spool copies when it gets them. Each call, holding the Destination's lock:
//
//  1. writes the records at the end of the in-progress object and fsyncs it;
//  2. records the object's new length in a sidecar file, <name>.committed, and fsyncs that.
//
// The sidecar is how recovery tells where complete records end: the bytes after the committed
// length are a torn tail, records of a call that never returned. The sidecar holds two slots,
// each a sequence number, a length and a CRC-32C of both; commits alternate between the slots, so
// a commit torn by a crash leaves the other slot, the previous commit, intact.
//
// If writing or syncing fails, the object is cut back to its committed length and published (or
// removed, when nothing in it was committed), and the next call starts a new object. Publishing is mkdir, rename, fsync of both directories, and
// only then removal of the sidecar, so that a crash never leaves an object without its sidecar.
//
// At Open, every object left in .inprogress by a crash is cut to its committed length (or removed
// when nothing in it was committed) and published: its records were acknowledged, so they must
// not be lost. A committed length beyond the end of the file means an append failed after its
// commit and was rolled back; the file's own length is then the right one.
//
// # Validation
//
// Its Limits are Firehose's (package firehose), and Put refuses what Firehose refuses, so that
// tests of the relay against a directory catch what the service would reject: no records, more
// than firehose.MaxBatchRecords records or more than firehose.MaxBatchBytes bytes in a call
// (wrapping upload.ErrBatchTooLarge), and an empty record or one over firehose.MaxRecordBytes. A
// refused call writes nothing. The records' owner is Options.AccountID (--account-id), else
// DefaultAccountID.
//
// A Destination is safe for concurrent use. It holds a lock on DIR (a flock(2) on Unix) so that two
// relays never recover each other's in-progress objects.
package s3dir
