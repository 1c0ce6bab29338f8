package syslog

import (
	"strconv"
	"time"
)

const (
	// defaultPriority is user.notice, the PRI the original relay gives a rewritten message that
	// had none (and what RFC 3164 section 4.3.3 has a relay add).
	defaultPriority = 13
	// rewriteStampLayout is RFC 3339 with microseconds, as the original wrote the receive time;
	// formatted in UTC, its zone is "Z".
	rewriteStampLayout = "2006-01-02T15:04:05.000000Z07:00"
	// nilValue stands for an unknown HOSTNAME (RFC 5424 section 6.2.4).
	nilValue = "-"
)

// AppendRewritten appends msg rewritten as `<PRI>1 <received, RFC3339 with microseconds, UTC>
// <source> <content>`, PRI 13 when msg had none — the original's rule for messages whose header
// does not parse. h must be what [Parser.Scan] returned for msg; content is every byte of msg
// after its PRI, or all of msg when it had no valid PRI. source is the sender's address; empty
// writes the NILVALUE "-". AppendRewritten allocates only when dst lacks capacity.
func AppendRewritten(dst, msg []byte, h Header, received time.Time, source string) []byte {
	pri := h.Priority
	if pri < 0 || pri > maxPriority {
		pri = defaultPriority
	}
	content := h.content
	if content < 0 || content > len(msg) {
		content = 0
	}
	if source == "" {
		source = nilValue
	}
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(pri), 10)
	dst = append(dst, ">1 "...)
	dst = received.UTC().AppendFormat(dst, rewriteStampLayout)
	dst = append(dst, ' ')
	dst = append(dst, source...)
	dst = append(dst, ' ')
	return append(dst, msg[content:]...)
}
