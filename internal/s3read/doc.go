// Package s3read reads the objects that Amazon Data Firehose delivered to S3, for `kinesyslog
// dump s3://BUCKET/PREFIX`: it lists a bucket's keys under a prefix, page by page
// (ListObjectsV2), and fetches the objects several at a time while handing them over in key
// order, which for Firehose's layout (PREFIX YYYY/MM/DD/HH/ STREAM-1-YYYY-MM-DD-HH-MM-SS-UUID)
// is the order they were delivered.
//
// [Open] loads the AWS configuration with [awsconf.Load] (region, profile, role, the SDK's
// default chain) and makes the S3 client: at Options.EndpointURL, else the SDK's default,
// which honours AWS_ENDPOINT_URL_S3; with path-style addressing (Options.PathStyle) for
// S3-compatible servers that have no virtual-host buckets.
//
// [Bucket.Objects] fetches at most Options.Concurrency objects ahead, into memory, each of at
// most Options.MaxPrefetchBytes: a larger one is read as it is handed over, never held whole.
// [HourOf] reads the delivery hour from a key of Firehose's layout, so that callers skip the
// objects delivered too early to hold the events they want: [Location.StartAfter] does not even
// list the hours before, [MayHold] tells for one key.
package s3read
