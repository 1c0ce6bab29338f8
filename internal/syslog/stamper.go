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
	return s.stamp(dst, msg, received, source, nil)
}

// ForStream returns the Stamp of one stream's messages (event.StreamStamper): the same results
// as Stamp, with less work when consecutive RFC 3339 stamps share their date and time, which it
// keeps from one call to the next. It is not safe for concurrent use.
func (s Stamper) ForStream() func(dst, msg []byte, received time.Time, source string) (ts time.Time, out []byte) {
	c := new(stampCache)
	return func(dst, msg []byte, received time.Time, source string) (time.Time, []byte) {
		return s.stamp(dst, msg, received, source, c)
	}
}

// stamp is Stamp with c, the stream's stampCache, or nil.
func (s Stamper) stamp(dst, msg []byte, received time.Time, source string, c *stampCache) (ts time.Time, out []byte) {
	h := s.Parser.scan(msg, received, c)
	if h.Rewrite {
		return received, AppendRewritten(dst, msg, h, received, source)
	}
	if h.Timestamp.IsZero() {
		return received, nil
	}
	return h.Timestamp, nil
}
