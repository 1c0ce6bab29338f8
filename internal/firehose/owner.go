package firehose

import (
	"cmp"
	"context"
	"fmt"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
)

// Owner returns the records' owner: Options.AccountID, else the account in the first delivery
// stream's ARN, else the account of the credentials (STS). It waits until the owner is known or
// ctx is done; a known owner is returned even when ctx is done.
func (d *Destination) Owner(ctx context.Context) (string, error) {
	return d.owner.Get(ctx)
}

// awsStream is the delivery streams as the owner learns from them.
func (d *Destination) awsStream() awsconf.Stream {
	return awsconf.Stream{Describe: d.checkAll, Service: "Firehose", ARNService: "firehose", Noun: "delivery stream",
		STS: d.sts, Timeout: d.timeout}
}

// checkAll checks every stream and returns the ARN of the first that answered. Its error is the
// first definite one (a stream missing or not ACTIVE, streams of several accounts), else the
// first failure to get an answer.
func (d *Destination) checkAll(ctx context.Context) (streamARN string, err error) {
	var transient error
	first, firstAccount := "", ""
	for _, name := range d.streams {
		a, err := d.check(ctx, name)
		switch {
		case IsDefinite(err):
			return "", err
		case err != nil:
			transient = cmp.Or(transient, err)
			continue
		}
		account, _ := awsconf.ARNAccount(a, "firehose")
		if streamARN == "" {
			streamARN, first, firstAccount = a, name, account
		} else if account != firstAccount {
			return "", &awsconf.CallError{Msg: fmt.Sprintf("firehose: delivery stream %q is of account %s, %q of account %s: all must be of one account, the records' owner",
				first, firstAccount, name, account), Kind: ErrAccountsDiffer}
		}
	}
	return streamARN, transient
}

// Run learns the records' owner when Open could not, asking AWS with backoff until it answers,
// and keeps it in the state directory; it returns at once when Open learned it. It returns nil
// once the owner is learned or ctx is done.
func (d *Destination) Run(ctx context.Context) error {
	return d.owner.Run(ctx, d.awsStream())
}
