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
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/kinesyslog/kinesyslog/internal/backoff"
)

// OwnerFile keeps, in an Owner's state directory, the last account ID AWS gave, for a start
// while AWS cannot be reached.
const OwnerFile = "owner"

// startTimeout bounds the calls Start makes to find out whether the stream takes records and
// whose records these are.
const startTimeout = 15 * time.Second

// Attribute keys of the Owner's logs.
const (
	logKeyOwner = "owner"
	logKeyError = "error"
)

// A Stream is the stream of an AWS destination, from which its Owner learns whose records these
// are.
type Stream struct {
	// Describe asks AWS about the stream and returns its ARN when it takes records, or an error
	// that IsDefinite tells from a failure to get an answer.
	Describe func(ctx context.Context) (streamARN string, err error)
	// Service names the service in logs ("Firehose") and ARNService in the stream's ARN
	// ("firehose"); Noun names the stream ("delivery stream").
	Service, ARNService, Noun string
	// STS tells the account of the credentials when the stream's ARN names none, each call
	// bounded by Timeout.
	STS     *sts.Client
	Timeout time.Duration
}

// account returns the account ID in streamARN, or else the account of the credentials (STS),
// and where it comes from.
func (s Stream) account(ctx context.Context, streamARN string) (account, from string, err error) {
	if account, ok := ARNAccount(streamARN, s.ARNService); ok {
		return account, "the " + s.Noun + "'s ARN", nil
	}
	account, err = CallerAccount(ctx, s.STS, s.Timeout)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", s.ARNService, err)
	}
	return account, "STS", nil
}

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

// Start describes the stream, within startTimeout, and returns its error when IsDefinite says
// it is an answer that waiting will not change (the stream is missing, not ACTIVE, access is
// denied); when AWS cannot be reached it logs a warning and goes on. It then makes accountID the
// owner when it is given (--account-id); else it learns the account in the stream's ARN, or
// else the account of the credentials (STS), and keeps it in the state directory; a definite
// refusal is returned. When AWS cannot be reached, the owner an earlier run kept is used, if
// any, and Run asks again.
func (o *Owner) Start(ctx context.Context, accountID string, s Stream) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	streamARN, err := s.Describe(ctx)
	if err != nil {
		if IsDefinite(err) {
			return err
		}
		o.logger.Warn("cannot reach "+s.Service+": starting anyway, records wait in the spool", slog.Any(logKeyError, err))
	}
	if accountID != "" {
		o.set(accountID)
		return nil
	}
	account, from, err := s.account(ctx, streamARN)
	switch {
	case err == nil:
		o.learned(account, from)
	case IsDefinite(err):
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

// Run asks AWS, with backoff, whose records these are, when Start could not learn it, until AWS
// answers, and keeps the answer in the state directory; it returns at once when Start learned
// it. It returns nil once the owner is learned or ctx is done.
func (o *Owner) Run(ctx context.Context, s Stream) error {
	if !o.unsure {
		return nil
	}
	var wait backoff.Backoff
	for {
		// When the service does not describe the stream, STS may still answer.
		streamARN, _ := s.Describe(ctx)
		account, from, err := s.account(ctx, streamARN)
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
