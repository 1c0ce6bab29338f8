// Package relp speaks RELP, rsyslog's Reliable Event Logging Protocol (librelp), over a
// connection a listener accepted (plain TCP or TLS, after any PROXY header): the sockets stage,
// in place of framing for RELP ports. A Server session takes syslog messages and hands them to
// a Sink, and acknowledges each only once the Sink says it is stored, so that a client such as
// rsyslog's omrelp keeps, and sends again after a broken session, everything not yet stored.
// Client is the sending side, for tests and the load generator.
//
// # Frames
//
// A frame is "TXNR SP COMMAND SP DATALEN [SP DATA] LF": TXNR a decimal of at most 9 digits
// (1 to MaxTxnr from clients, which wrap to 1; 0 for serverclose), COMMAND 1 to 32 letters,
// DATALEN a decimal of at most 9 digits and DATA exactly that many bytes. DATALEN 0 is followed
// by the LF at once, without a space, as librelp writes and requires. Numbers are read only in
// their shortest form: a leading zero is malformed (librelp refuses it too), so every frame
// read has one wire form, the one AppendFrame writes. A Reader holds at most its maximum
// DATALEN plus a 16 KiB buffer: a DATALEN above the maximum is ErrTooLarge before any DATA is
// read, or, for a syslog frame of a Reader told to TruncateSyslog, DATA cut to the maximum.
//
// # Session
//
//   - The client's first frame must be open, whose DATA are LF-separated "name=value" offers
//     (librelp 1.11.0 sends relp_version=0, relp_software=librelp,1.11.0,... and
//     commands=syslog). Its commands offer must list syslog; the answer is rsp "200 OK" LF and
//     the server's offers: relp_version=0 (librelp answers 0 whatever version a client
//     offers), relp_software=kinesyslog,VERSION,URL and commands=syslog. Without syslog the
//     answer is "500 required command not supported by client", then serverclose.
//   - Each syslog frame's DATA is one message, handed to Sink.Add (an empty one is answered
//     but not added); DATA longer than Options.MaxMessageBytes is cut to it. The frames of one network read are committed together (Sink.Commit),
//     and a writer goroutine per session waits on each commit's Durable in turn: every frame
//     gets "rsp 200 OK" with its TXNR, in the order read, only once Durable.Wait returned nil.
//     While Commit blocks the session reads nothing: backpressure reaches the client.
//   - A sink error that wraps ErrRefused answers the messages "500 <error>". librelp then drops
//     them (it logs "peer sent error response"), so any other sink error, and a shutdown,
//     answers nothing more: the session ends with serverclose and the client sends the
//     unanswered messages again (duplicates, never gaps).
//   - close is answered "rsp 200 OK", then serverclose, then the connection is closed.
//   - Any other command is answered "500 command not supported"; the session goes on.
//
// # Limits and errors
//
// A client may have Options.Window frames unanswered (default 1024, eight times librelp's
// 128); one more ends the session. Each write has Options.WriteTimeout: a client that does not
// read its answers is closed. Options.IdleTimeout ends a session in which nothing was read or
// answered for that long. Both are moved on lazily, so each fires between its timeout and 9/8 of
// it. A malformed frame (the frame boundary is lost), a DATALEN above
// Options.MaxMessageBytes in a frame other than syslog, a first frame other than open, TXNR 0 from a client, an open
// without syslog and a window overrun end the session with serverclose. Each is counted in
// kinesyslog_relp_protocol_errors_total{reason} and logged at a limited rate (internal/ratelog);
// a session's failure never touches another's.
//
// # Differences from librelp
//
//   - librelp answers a frame before open with "500 command disabled" and keeps the session;
//     this package ends it with serverclose.
//   - librelp ends the session on an unknown command; this package answers rsp 500 and goes on,
//     since the frame boundary is kept.
//   - librelp acknowledges TXNR 0 from a client; this package ends the session.
//   - librelp answers close with an rsp without DATA; this package with "200 OK" (librelp's
//     client takes both, and so does Client).
//   - imrelp acknowledges once a message is in rsyslog's queue; this package once the Sink says
//     it is stored.
//   - A syslog message longer than MaxMessageBytes is cut to it, its end read and dropped, and
//     the Sink told (Sink.Add's truncated), as imrelp's default oversizeMode "truncate" does
//     since rsyslog 8.35.0; the session goes on. Ending it would make the client send the
//     message again forever.
package relp
