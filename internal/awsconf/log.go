package awsconf

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/smithy-go/logging"
)

// sdkLogger sends the AWS SDK's own log lines (a credential source it fell back from, say) to
// the relay's log instead of standard error, at the level the SDK gives them.
type sdkLogger struct{ log *slog.Logger }

var _ logging.Logger = sdkLogger{}

// Logf implements logging.Logger.
func (l sdkLogger) Logf(classification logging.Classification, format string, v ...any) {
	level := slog.LevelInfo
	switch classification {
	case logging.Warn:
		level = slog.LevelWarn
	case logging.Debug:
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if l.log.Enabled(ctx, level) {
		l.log.Log(ctx, level, fmt.Sprintf(format, v...), "component", "aws-sdk")
	}
}
