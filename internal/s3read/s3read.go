package s3read

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
)

// DefaultConcurrency is how many objects are fetched at once when Options.Concurrency is zero.
const DefaultConcurrency = 4

// DefaultMaxPrefetchBytes is the largest object fetched ahead, into memory, when
// Options.MaxPrefetchBytes is zero: Firehose's S3 buffer is at most 128 MiB, but anyone who can
// write to a bucket chooses its objects' sizes.
const DefaultMaxPrefetchBytes = 128 << 20

// HourLayout is the UTC hour Firehose's S3 destination puts before every object's name, in
// time.Format's notation.
const HourLayout = "2006/01/02/15"

// hourKey finds the hour directory of a key in Firehose's layout: YYYY/MM/DD/HH/ just before
// the object's name.
var hourKey = regexp.MustCompile(`(?:^|/)([0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2})/[^/]+$`)

// Options configures a Bucket. The zero value uses the SDK's defaults.
type Options struct {
	// AWS is where the AWS configuration comes from: region, profile, role.
	AWS awsconf.Options
	// EndpointURL replaces the S3 endpoint (an S3-compatible server, a VPC endpoint); zero
	// means the SDK's default, which honours AWS_ENDPOINT_URL_S3.
	EndpointURL string
	// PathStyle addresses buckets in the path (http://HOST/BUCKET/KEY) instead of the host name
	// (http://BUCKET.HOST/KEY), as S3-compatible servers often need.
	PathStyle bool
	// Concurrency is how many objects are fetched at once, each held in memory (at most
	// MaxPrefetchBytes) until it is handed over; zero means DefaultConcurrency.
	Concurrency int
	// MaxPrefetchBytes is the largest object fetched ahead; a larger one is read as it is handed
	// over, a record at a time, never held whole. Zero means DefaultMaxPrefetchBytes.
	MaxPrefetchBytes int64
}

// A Location is a bucket and a key prefix: s3://BUCKET/PREFIX.
type Location struct {
	Bucket string
	Prefix string
}

// String formats l as s3://BUCKET/PREFIX.
func (l Location) String() string { return "s3://" + l.Bucket + "/" + l.Prefix }

// StartAfter returns the key after which the objects that may hold events stamped at since or
// later are listed (see MayHold), when the prefix is where Firehose's hour directories start
// (it is empty or ends in '/'), so that earlier hours are not even listed. Otherwise, or with a
// zero since, it returns "", which lists everything.
func (l Location) StartAfter(since time.Time) string {
	if since.IsZero() || (l.Prefix != "" && !strings.HasSuffix(l.Prefix, "/")) {
		return ""
	}
	return l.Prefix + firstHour(since).Format(HourLayout)
}

// ParseURL parses s3://BUCKET[/PREFIX].
func ParseURL(s string) (Location, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return Location{}, fmt.Errorf("s3read: %q is not s3://BUCKET/PREFIX", s)
	}
	return Location{Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/")}, nil
}

// IsURL reports whether s names an S3 location rather than a local path.
func IsURL(s string) bool { return strings.HasPrefix(s, "s3://") }

// slack is how much later than the end of its object's hour an event may be stamped and still
// be found by since: a record reaches Firehose after its events were stamped, unless the
// sender's clock runs ahead.
const slack = time.Hour

// firstHour is the hour of the first objects that may hold events stamped at since or later:
// the objects of an hour that ended slack or more before since hold none.
func firstHour(since time.Time) time.Time {
	return since.UTC().Add(-slack).Truncate(time.Hour)
}

// MayHold reports whether the object key may hold events stamped at since or later: false only
// for a key of Firehose's layout whose hour ended an hour or more before since. A zero since,
// or a key of another layout, may hold anything.
func MayHold(key string, since time.Time) bool {
	if since.IsZero() {
		return true
	}
	hour, ok := HourOf(key)
	return !ok || !hour.Before(firstHour(since))
}

// HourOf returns the hour of delivery a key of Firehose's layout names (UTC), and whether it
// names one.
func HourOf(key string) (time.Time, bool) {
	m := hourKey.FindStringSubmatch(key)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(HourLayout, m[1])
	return t, err == nil
}

// A Bucket reads objects of S3 buckets. Create it with Open; it is safe for concurrent use.
type Bucket struct {
	client      *s3.Client
	concurrency int
	maxPrefetch int64
}

