// Package listener is the first stage of the relay: it owns the UDP, TCP and TLS sockets, frames
// what arrives into messages and hands each message, with its sender's address, the listener port
// and the time it arrived, to a Stream.
//
// TCP and TLS streams are framed by internal/framing (RFC6587 octet counting or LF/NUL/CR
// termination, chosen per frame; RFC5425 octet counting over TLS is the same framing); a UDP
// datagram is one message (RFC5426 section 3.1), without any trailing LF, CR or NUL. Messages
// longer than the maximum size are truncated and counted. Each UDP reader has a socket of its own
// on Linux (SO_REUSEPORT: the kernel spreads senders over the sockets, each sender staying on
// one) and reads up to 32 datagrams per system call through internal/mmsg, committing them once
// per sender; datagrams are added and committed with TryAdd and TryCommit, which never block,
// since their senders cannot wait.
//
// TLS ports (RFC5425) accept TLS 1.2 and 1.3 with Go's default cipher suites. Their certificate
// comes from internal/certs: it is reloaded when its files change or on a signal, without
// touching open connections, and a self-signed one is made at start when no files are given.
// With a client CA bundle, client certificates are verified and matched against the allowed
// patterns during the handshake, so a refused client is closed before any of its data is read.
//
// RELP ports, plain or TLS, are stream ports whose connections, after any PROXY header and
// handshake, are RELP sessions (internal/relp) rather than framed messages: each message is a
// syslog message handed to the sender's Stream as from the other ports (a longer one truncated
// and counted), and is acknowledged only once the Receipt of its Commit is durable. A Receipt
// that fails ends the session with serverclose and no acknowledgement, so that the client keeps
// its messages and sends them again; at shutdown a session reads and acknowledges until the end
// of the drain, then sends serverclose. The RELP reader holds up to the maximum message size per
// connection outside the buffers' cap.
//
// Ports configured for the PROXY protocol (v1 and v2, read with github.com/pires/go-proxyproto)
// must open every connection with a header, before the TLS handshake on a TLS port; the header's
// source address becomes the sender's. A connection without a valid header is refused; a LOCAL
// header (a load balancer's health check) is closed quietly. Other ports never read a header: to
// them it is message data, so that no client can claim another's address.
//
// The PROXY header and the handshake are read in the connection's own goroutine, each within a
// timeout no longer than the idle timeout; every refusal is counted by reason and logged at a
// limited rate. Each connection commits the messages it has read before every read, so that no
// complete message waits behind an unfinished frame, and a Commit that blocks (the stages behind
// are full) stops that connection from reading: TCP senders feel backpressure instead of losing
// data. Every reader, UDP's too, also waits before each read until the stages behind have room
// for what it reads (Streams.WaitRoom: the intake log near its cap), so that nothing it has read
// waits in memory alone; every such wait, and Add's and Commit's, ends with the drain at
// shutdown. Commit returns a Receipt that tells when what was handed on is durable, for protocols
// that acknowledge messages; TCP and TLS acknowledge nothing and ignore it. A partial message that outgrows the framing's first 4 KiB buffer is reserved under the
// buffers' memory cap (Stream.Reserve), waiting at most the idle timeout for room, so that memory
// stays bounded however many connections hold one. A frame cut off by EOF, the idle timeout or
// shutdown is delivered as far as it arrived, counted as incomplete and logged at a limited rate.
// The idle deadline moves on with every read that returns data: connections that sent nothing
// for longer than the idle timeout are closed;
// at most MaxConnections are served at once. When Run's context is done, listeners stop
// accepting and open connections get a short drain window to read what the kernel already holds
// before they are closed.
package listener
