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
	return (&streamStamper{Stamper: s}).Stamp(dst, msg, received, source)
}

// ForStream returns the Stamper of one stream's messages (event.StreamStamper).
func (s Stamper) ForStream() interface {
	Stamp(dst, msg []byte, received time.Time, source string) (ts time.Time, out []byte)
} {
	return &streamStamper{Stamper: s}
}

// streamStamper is the Stamper of one stream's messages: it stamps as its Stamper does, with less
// work when consecutive RFC 3339 stamps share their date and time, which it keeps from one
// message to the next. It is not safe for concurrent use.
type streamStamper struct {
	Stamper
	cache stampCache
}

// Stamp is Stamper.Stamp.
func (s *streamStamper) Stamp(dst, msg []byte, received time.Time, source string) (ts time.Time, out []byte) {
	h := s.Parser.scan(msg, received, &s.cache)
	if h.Rewrite {
		return received, AppendRewritten(dst, msg, h, received, source)
	}
	if h.Timestamp.IsZero() {
		return received, nil
	}
	return h.Timestamp, nil
}
