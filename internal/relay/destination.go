package relay

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

	"github.com/kinesyslog/kinesyslog/internal/backoff"
	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/firehose"
	"github.com/kinesyslog/kinesyslog/internal/s3dir"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// localOwner is the record owner written to a local directory when no --account-id is given:
// twelve digits like an account ID, and one no AWS account has.
const localOwner = "000000000000"

// ownerFile keeps, in the spool directory, the last account ID STS gave, for a start while STS
// cannot be reached.
const ownerFile = "owner"

// startCheckTimeout bounds the calls made at start to find out whether the destination works.
const startCheckTimeout = 15 * time.Second

// destination is where the uploader sends records, with what its kind needs around it.
type destination struct {
	name  string
	sink  upload.Sink
	owner *owner
	run   func(ctx context.Context)       // background work, until ctx is done
	close func(ctx context.Context) error // after the last upload
}

// openDestination opens the destination cfg names: a local directory, or a Firehose delivery
// stream, which must exist and be ACTIVE. Only a definite answer stops the relay: when AWS cannot
// be reached, the relay starts, spools and keeps trying.
func openDestination(ctx context.Context, cfg config.Config, logger *slog.Logger) (*destination, error) {
	if cfg.OutputDir != "" {
		dir, err := s3dir.Open(s3dir.Options{Dir: cfg.OutputDir, Logger: logger})
		if err != nil {
			return nil, err
		}
		account := cmpOr(cfg.AccountID, localOwner)
		return &destination{
			name:  "directory " + cfg.OutputDir,
			sink:  dir,
			owner: knownOwner(account),
			run:   func(ctx context.Context) { dir.Run(ctx) },
			close: dir.Close,
		}, nil
	}

	client, err := firehose.Open(ctx, firehose.Options{
		Stream:      cfg.Stream,
		Region:      cfg.Region,
		Profile:     cfg.Profile,
		EndpointURL: cfg.EndpointURL,
		Logger:      logger,
	})
	if err != nil {
		return nil, err
	}
	checkCtx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	if err := client.Check(checkCtx); err != nil {
		if firehose.IsDefinite(err) {
			return nil, err
		}
		logger.Warn("cannot reach Firehose: starting anyway, records wait in the spool", "error", err)
	}
	d := &destination{
		name:  "Firehose delivery stream " + cfg.Stream,
		sink:  client,
		run:   func(context.Context) {},
		close: func(context.Context) error { return nil },
	}
	if cfg.AccountID != "" {
		d.owner = knownOwner(cfg.AccountID)
		return d, nil
	}
	account, err := client.Owner(checkCtx)
	switch {
	case err == nil:
		d.owner = knownOwner(account)
		saveOwner(cfg.SpoolDir, account, logger)
	case firehose.IsDefinite(err):
		return nil, err
	default:
		d.owner = &owner{ready: make(chan struct{})}
		if cached, ok := loadOwner(cfg.SpoolDir); ok {
			logger.Warn("cannot reach STS: using the account ID learned before", "owner", cached, "error", err)
			d.owner.set(cached)
		} else {
			logger.Warn("cannot reach STS: records wait for the account ID (set --account-id to skip STS)", "error", err)
		}
		d.run = func(ctx context.Context) { d.owner.learn(ctx, client, cfg.SpoolDir, logger) }
	}
	return d, nil
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// owner is the record owner, which may be learned after start.
type owner struct {
	once    sync.Once
	ready   chan struct{}
	account string
}

func knownOwner(account string) *owner {
	o := &owner{ready: make(chan struct{})}
	o.set(account)
	return o
}

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
		return "", fmt.Errorf("relay: record owner unknown: STS has not answered (--account-id spares the wait): %w", ctx.Err())
	}
}

// learn asks STS for the account ID until it answers, then keeps it in the spool directory.
func (o *owner) learn(ctx context.Context, client *firehose.Client, spoolDir string, logger *slog.Logger) {
	var wait backoff.Backoff
	for {
		account, err := client.Owner(ctx)
		if err == nil {
			saveOwner(spoolDir, account, logger)
			select {
			case <-o.ready:
				if o.account != account {
					logger.Warn("STS answers another account than the one learned before; records keep the old one until restart",
						"owner", o.account, "sts_account", account)
				}
			default:
				logger.Info("learned the record owner from STS", "owner", account)
				o.set(account)
			}
			return
		}
		logger.Warn("cannot reach STS: will retry", "error", err)
		if wait.Wait(ctx) != nil {
			return
		}
	}
}

func loadOwner(spoolDir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(spoolDir, ownerFile))
	account := strings.TrimSpace(string(b))
	return account, err == nil && account != ""
}

func saveOwner(spoolDir, account string, logger *slog.Logger) {
	path := filepath.Join(spoolDir, ownerFile)
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, []byte(account+"\n"), 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		logger.Warn("cannot keep the record owner in the spool directory", "error", errors.Join(err, os.Remove(tmp)))
	}
}
