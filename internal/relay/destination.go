package relay

import (
	"context"
	"log/slog"

	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/firehose"
	"github.com/kinesyslog/kinesyslog/internal/s3dir"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// openDestination opens the destination cfg names, one line per kind: a local directory, or a
// Firehose delivery stream, which must exist and be ACTIVE. Only a definite answer stops the
// relay: when AWS cannot be reached, the relay starts, spools and keeps trying. The records'
// owner is the destination's (--account-id, else what the destination learns).
func openDestination(ctx context.Context, cfg config.Config, logger *slog.Logger) (upload.Destination, error) {
	switch {
	case cfg.OutputDir != "":
		return opened(s3dir.Open(s3dir.Options{Dir: cfg.OutputDir, AccountID: cfg.AccountID,
			BufferInterval: cfg.FlushAge, Logger: logger}))
	default:
		return opened(firehose.Open(ctx, firehose.Options{Stream: cfg.Stream, Region: cfg.Region, Profile: cfg.Profile,
			EndpointURL: cfg.EndpointURL, AccountID: cfg.AccountID, StateDir: cfg.SpoolDir, Logger: logger}))
	}
}

// opened returns d as an upload.Destination, or a nil one with err: a nil *T in an interface is
// not a nil interface.
func opened[D upload.Destination](d D, err error) (upload.Destination, error) {
	if err != nil {
		return nil, err
	}
	return d, nil
}
