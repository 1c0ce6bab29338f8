package firehose

import (
	"context"
	"log/slog"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
)

// logKeyError is the attribute key of errors in the Destination's logs.
const logKeyError = "error"

// Owner returns the records' owner: Options.AccountID, else the account in the delivery
// stream's ARN, else the account of the credentials (STS). It waits until the owner is known or
// ctx is done; a known owner is returned even when ctx is done.
func (d *Destination) Owner(ctx context.Context) (string, error) {
	return d.owner.Get(ctx)
}

// start checks the stream and learns the owner, within startTimeout.
func (d *Destination) start(ctx context.Context, accountID string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	streamARN, err := d.check(ctx)
	if err != nil {
		if IsDefinite(err) {
			return err
		}
		d.logger.Warn("cannot reach Firehose: starting anyway, records wait in the spool", slog.Any(logKeyError, err))
	}
	return d.owner.Start(ctx, accountID, func(ctx context.Context) (string, string, error) {
		return d.account(ctx, streamARN)
	}, IsDefinite)
}

// account returns the account ID in streamARN, or else the account of the credentials (STS),
// and where it comes from.
func (d *Destination) account(ctx context.Context, streamARN string) (account, from string, err error) {
	if account, ok := awsconf.ARNAccount(streamARN, "firehose"); ok {
		return account, "the delivery stream's ARN", nil
	}
	account, err = d.callerAccount(ctx)
	return account, "STS", err
}

// Run learns the records' owner when Open could not, asking AWS with backoff until it answers,
// and keeps it in the state directory; it returns at once when Open learned it. It returns nil
// once the owner is learned or ctx is done.
func (d *Destination) Run(ctx context.Context) error {
	return d.owner.Run(ctx, func(ctx context.Context) (string, string, error) {
		// When Firehose does not describe the stream, STS may still answer.
		streamARN, _ := d.check(ctx)
		return d.account(ctx, streamARN)
	})
}
