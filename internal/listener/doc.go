// Package listener is the first stage of the relay: it owns the UDP, TCP and TLS sockets, frames
// what arrives into messages and hands each message, with its sender's address, the listener port
// and the time it arrived, to a Stream.
//
// TCP and TLS streams are framed by internal/framing (RFC6587 octet counting or LF/NUL/CR
// termination, chosen per frame); a UDP datagram is one message (RFC5426 section 3.1), without any
// trailing LF, CR or NUL. Messages longer than the maximum size are truncated and counted.
//
// Each connection commits its messages once per read, and a Commit that blocks (the stages behind
// are full) stops that connection from reading: TCP senders feel backpressure instead of losing
// data. Connections idle longer than the idle timeout are closed; at most MaxConnections are served
// at once. When Run's context is done, listeners stop accepting and open connections get a short
// drain window to read what the kernel already holds before they are closed.
package listener
