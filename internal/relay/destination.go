package relay

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/firehose"
	"github.com/kinesyslog/kinesyslog/internal/kinesis"
	"github.com/kinesyslog/kinesyslog/internal/s3dir"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// openDestination opens the destination cfg names, one line per kind: a local directory, Kinesis
// data streams or Firehose delivery streams, which must exist and take records. Only a definite
// answer stops the relay: when AWS cannot be reached, the relay starts, spools and keeps trying.
// The records' owner is the destination's (--account-id, else what the destination learns).
// Several delivery streams are one destination, each stream's metrics registered with reg.
func openDestination(ctx context.Context, cfg config.Config, logger *slog.Logger, reg prometheus.Registerer) (upload.Destination, error) {
	switch {
	case cfg.OutputDir != "":
		return opened(s3dir.Open(s3dir.Options{Dir: cfg.OutputDir, AccountID: cfg.AccountID,
			BufferInterval: cfg.FlushAge, Logger: logger}))
	case len(cfg.KinesisStreams) > 0:
		return opened(kinesis.Open(ctx, kinesis.Options{Options: awsconf.Options{Region: cfg.Region, Profile: cfg.Profile, Role: cfg.Role(), Logger: logger},
			Streams: cfg.KinesisStreams, AccountID: cfg.AccountID, StateDir: cfg.SpoolDir}))
	default:
		return opened(firehose.Open(ctx, firehose.Options{Streams: cfg.Streams, Region: cfg.Region, Profile: cfg.Profile, Role: cfg.Role(),
			EndpointURL: cfg.EndpointURL, AccountID: cfg.AccountID, StateDir: cfg.SpoolDir, Logger: logger, Registerer: reg}))
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
