package awsconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kinesyslog/kinesyslog/internal/backoff"
)

// OwnerFile keeps, in an Owner's state directory, the last account ID AWS gave, for a start
// while AWS cannot be reached.
const OwnerFile = "owner"

// Attribute keys of the Owner's logs.
const (
	logKeyOwner = "owner"
	logKeyError = "error"
)

// A Lookup asks AWS whose records these are: it returns the account ID and where it comes from
// (for the log: "the delivery stream's ARN", "STS").
type Lookup func(ctx context.Context) (account, from string, err error)

// Owner is the records' owner, the AWS account ID an AWS destination writes into every record,
// which may be learned after start, and the state directory where what AWS gave is kept. Create
// it with NewOwner, then call Start once and Run. Its methods are safe for concurrent use.
type Owner struct {
	once    sync.Once
	ready   chan struct{} // closed once account is set
	account string

	stateDir string
	logger   *slog.Logger
	// unsure is set by Start, before Run starts, when AWS did not say whose records these are:
	// Run then asks until it does.
	unsure bool
}

// NewOwner returns an Owner not known yet, kept in stateDir (none when empty), logging to logger.
func NewOwner(stateDir string, logger *slog.Logger) *Owner {
	return &Owner{ready: make(chan struct{}), stateDir: stateDir, logger: logger}
}

// set makes account the owner; only the first call counts.
func (o *Owner) set(account string) {
	o.once.Do(func() {
		o.account = account
		close(o.ready)
	})
}

// Get waits until the owner is known or ctx is done. A known owner is returned even when ctx is
// done: at shutdown, with no time left to wait, records are still spooled.
func (o *Owner) Get(ctx context.Context) (string, error) {
	select {
	case <-o.ready:
		return o.account, nil
	default:
	}
	select {
	case <-o.ready:
		return o.account, nil
	case <-ctx.Done():
		return "", fmt.Errorf("record owner unknown: AWS has not answered (--account-id spares the wait): %w", ctx.Err())
	}
}

// Start makes accountID the owner when it is given (--account-id); else it asks lookup, and
// keeps what AWS answers in the state directory. It returns lookup's error when definite says
// it is an answer that waiting will not change. Otherwise AWS could not be reached: the owner an
// earlier run kept is used, if any, and Run asks again.
func (o *Owner) Start(ctx context.Context, accountID string, lookup Lookup, definite func(error) bool) error {
	if accountID != "" {
		o.set(accountID)
		return nil
	}
	account, from, err := lookup(ctx)
	switch {
	case err == nil:
		o.learned(account, from)
	case definite(err):
		return err
	default:
		o.unsure = true
		if cached, ok := o.load(); ok {
			o.logger.Warn("cannot reach AWS: using the account ID learned before",
				slog.String(logKeyOwner, cached), slog.Any(logKeyError, err))
			o.set(cached)
		} else {
			o.logger.Warn("cannot reach AWS: records wait for the account ID (set --account-id to skip the wait)",
				slog.Any(logKeyError, err))
		}
	}
	return nil
}

// Run asks lookup, with backoff, until AWS answers whose records these are, when Start could
// not learn it, and keeps the answer in the state directory; it returns at once when Start
// learned it. It returns nil once the owner is learned or ctx is done.
func (o *Owner) Run(ctx context.Context, lookup Lookup) error {
	if !o.unsure {
		return nil
	}
	var wait backoff.Backoff
	for {
		account, from, err := lookup(ctx)
		if err == nil {
			o.learned(account, from)
			return nil
		}
		o.logger.Warn("cannot learn the record owner from AWS: will retry", slog.Any(logKeyError, err))
		if wait.Wait(ctx) != nil {
			return nil
		}
	}
}

// learned takes account, which AWS gave (from where), as the owner and keeps it in the state
// directory. An owner already taken from the state directory stays until restart: records of
// one run have one owner.
func (o *Owner) learned(account, from string) {
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
func (o *Owner) load() (string, bool) {
	if o.stateDir == "" {
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(o.stateDir, OwnerFile))
	account := strings.TrimSpace(string(b))
	return account, err == nil && IsAccountID(account)
}

// save keeps account in the state directory, written whole under a temporary name and renamed.
func (o *Owner) save(account string) {
	if o.stateDir == "" {
		return
	}
	path := filepath.Join(o.stateDir, OwnerFile)
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
