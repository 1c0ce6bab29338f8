package config

import (
	"net/netip"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/syslog"
)

// TestMaxMessageKeptWhole checks that MaxMessageBytes leaves room within
// record.MaxWholeMessageBytes for the longest header syslog's rewrite of a headerless message
// adds, so that no message the listeners let through is cut in its record.
func TestMaxMessageKeptWhole(t *testing.T) {
	msg := make([]byte, MaxMessageBytes)
	var h syslog.Header // as Scan gives it for a message without PRI or header
	h.Priority = -1
	source := netip.MustParseAddr("fd12:3456:789a:1:ffff:ffff:ffff:ffff%interface-15ch").String()
	out := syslog.AppendRewritten(nil, msg, h, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), source)
	if len(out) > record.MaxWholeMessageBytes {
		t.Errorf("a rewritten message of MaxMessageBytes (%d) is %d bytes, more than record.MaxWholeMessageBytes (%d)",
			MaxMessageBytes, len(out), record.MaxWholeMessageBytes)
	}
}
