package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/mmsg"
)

const (
	// maxDatagramBytes is the largest UDP payload (RFC 768 length field, less the headers).
	maxDatagramBytes = 65_535
	// udpBatch is how many datagrams one read takes from a socket (recvmmsg(2) on Linux): one
	// system call and one clock reading per batch rather than per datagram, which at hundreds of
	// thousands of datagrams a second is the difference between keeping up and dropping.
	udpBatch = 32
	// udpReadBufferBytes is the receive buffer asked of the kernel for each UDP socket, to ride out
	// bursts while the readers are busy; the kernel caps it at net.core.rmem_max.
	udpReadBufferBytes = 8 << 20
	// maxRecentSources bounds each generation of the streams a UDP reader keeps at hand between
	// datagrams (recentStreams).
	maxRecentSources = 1024
)

// udpPort is the sockets of one UDP port. Where the system has SO_REUSEPORT there is one socket
// per reader, so that the kernel spreads senders over them and no lock of one socket serializes
// the readers; elsewhere one socket is shared by every reader.
type udpPort struct {
	port  uint16
	conns []*net.UDPConn
	gelf  bool // its datagrams are assembled by Options.Datagrams
}

// listenUDP binds the sockets of UDP port port on address, readers of them where the system
// allows several. A port that any other socket holds is refused, SO_REUSEPORT or not.
func listenUDP(address string, port, readers int) (*udpPort, error) {
	hostPort := net.JoinHostPort(address, strconv.Itoa(port))
	sockets := 1
	lc := net.ListenConfig{}
	if reusePortSupported && readers > 1 {
		sockets = readers
		lc.Control = reusePort
		if err := probeUDPPort(hostPort); err != nil {
			return nil, fmt.Errorf("listen on UDP port %d: %w", port, err)
		}
	}
	u := &udpPort{}
	for range sockets {
		pc, err := lc.ListenPacket(context.Background(), "udp", hostPort)
		if err != nil {
			u.close()
			return nil, fmt.Errorf("listen on UDP port %d: %w", port, err)
		}
		conn := pc.(*net.UDPConn)
		// Not reaching the size asked for is not an error: the kernel caps it.
		_ = conn.SetReadBuffer(udpReadBufferBytes)
		u.conns = append(u.conns, conn)
	}
	u.port = uint16(port)
	return u, nil
}

// probeUDPPort binds hostPort without SO_REUSEPORT and lets it go: the bind fails if any socket
// holds the port, even one that set SO_REUSEPORT and would let the readers' sockets join it (a
// second relay, another program of the same user), which would have the kernel split the
// datagrams between them in silence.
//
// This is race-free enough: between the probe's close and the first reader's bind, a few
// microseconds, only a socket with SO_REUSEPORT of the same user can slip in, which is what a
// program of that user could do at any time later as well (the kernel's own limit on
// SO_REUSEPORT); a second relay started at any other moment fails at its own probe, since the
// readers' sockets hold the port. Only two relays probing within those same microseconds could
// both start; checking /proc/net/udp for foreign sockets after binding would close that too, at
// the cost of parsing the kernel's table, for a case no deployment produces on purpose.
func probeUDPPort(hostPort string) error {
	pc, err := net.ListenPacket("udp", hostPort)
	if err != nil {
		return fmt.Errorf("port held by another socket: %w", err)
	}
	return pc.Close()
}

func (u *udpPort) close() {
	for _, c := range u.conns {
		c.Close()
	}
}

// readUDP reads the datagrams of one socket of u until it is closed, its read deadline passes or
// drained ends while it waits for room. Each batch of datagrams is stamped with one clock reading
// and committed once per sender. Before each read it waits for room (Streams.WaitRoom), so that no
// datagram it reads waits in memory alone: meanwhile datagrams queue in the socket's buffer, and
// what the kernel drops then is counted with its other drops.
func (l *Listener) readUDP(drained context.Context, pc *net.UDPConn, u *udpPort, streams Streams) {
	port := u.port
	var assembler Assembler // nil: a datagram is a message
	if u.gelf {
		assembler = l.opts.Datagrams
	}
	r, err := mmsg.NewReader(pc, udpBatch, maxDatagramBytes)
	if err != nil {
		l.log.Error("UDP socket cannot be read", "port", port, "error", err)
		return
	}
	// What Datagrams assembled, reused. It starts at the longest message so that assembling never
	// grows it: a datagram refused after decompression (a bomb of NULs) would take the grown
	// buffer with it, and the next would grow another.
	var message []byte
	if assembler != nil {
		message = make([]byte, 0, l.opts.MaxMessageBytes)
	}
	recent := newRecentStreams()
	var added []Stream // the streams of the batch being read, to commit
	for {
		if streams.WaitRoom(drained) != nil {
			return // shutting down, or the stages behind take nothing more
		}
		n, err := r.Read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			// Out of memory for socket buffers and the like: wait a little instead of spinning.
			l.warn.Warn("UDP read failed", "port", port, "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		received := time.Now()
		messages, bytes := 0, 0
		for i := range n {
			msg, from := r.Datagram(i)
			truncated := false
			if assembler != nil {
				assembled, err := assembler.Add(from, msg, received, message[:0])
				if assembled == nil {
					if err != nil {
						l.m.refusedDatagram()
						l.warn.Warn("datagram refused", "source", from.Addr(), "port", port, "error", err)
					}
					continue
				}
				message, msg, truncated = assembled, assembled, err != nil
			}
			msg = trimTrailer(msg)
			if len(msg) == 0 {
				continue
			}
			messages++
			bytes += len(msg)
			if len(msg) > l.opts.MaxMessageBytes {
				msg, truncated = msg[:l.opts.MaxMessageBytes], true
			}
			if truncated {
				l.m.truncated()
				l.warn.Warn("message truncated to the maximum size", "source", from.Addr(), "port", port,
					"max_bytes", l.opts.MaxMessageBytes)
			}
			stream := recent.stream(from.Addr().Unmap(), port, streams)
			stream.TryAdd(msg, received)
			if !slices.Contains(added, stream) {
				added = append(added, stream)
			}
		}
		l.m.received(messages, bytes)
		for _, stream := range added {
			if !stream.TryCommit() {
				l.warn.Warn("datagrams dropped: the relay is full or shutting down", "port", port)
			}
		}
		clear(added)
		added = added[:0]
	}
}

// recentStreams keeps the streams of a reader's recent senders, so that a flood from one source
// does not look up its key per datagram. It holds two generations of at most maxRecentSources
// senders: a sender seen in the current generation or the one before keeps its stream, and when
// the current generation is full it becomes the one before. So the senders that keep sending keep
// their streams however many others come and go (spoofed sources included), in bounded memory.
type recentStreams struct {
	current, previous map[netip.Addr]Stream
}

func newRecentStreams() *recentStreams {
	return &recentStreams{
		current:  make(map[netip.Addr]Stream, maxRecentSources),
		previous: make(map[netip.Addr]Stream, maxRecentSources),
	}
}

// stream returns the stream of source, from streams if the sender is not recent.
func (r *recentStreams) stream(source netip.Addr, port uint16, streams Streams) Stream {
	if s, ok := r.current[source]; ok {
		return s
	}
	s, ok := r.previous[source]
	if !ok {
		s = streams.Stream(source, port)
	}
	if len(r.current) >= maxRecentSources {
		r.previous, r.current = r.current, r.previous
		clear(r.current)
	}
	r.current[source] = s
	return s
}
