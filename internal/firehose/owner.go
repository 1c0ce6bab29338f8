package firehose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
	"github.com/kinesyslog/kinesyslog/internal/backoff"
)

// ownerFile keeps, in Options.StateDir, the last account ID AWS gave, for a start while AWS
// cannot be reached.
const ownerFile = "owner"

// Attribute keys of the Destination's logs.
const (
	logKeyOwner = "owner"
	logKeyError = "error"
)

// owner is the records' owner, which may be learned after Open, and where it is kept.
type owner struct {
	once    sync.Once
	ready   chan struct{} // closed once account is set
	account string

	stateDir string
	logger   *slog.Logger
	// unsure is set by Open, before Run starts, when AWS did not say whose records these are:
	// Run then asks until it does.
	unsure bool
}

func newOwner(stateDir string, logger *slog.Logger) *owner {
	return &owner{ready: make(chan struct{}), stateDir: stateDir, logger: logger}
}

// set makes account the owner; only the first call counts.
func (o *owner) set(account string) {
	o.once.Do(func() {
		o.account = account
		close(o.ready)
	})
}

// get waits until the owner is known or ctx is done. A known owner is returned even when ctx is
// done: at shutdown, with no time left to wait, records are still spooled.
func (o *owner) get(ctx context.Context) (string, error) {
	select {
	case <-o.ready:
		return o.account, nil
	default:
	}
	select {
	case <-o.ready:
		return o.account, nil
	case <-ctx.Done():
		return "", fmt.Errorf("firehose: record owner unknown: AWS has not answered (--account-id spares the wait): %w", ctx.Err())
	}
}

// learned takes account, which AWS gave (from where), as the owner and keeps it in the state
// directory. An owner already taken from the state directory stays until restart: records of
// one run have one owner.
func (o *owner) learned(account, from string) {
	o.save(account)
	select {
	case <-o.ready:
		if o.account != account {
			o.logger.Warn("AWS answers another account than the one learned before; records keep the old one until restart",
				slog.String(logKeyOwner, o.account), slog.String("aws_account", account))
		}
	default:
		o.logger.Info("learned the record owner from "+from, slog.String(logKeyOwner, account))
		o.set(account)
	}
}

// load returns the owner kept in the state directory by an earlier run, if any.
func (o *owner) load() (string, bool) {
	if o.stateDir == "" {
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(o.stateDir, ownerFile))
	account := strings.TrimSpace(string(b))
	return account, err == nil && awsconf.IsAccountID(account)
}

// save keeps account in the state directory, written whole under a temporary name and renamed.
func (o *owner) save(account string) {
	if o.stateDir == "" {
		return
	}
	path := filepath.Join(o.stateDir, ownerFile)
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, []byte(account+"\n"), 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		o.logger.Warn("cannot keep the record owner in the state directory",
			slog.Any(logKeyError, errors.Join(err, os.Remove(tmp))))
	}
}

// Owner returns the records' owner: Options.AccountID, else the account in the delivery
// stream's ARN, else the account of the credentials (STS). It waits until the owner is known or
// ctx is done; a known owner is returned even when ctx is done.
func (d *Destination) Owner(ctx context.Context) (string, error) {
	return d.owner.get(ctx)
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
	if accountID != "" {
		d.owner.set(accountID)
		return nil
	}
	account, from, err := d.account(ctx, streamARN)
	switch {
	case err == nil:
		d.owner.learned(account, from)
	case IsDefinite(err):
		return err
	default:
		d.owner.unsure = true
		if cached, ok := d.owner.load(); ok {
			d.logger.Warn("cannot reach AWS: using the account ID learned before",
				slog.String(logKeyOwner, cached), slog.Any(logKeyError, err))
			d.owner.set(cached)
		} else {
			d.logger.Warn("cannot reach AWS: records wait for the account ID (set --account-id to skip the wait)",
				slog.Any(logKeyError, err))
		}
	}
	return nil
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
	if !d.owner.unsure {
		return nil
	}
	var wait backoff.Backoff
	for {
		// When Firehose does not describe the stream, STS may still answer.
		streamARN, _ := d.check(ctx)
		account, from, err := d.account(ctx, streamARN)
		if err == nil {
			d.owner.learned(account, from)
			return nil
		}
		d.logger.Warn("cannot learn the record owner from AWS: will retry", slog.Any(logKeyError, err))
		if wait.Wait(ctx) != nil {
			return nil
		}
	}
}
