// Package syslog reads the header of a framed syslog message: its PRI and its timestamp.
//
// It sits between framing and batching. The relay hands [Parser.Scan] one message as the framer
// delivered it, together with the time it was received, and gets back a [Header]: the priority,
// the instant the sender stamped the message with, and whether the message must be rewritten
// before it is stored. Scan never allocates and never modifies the message; the relay keeps the
// sender's bytes as they are unless [Header.Rewrite] is set, in which case [AppendRewritten]
// produces the replacement.
//
// # Accepted headers
//
// An optional PRI (RFC 5424 section 6.2.1, RFC 3164 section 4.1.1): "<" 1 to 3 digits ">" with a
// value of 0 to 191. Leading zeros are accepted, as the original Python relay accepted them. A
// message that begins with "<" but has no valid PRI ("<>", "<192>", "<0001>") has no header at
// all. Spaces after the PRI are skipped, as some BSD senders insert them.
//
// RFC 5424 (section 6.2.3, with the RFC 3339 profile): "1 " then
// YYYY-MM-DDThh:mm:ss[.f]{Z|±hh:mm}. 1 to 9 fractional digits are read (RFC 5424 allows 6;
// some senders write nanoseconds). "T" and "Z" may be lower case (RFC 3339 section 5.6). A stamp
// without an offset is read in [Parser.Location]. The stamp must be followed by a space or the end
// of the message. The NILVALUE "-" means the sender had no clock.
//
// RFC 3339 directly after the PRI or at the start of a message without PRI, as rsyslog's
// RSYSLOG_ForwardFormat and RSYSLOG_FileFormat, syslog-ng's ts_format(iso) and Cisco ASA's
// "logging timestamp rfc5424" write it.
//
// RFC 3164 section 4.1.2 "Mmm dd hh:mm:ss" and its real-world variants: month names in any case;
// the day space-padded ("Feb  1"), zero-padded ("Feb 01") or bare ("Feb 1"); a year before the
// month ("2026 Feb 21 21:07:50", Cisco NX-OS), before the time ("Feb 21 2026 21:07:50", Cisco ASA)
// or after it ("Feb 21 21:07:50 2026", accepted for 20xx only, as the original did); fractional
// seconds ("21:07:50.483", Cisco IOS "msec"). The stamp must be followed by a space, a colon or
// the end of the message.
//
// Cisco IOS additions: up to three "token:" prefixes between the PRI and the stamp (the message
// counter, "service sequence-numbers" and "logging origin-id hostname", e.g.
// "<189>45: 000012: router1: "), an empty counter ("<189>: "), and "*" or "." before the stamp
// (clock not synchronised). A zone name after the stamp ("18:48:50.483 UTC:") makes the stamp UTC
// when it is UTC, GMT or UT. Other abbreviations are not interpreted: they are ambiguous across
// regions (CST, IST, BST each name several zones) and Cisco lets the operator pick any name, so
// such stamps are read in [Parser.Location] like zone-less ones; set it to the devices' zone.
// The prefixes are only looked for after a PRI, so that ordinary text such as "error: Feb 1 ..."
// in a message without PRI is not mistaken for a header.
//
// # Year inference
//
// A year-less stamp gets the latest year that puts it at most two days (48 hours) after the
// receive time, in [Parser.Location]: usually the year received has there, the previous year when
// that would put the stamp more than two days in the future (the original relay's rule: "Dec 31
// 23:59:59" received at 00:00:05 on January 1st is last year's), and the next year for a January
// stamp received within two days of the new year (a sender whose clock is a few seconds ahead
// at midnight, which the original dated a year back). Feb 29 takes the place of March 1st in a
// common year for this comparison; a Feb 29 that ends up in a common year is not a usable stamp.
// The original appended the server's current year and compared with its local clock using
// timedelta.days > 2, which in effect allowed up to three days; this package follows the stated
// two-day rule and uses the receive time, not the clock.
//
// # Messages without a usable timestamp
//
// A message with no usable timestamp (none recognised, or one with an impossible value such as
// month 13, day 32 or hour 25) is rewritten, as the original relay does, to
//
//	<PRI>1 <received, RFC 3339 UTC with microseconds> <source> <content>
//
// with PRI 13 (user.notice) when the message had no valid PRI. The content is every byte after the
// PRI, or the whole message when it had none. The original dropped the bytes it took for a
// timestamp and the word after them (which it took for a hostname) even when it could not parse
// them; this package keeps them, so nothing the sender wrote is lost. The original also wrote the
// receive time without a zone offset, which is not valid RFC 5424; this package appends "Z".
//
// An RFC 5424 message whose TIMESTAMP is the NILVALUE is a valid message that says its sender has
// no clock (RFC 5424 section 6.2.3). It is stamped with the receive time and kept as it is. The
// original rewrote it only because its timestamp parser raised on "-", and the rewrite replaced
// the sender's HOSTNAME with the source address; keeping the message loses nothing.
//
// A message without PRI that starts with a usable timestamp (a line from a file, forwarded) keeps
// its bytes and its timestamp; it is not given a PRI.
//
// # Deviations from the original's header recognition
//
// The original recognised only "<PRI>1 <RFC 3339>" and "<PRI>Mmm dd hh:mm:ss[ 20yy]", and dropped
// fractional seconds after a BSD stamp. Everything else listed above (RFC 3339 without the "1 ",
// Cisco prefixes, a year before the month or time, a missing PRI) was rewritten with the receive
// time; this package reads the sender's stamp instead. It accepted any 1 to 3 digit PRI,
// including 192 to 999, which this package treats as no PRI (the original bytes are then kept as
// content).
package syslog
