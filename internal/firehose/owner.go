package firehose

import (
	"context"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
)

// Owner returns the records' owner: Options.AccountID, else the account in the first delivery
// stream's ARN, else the account of the credentials (STS). It waits until the owner is known or
// ctx is done; a known owner is returned even when ctx is done.
func (d *Destination) Owner(ctx context.Context) (string, error) {
	return d.setup.Owner.Get(ctx)
}

// checkAll checks every stream (awsconf.DescribeAll): they must all take records and be of one
// account.
func (d *Destination) checkAll(ctx context.Context) (streamARN string, err error) {
	return awsconf.DescribeAll(ctx, d.streams, "firehose", "delivery stream", d.check)
}

// Run learns the records' owner when Open could not, asking AWS with backoff until it answers,
// and keeps it in the state directory; it returns at once when Open learned it. It returns nil
// once the owner is learned or ctx is done.
func (d *Destination) Run(ctx context.Context) error {
	return d.setup.Owner.Run(ctx, d.setup.Stream(d.checkAll))
}
