package relay

import (
	"log/slog"

	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/listener"
)

// startupAttrs returns the attributes of the one "relay started" line, which tells an operator
// what this relay does: its bound listeners, its destination, spool and intake log, and its
// limits. Durations are strings, so that the JSON log reads "10m0s" rather than nanoseconds.
func startupAttrs(cfg config.Config, sockets []listener.Socket, destination, spoolDir string) []any {
	listeners := make([]string, len(sockets))
	for i, s := range sockets {
		listeners[i] = s.String()
	}
	intakeLog := "off"
	if cfg.IntakeLog {
		intakeLog = cfg.IntakeDir
	}
	return []any{
		"listeners", listeners,
		"destination", destination,
		"spool", spoolDir,
		"intake_log", intakeLog,
		slog.Group("limits",
			"max_message_bytes", cfg.MaxMessageBytes,
			"buffer_max_bytes", cfg.BufferMaxBytes(),
			"spool_max_bytes", cfg.SpoolRecordBytes(),
			"intake_max_bytes", cfg.IntakeMaxBytes(),
			"max_connections", cfg.MaxConnections,
			"idle_timeout", cfg.IdleTimeout.String(),
			"flush_age", cfg.FlushAge.String(),
			"stall_timeout", cfg.StallTimeout.String(),
			"upload_timeout", cfg.UploadTimeout.String(),
			"shutdown_timeout", cfg.ShutdownTimeout.String(),
		),
	}
}