// Open loads the AWS configuration and returns a Bucket reader. It sends nothing.
func Open(ctx context.Context, o Options) (*Bucket, error) {
	cfg, err := awsconf.Load(ctx, o.AWS)
	if err != nil {
		return nil, fmt.Errorf("s3read: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		so.UsePathStyle = o.PathStyle
		if o.EndpointURL != "" {
			so.BaseEndpoint = aws.String(o.EndpointURL)
		}
	})
	return &Bucket{client: client, concurrency: cmp.Or(max(o.Concurrency, 0), DefaultConcurrency),
		maxPrefetch: cmp.Or(max(o.MaxPrefetchBytes, 0), DefaultMaxPrefetchBytes)}, nil
}

// An Object is one object read: its key and its content, or why it could not be read. Body is
// valid only until the function it is handed to returns.
type Object struct {
	Key  string
	Body io.Reader
	Err  error
}

// Objects calls fn with each object of l whose key comes after startAfter (see
// Location.StartAfter; "" for all) and that keep, when not nil, accepts, in key order. Objects
// of at most Options.MaxPrefetchBytes are fetched ahead, up to the Bucket's concurrency at once; one that
// cannot be fetched is handed over with Err set. Objects stops at the first error fn returns, or
// when a listing fails, and returns it.
func (b *Bucket) Objects(ctx context.Context, l Location, startAfter string, keep func(key string) bool, fn func(Object) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Objects in key order, each fetched ahead or to be read when handed over; the capacity
	// bounds what is held in memory.
	pending := make(chan chan Object, b.concurrency)
	var (
		wg      sync.WaitGroup
		listErr error
	)
	wg.Go(func() {
		defer close(pending)
		listErr = b.list(ctx, l, startAfter, func(key string, size int64) bool {
			if keep != nil && !keep(key) {
				return true
			}
			done := make(chan Object, 1)
			select {
			case pending <- done:
			case <-ctx.Done():
				return false
			}
			if size > b.maxPrefetch {
				done <- Object{Key: key} // no Body: read when handed over
			} else {
				wg.Go(func() { done <- b.prefetch(ctx, l.Bucket, key) })
			}
			return true
		})
	})
	var err error
	for done := range pending {
		obj := <-done
		if err == nil {
			if err = b.hand(ctx, l.Bucket, obj, fn); err != nil {
				cancel()
			}
		}
	}
	wg.Wait()
	if err != nil {
		return err
	}
	return listErr
}

// hand calls fn with obj, fetching its body as a stream first when it was not fetched ahead.
func (b *Bucket) hand(ctx context.Context, bucket string, obj Object, fn func(Object) error) error {
	if obj.Body == nil && obj.Err == nil {
		body, err := b.open(ctx, bucket, obj.Key)
		if err != nil {
			return fn(Object{Key: obj.Key, Err: err})
		}
		defer body.Close()
		obj.Body = body
	}
	return fn(obj)
}

// list calls add with every key of l after startAfter, and its size, page by page, until add
// returns false.
func (b *Bucket) list(ctx context.Context, l Location, startAfter string, add func(key string, size int64) bool) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(l.Bucket)}
	if l.Prefix != "" {
		in.Prefix = aws.String(l.Prefix)
	}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	pages := s3.NewListObjectsV2Paginator(b.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped by the caller
			}
			return fmt.Errorf("s3read: list %s: %w", l, err)
		}
		for _, o := range page.Contents {
			if !add(aws.ToString(o.Key), aws.ToInt64(o.Size)) {
				return nil
			}
		}
	}
	return nil
}

// open starts reading one object.
func (b *Bucket) open(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("s3read: get s3://%s/%s: %w", bucket, key, err)
	}
	return out.Body, nil
}

// prefetch fetches one object whole, reading no more than the Bucket's MaxPrefetchBytes of it
// (the listing said it was no larger).
func (b *Bucket) prefetch(ctx context.Context, bucket, key string) Object {
	body, err := b.open(ctx, bucket, key)
	if err != nil {
		return Object{Key: key, Err: err}
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, b.maxPrefetch+1))
	switch {
	case err != nil:
		return Object{Key: key, Err: fmt.Errorf("s3read: read s3://%s/%s: %w", bucket, key, err)}
	case int64(len(data)) > b.maxPrefetch:
		return Object{Key: key, Err: fmt.Errorf("s3read: read s3://%s/%s: larger than listed, over %d bytes", bucket, key, b.maxPrefetch)}
	}
	return Object{Key: key, Body: bytes.NewReader(data)}
}
