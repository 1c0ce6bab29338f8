package main

import (
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/dump"
	"github.com/kinesyslog/kinesyslog/internal/s3read"
)

// dumpOptions are the options of `kinesyslog dump`.
type dumpOptions struct {
	json         bool
	format       string
	since, until string
	filter       dump.Filter
	aws          config.AWS
	s3           s3read.Options
}

func (a *app) dumpCommand() *cobra.Command {
	var o dumpOptions
	cmd := &cobra.Command{
		Use:   "dump PATH|s3://BUCKET/PREFIX...",
		Short: "Print the events of delivered objects or spool files",
		Long: `Print the events of objects Firehose delivered to S3, of files written with --output, or of
spool files: each holds gzip-compressed records, one gzip member per record. A directory is
read recursively in name order; "-" reads standard input; s3://BUCKET/PREFIX reads the objects
under PREFIX straight from S3, in key order, with the AWS options below (the SDK's AWS_*
variables work too; AWS_ENDPOINT_URL_S3 for the endpoint).

Each event's message is printed as received, followed by a newline (a message that holds
newlines spans several lines); --format json prints each record whole as one JSON line, and
--format jsonl each event as one JSON line with its group, stream, id, timestamp and message.
--since and --until keep the events stamped within that time; objects of Firehose's layout
(PREFIX/YYYY/MM/DD/HH/) delivered an hour or more before --since are skipped unread.`,
		Example: `  kinesyslog dump ./out
  kinesyslog dump s3://logs-bucket/firehose/ --since 1h --format jsonl | jq -r 'select(.stream == "10.0.0.5") | .message'
  kinesyslog dump s3://logs-bucket/ --region eu-west-1 --role-arn arn:aws:iam::210987654321:role/log-reader \
    --since 2026-12-03T06:00 --until 2026-12-03T07:00 --group '/kinesyslog/syslog/*'`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("dump: give at least one PATH: a file, a directory, s3://BUCKET/PREFIX, or - for stdin")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.dump(cmd, args, o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.format, "format", string(dump.Text), "`FORMAT` of the output: text (the messages), json (each record as a JSON line) or jsonl (each event as a JSON line)")
	fs.BoolVar(&o.json, "json", false, "print each record as one JSON line (--format json)")
	fs.StringVar(&o.filter.Group, "group", "", "print only the records whose logGroup is `GROUP`, e.g. /kinesyslog/syslog/514, or matches it as a glob (* for any characters)")
	fs.StringVar(&o.filter.Stream, "stream", "", "print only the records whose logStream (source address) is `STREAM` or matches it as a glob")
	fs.StringVar(&o.since, "since", "", "print only the events stamped at `TIME` or later: a duration before now (90m, 2h, 7d), an RFC 3339 time, or a UTC date or time (2026-12-03, 2026-12-03T06:00)")
	fs.StringVar(&o.until, "until", "", "print only the events stamped before `TIME`, given as for --since")
	o.aws.AddFlags(fs)
	fs.StringVar(&o.s3.EndpointURL, "endpoint-url", "", "S3 endpoint `URL` for s3:// paths (an S3-compatible server, a VPC endpoint); AWS_ENDPOINT_URL_S3 works too")
	fs.BoolVar(&o.s3.PathStyle, "path-style", false, "address S3 buckets in the path (http://HOST/BUCKET/KEY), as S3-compatible servers often need")
	fs.IntVar(&o.s3.Concurrency, "concurrency", s3read.DefaultConcurrency, "`N` objects fetched from S3 ahead, each held in memory (up to 128 MiB) until printed")
	return cmd
}

// dump runs `kinesyslog dump` with o on args.
func (a *app) dump(cmd *cobra.Command, args []string, o dumpOptions) error {
	var errs []error
	format, err := dump.ParseFormat(o.format)
	errs = append(errs, err)
	if o.json {
		format = dump.JSON
	}
	now := time.Now()
	for _, t := range []struct {
		flag, value string
		to          *time.Time
	}{{"--since", o.since, &o.filter.Since}, {"--until", o.until, &o.filter.Until}} {
		if t.value != "" {
			var err error
			if *t.to, err = dump.ParseTime(t.value, now); err != nil {
				errs = append(errs, errors.New("dump: "+t.flag+" "+err.Error()))
			}
		}
	}
	errs = append(errs, o.aws.Validate())
	locations := map[string]s3read.Location{}
	for _, arg := range args {
		if s3read.IsURL(arg) {
			loc, err := s3read.ParseURL(arg)
			errs = append(errs, err)
			locations[arg] = loc
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p, err := dump.NewPrinter(a.stdout, format, o.filter)
	if err != nil {
		return err
	}

	var bucket *s3read.Bucket
	errs = nil
	for _, arg := range args {
		if loc, ok := locations[arg]; !ok {
			err = p.Path(arg, a.stdin)
		} else if bucket != nil {
			err = p.S3(cmd.Context(), bucket, loc)
		} else if bucket, err = s3read.Open(cmd.Context(), o.s3WithAWS(a.stderr)); err == nil {
			err = p.S3(cmd.Context(), bucket, loc)
		}
		if _, ok := errors.AsType[*dump.WriteError](err); ok {
			return failure{err}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.Flush(); err != nil {
		return failure{err}
	}
	if len(errs) > 0 {
		return failure{errors.Join(errs...)}
	}
	return nil
}

// s3WithAWS returns o's S3 options with its AWS options, the SDK logging to stderr.
func (o dumpOptions) s3WithAWS(stderr io.Writer) s3read.Options {
	s3 := o.s3
	s3.AWS = o.aws.Options(slog.New(slog.NewTextHandler(stderr, nil)))
	return s3
}
