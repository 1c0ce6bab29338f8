package syslog

import "time"

// Stamper gives each syslog message its event time for the event stage (event.Stamper): the
// header's timestamp, or the receive time for an RFC 5424 NILVALUE; a message without a usable
// header is rewritten as the original relay did (AppendRewritten) and stamped with the receive
// time. It is safe for concurrent use.
type Stamper struct {
	Parser Parser
}

// Stamp returns the event time of msg and, when msg must be rewritten, the rewritten message
// appended to dst; otherwise out is nil.
func (s Stamper) Stamp(dst, msg []byte, received time.Time, source string) (ts time.Time, out []byte) {
	h := s.Parser.Scan(msg, received)
	if h.Rewrite {
		return received, AppendRewritten(dst, msg, h, received, source)
	}
	if h.Timestamp.IsZero() {
		return received, nil
	}
	return h.Timestamp, nil
}
