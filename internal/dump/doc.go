// Package dump prints the events of records that were delivered (objects Firehose wrote to S3,
// objects of --output) or are still spooled: the `kinesyslog dump` command. Each source holds
// gzip-compressed records, one gzip member per record, and every source goes through one
// decoding path, [Printer.Records].
//
// A [Filter] keeps the records of some log groups and log streams (exact names or globs, where
// '*' matches any characters, '/' included) and the events stamped within a time range. A
// [Format] says what is printed: each message on its own line ([Text]), each record whole as a
// JSON line ([JSON]), or each event as a JSON line with its group, stream, id, timestamp and
// message ([JSONL]), for jq.
//
// [Printer.Path] reads local files, directories (recursively, in name order) and standard input;
// [Printer.S3] reads a bucket's objects under a prefix through [s3read], in key order, skipping
// the hours delivered too early for Filter.Since. A source that cannot be read is reported and
// skipped; a failure to write the output ([WriteError]) stops the printer.
//
// A Printer is not safe for concurrent use.
package dump
