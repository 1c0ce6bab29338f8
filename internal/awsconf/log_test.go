package awsconf

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/smithy-go/logging"
)

// TestSDKLogger checks that the SDK's log lines reach the relay's log at their level, marked as
// the SDK's.
func TestSDKLogger(t *testing.T) {
	tests := []struct {
		name           string
		classification logging.Classification
		want           string // in the log line; "" for none
	}{
		{name: "warning", classification: logging.Warn, want: `level=WARN msg="falling back to IMDSv1: 401" component=aws-sdk`},
		{name: "debug", classification: logging.Debug, want: `level=DEBUG msg="falling back to IMDSv1: 401" component=aws-sdk`},
		{name: "debug filtered", classification: logging.Debug},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			level := slog.LevelDebug
			if tt.want == "" {
				level = slog.LevelInfo
			}
			l := sdkLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))}
			l.Logf(tt.classification, "falling back to IMDSv%d: %d", 1, 401)
			got := strings.TrimSpace(buf.String())
			if tt.want == "" {
				if got != "" {
					t.Errorf("logged %q, want nothing below the handler's level", got)
				}
				return
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("logged %q, want it to contain %q", got, tt.want)
			}
		})
	}
}
