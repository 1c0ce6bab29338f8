// Package framing splits a TCP or TLS byte stream into syslog messages: the first stage after
// a listener accepts a connection, before the header scan. It takes an io.Reader and gives one
// message at a time, without its framing, as a slice into the Scanner's own buffer.
//
// # Framing
//
// Each frame chooses its framing by its first byte, so both may be mixed in one stream:
//
//   - A digit starts octet counting (RFC 6587 section 3.4.1, RFC 5425 section 4.3):
//     "MSG-LEN SP SYSLOG-MSG", where MSG-LEN is a decimal without a leading zero and at most
//     1 GiB. The message is exactly MSG-LEN octets, whatever they hold.
//   - Any other byte starts non-transparent framing (RFC 6587 section 3.4.2): the message ends
//     at the first LF, NUL or CR. CRLF counts as one terminator, because empty frames between
//     terminators are skipped and never returned. GELF over TCP (NUL-delimited JSON) is read
//     the same way.
//
// Fallback: a frame that starts with a digit but whose prefix is not a valid MSG-LEN (a
// non-digit before the space, a leading zero, more than 1 GiB) is read with non-transparent
// framing instead, as the Python original does. This keeps RFC 3164 messages from devices that
// omit the PRI ("2024-01-01 12:00:00 host ..." or "123abc ...") intact.
//
// # Limits
//
// A message longer than the Scanner's maximum is returned cut to that maximum with Truncated
// true, and the rest of its frame (up to its terminator, or the rest of its counted octets) is
// read and discarded without being buffered, so memory stays bounded whatever the frame length
// and the rest is never read as new messages. An octet count above the maximum is therefore
// legal. A Scanner's buffer starts at 4 KiB and grows, only while the stream fills it, to
// maxMessageBytes plus 64 KiB: an idle connection costs little, a busy one reads in large
// chunks. Once the buffer has grown, Scan allocates nothing. It shrinks back to 4 KiB when it is
// empty between frames and the last read would have fit that; SetMemory accounts for what it
// holds beyond 4 KiB, so that a caller can bound the memory of many connections together.
//
// # GELF
//
// NewNULScanner frames GELF over TCP: messages end at NUL only, since pretty-printed JSON holds
// LF and CR, and no octet counting applies.
//
// # End of stream
//
// At EOF a final unterminated message is returned: senders often omit the last LF. An
// octet-counted frame cut short by EOF returns the octets that arrived, and Err then reports
// io.ErrUnexpectedEOF (wrapped); Incomplete reports such a message, and a non-transparent frame
// ended by a read error. Any other read error is reported by Err after the bytes read
// before it have been returned, so nothing the peer sent is lost.
package framing
