// Package mmsg moves UDP datagrams a batch per system call: recvmmsg(2) and sendmmsg(2) on
// Linux, one datagram per call elsewhere. It sits under the listener's UDP readers and the load
// generator's UDP senders. On Linux the Writer also hands each run of datagrams of one size to
// the kernel as one UDP_SEGMENT message, which the kernel splits back into those datagrams.
//
// It is hand-written rather than golang.org/x/net's ipv4/ipv6 ReadBatch because the relay's
// UDP readers need two things that package does not give: no allocation per datagram (x/net
// returns each sender as a new *net.UDPAddr), and a receive call the Go runtime does not treat
// as a possibly blocking system call. recvmmsg is made with MSG_DONTWAIT, so it returns at once
// with what the socket holds; made as a raw system call, it never has its P handed off by the
// runtime's monitor, which under load did that to batches of datagrams taking more than 20 µs
// to copy, waking threads and keeping the monitor itself busy at its shortest interval.
//
// A Reader or Writer is used by one goroutine at a time.
package mmsg
