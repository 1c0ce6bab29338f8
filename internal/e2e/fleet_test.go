package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// The fleet: relays behind HAProxy in TCP mode, standing in for an AWS Network Load Balancer
// with PROXY protocol v2 (DEPLOYMENT.md).
const (
	fleetSenders = 4
	// fleetPayload is the bytes of random base64 in each message: frames of about 290 bytes.
	fleetPayload = 200
	// fleetBatch is how many messages a sender writes at once, and fleetPace the pause after
	// each write: at most fleetBatch/fleetPace, 3,200 messages/s, per sender.
	fleetBatch = 16
	fleetPace  = 5 * time.Millisecond
	// fleetRebind is how many messages a sender writes on one connection before it closes it and
	// connects again, as rsyslog's omfwd does with RebindInterval, so that the balancer spreads
	// the load anew and a restarted relay gets its share.
	fleetRebind = 2000
	// fleetSyncInterval is the relays' --intake-sync-interval.
	fleetSyncInterval = 10 * time.Millisecond
	// fleetShare is how many messages each relay takes in each phase of TestFleet.
	fleetShare = 6_000
	// haproxyBufSize is HAProxy's tune.bufsize: what it holds of each direction of a connection.
	haproxyBufSize = 16384
)

// fleetListen is one port of the balancer: its frontend and the relays' port behind it.
type fleetListen struct {
	name     string
	frontend int
	relays   []int // the port on each relay
}

// fleetHAProxyConfig balances each frontend port round robin over the relays' ports in TCP mode
// (TLS passes through) with send-proxy-v2, checks each relay's /readyz on its metrics port, and
// sends a connection refused by a relay to another (retries with redispatch), as an NLB target
// group does.
func fleetHAProxyConfig(listens []fleetListen, metrics []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    nbthread 1
    tune.bufsize %d
defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
`, haproxyBufSize)
	for _, l := range listens {
		fmt.Fprintf(&b, "listen %s\n    bind 127.0.0.1:%d\n    balance roundrobin\n    option httpchk GET /readyz\n", l.name, l.frontend)
		for i, port := range l.relays {
			// A check on another port carries no PROXY header.
			fmt.Fprintf(&b, "    server relay%d 127.0.0.1:%d send-proxy-v2 check port %d inter 100ms fall 2 rise 2\n", i, port, metrics[i])
		}
	}
	return b.String()
}

// fleetConn is what a fleetSender wrote on one connection.
type fleetConn struct {
	first, next    int // the messages [first, next) the kernel took whole
	opened, closed time.Time
	broken         bool // ended by an error, not by the relay's close after ours
}

// A fleetSender writes numbered messages octet-counted from a loopback address of its own
// through the balancer, over TCP or TLS, reconnecting every fleetRebind messages and, after a
// failed write, from the first message the kernel did not take whole, as rsyslog does.
type fleetSender struct {
	id    string
	ip    net.IP
	tls   *tls.Config // nil for plain TCP
	stop  chan struct{}
	done  chan struct{}
	rnd   *rand.Rand
	raw   []byte
	mu    sync.Mutex
	conns []fleetConn
	err   error // why it stopped early; read after done
}

func startFleetSender(t *testing.T, id string, ip net.IP, frontend string, conf *tls.Config) *fleetSender {
	s := &fleetSender{id: id, ip: ip, tls: conf, stop: make(chan struct{}), done: make(chan struct{}),
		rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), raw: make([]byte, fleetPayload*3/4+3)}
	t.Cleanup(s.halt)
	go s.run(frontend)
	return s
}

func (s *fleetSender) run(frontend string) {
	defer close(s.done)
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: s.ip}, Timeout: 5 * time.Second}
	for n := 0; !s.stopped(); {
		conn, err := dialer.Dial("tcp", frontend)
		if err != nil {
			s.err = err
			return
		}
		if s.tls != nil {
			conn = tls.Client(conn, s.tls)
		}
		c := s.session(conn, n)
		conn.Close()
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		n = c.next
		if c.broken {
			// rsyslog's action.resumeInterval, shortened.
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// session writes from message n until fleetRebind messages are written or the sender is
// stopped, then half-closes (TLS: close_notify) and waits for the relay's close, which comes once
// the relay has read everything; or until a write fails.
func (s *fleetSender) session(conn net.Conn, n int) fleetConn {
	c := fleetConn{first: n, next: n, opened: time.Now()}
	var buf bytes.Buffer
	var ends []int
	for c.next-c.first < fleetRebind && !s.stopped() {
		buf.Reset()
		ends = ends[:0]
		for i := c.next; len(ends) < fleetBatch && i-c.first < fleetRebind; i++ {
			msg := message(s.id, i, s.rnd, s.raw, fleetPayload)
			fmt.Fprintf(&buf, "%d %s", len(msg), msg)
			ends = append(ends, buf.Len())
		}
		conn.SetWriteDeadline(time.Now().Add(faultDeadline))
		w, err := conn.Write(buf.Bytes())
		for _, end := range ends {
			if end <= w {
				c.next++
			}
		}
		if err != nil {
			c.broken, c.closed = true, time.Now()
			return c
		}
		time.Sleep(fleetPace)
	}
	conn.(interface{ CloseWrite() error }).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(faultDeadline))
	_, err := io.Copy(io.Discard, conn)
	c.broken, c.closed = err != nil, time.Now()
	return c
}

func (s *fleetSender) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *fleetSender) halt() {
	if !s.stopped() {
		close(s.stop)
	}
	<-s.done
}

// fleetFrameBytes is the length of sender id's message n as framed on the wire.
func fleetFrameBytes(id string, n int) int {
	msg := len(fmt.Sprintf("<134>1 %s host app - - - %s ", senderStamp, token(id, n))) + fleetPayload
	return len(strconv.Itoa(msg)) + 1 + msg
}

// tcpQueues returns the bytes queued in the kernel, sent and not acknowledged or received and
// not read, on the TCP connections with an end on one of ports, and how many established ones
// have one of remotes as their remote end.
func tcpQueues(t *testing.T, ports, remotes []int) (queued, toRemote int) {
	t.Helper()
	want, to := map[int]bool{}, map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	for _, p := range remotes {
		want[p], to[p] = true, true
	}
	for _, s := range tcpSockets(t) {
		if s.state == "0A" || !want[s.local] && !want[s.remote] { // LISTEN: its queue counts connections
			continue
		}
		queued += int(s.sendQ + s.recvQ)
		if to[s.remote] && s.state == "01" { // ESTABLISHED
			toRemote++
		}
	}
	return queued, toRemote
}

// maxSyncSeconds is the upper bound of the highest kinesyslog_intake_sync_seconds bucket that
// holds an observation: no sync of the intake log took longer.
func maxSyncSeconds(t *testing.T, series map[string]float64) float64 {
	t.Helper()
	count := series["kinesyslog_intake_sync_seconds_count"]
	best := math.Inf(1)
	for name, v := range series {
		le, ok := strings.CutPrefix(name, `kinesyslog_intake_sync_seconds_bucket{le="`)
		if !ok || v < count {
			continue
		}
		if b, err := strconv.ParseFloat(strings.TrimSuffix(le, `"}`), 64); err == nil && b < best {
			best = b
		}
	}
	if math.IsInf(best, 1) {
		t.Fatalf("no bucket of kinesyslog_intake_sync_seconds holds its %v syncs", count)
	}
	return best
}

// TestFleet runs two relays, each with its own spool and intake log, behind HAProxy
// (send-proxy-v2, round robin, health checks on /readyz) and four senders from 127.0.0.2 to
// 127.0.0.5 sharing the load through it, two over TCP and two over TLS passed through. One relay is killed with SIGKILL mid-load and started again on the
// same spool, log and port; the senders reconnect and go on. Every message is delivered but, on
// connections open at the kill, a tail no longer than what the kernel's socket buffers, HAProxy's
// buffers and the killed relay's last sync held; each relay's records carry the sender's address
// as logStream, not HAProxy's.
func TestFleet(t *testing.T) {
	haproxy := Program(t, "haproxy")
	srv := firehosetest.Start(t, firehosetest.Config{})
	pki := NewPKI(t, "server CA")
	cert := pki.Issue(t, CertOptions{CommonName: "localhost", Hosts: []string{"localhost"}})
	ports := testenv.FreePorts(t, 8)
	listens := []fleetListen{
		{name: "syslog_tcp", frontend: ports[0], relays: ports[2:4]},
		{name: "syslog_tls", frontend: ports[1], relays: ports[4:6]},
	}
	tcpPorts, tlsPorts, metricsPorts := listens[0].relays, listens[1].relays, ports[6:8]
	start := func(i int, spoolDir string) *faultRelay {
		return startLogRelay(t, srv, faultOptions{tcpPort: tcpPorts[i], spoolDir: spoolDir,
			metrics: net.JoinHostPort("127.0.0.1", Port(metricsPorts[i])),
			args: []string{"--tls-port", Port(tlsPorts[i]), "--cert", cert.CertFile, "--key", cert.KeyFile,
				"--proxy-protocol", Port(tcpPorts[i]), "--proxy-protocol", Port(tlsPorts[i]),
				"--intake-sync-interval", fleetSyncInterval.String()}})
	}
	relays := []*faultRelay{start(0, ""), start(1, "")}
	dir := t.TempDir()
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(fleetHAProxyConfig(listens, metricsPorts)), 0o600); err != nil {
		t.Fatal(err)
	}
	frontend := func(l fleetListen) string { return net.JoinHostPort("127.0.0.1", Port(l.frontend)) }
	startDaemon(t, "haproxy", exec.Command(haproxy, "-db", "-f", conf), DaemonOptions{Dir: dir, Ready: Accepting("tcp", frontend(listens[1]))})

	senders := make([]*fleetSender, fleetSenders)
	streams := map[string]string{} // sender id -> its address, the logStream of its records
	for i := range senders {
		ip := net.IPv4(127, 0, 0, byte(2+i))
		l, conf := listens[0], (*tls.Config)(nil)
		if i%2 == 1 {
			l, conf = listens[1], pki.ClientConfig(nil)
		}
		senders[i] = startFleetSender(t, fmt.Sprintf("fleet%d", i), ip, frontend(l), conf)
		streams[senders[i].id] = ip.String()
	}
	const received = "kinesyslog_messages_received_total"
	atLeast := func(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }
	for _, r := range relays {
		r.waitMetric(t, received, fmt.Sprintf("at least %d", fleetShare), atLeast(fleetShare))
	}

	// What the kill may cost: the killed relay's intake rate over at least 20 syncs and its
	// longest sync, then the kernel's queues on the way to it, read just before the kill.
	victim := relays[0]
	before, beforeAt := victim.Scrape(t), time.Now()
	syncs := before["kinesyslog_intake_sync_seconds_count"]
	victim.waitMetric(t, "kinesyslog_intake_sync_seconds_count", "20 more", atLeast(syncs+20))
	last, lastAt := victim.Scrape(t), time.Now()
	byteRate := (last["kinesyslog_message_bytes_received_total"] - before["kinesyslog_message_bytes_received_total"]) /
		lastAt.Sub(beforeAt).Seconds()
	maxSync := maxSyncSeconds(t, last)
	queued, victimConns := tcpQueues(t, []int{listens[0].frontend, listens[1].frontend}, []int{tcpPorts[0], tlsPorts[0]})
	snapAt := time.Now()
	victim.kill9(t)
	killAt := time.Now()
	// Each sender writes at most fleetBatch frames per fleetPace; the relay may have read but
	// not synced up to twice its rate over a sync interval and the longest sync.
	writtenAfter := float64(fleetSenders*fleetBatch*fleetFrameBytes("fleet0", 0)) * float64(killAt.Sub(snapAt)) / float64(fleetPace)
	unsynced := 2 * byteRate * (fleetSyncInterval.Seconds() + maxSync)
	bound := queued + victimConns*2*haproxyBufSize + int(writtenAfter) + int(unsynced)
	t.Logf("loss bound at the kill: %d bytes: %d queued in the kernel, %d connections to the relay through HAProxy's buffers, "+
		"%.0f written after, %.0f unsynced (%.0f B/s, longest sync %v)", bound, queued, victimConns, writtenAfter, unsynced, byteRate, maxSync)

	// The senders on the killed relay reconnect through HAProxy to the other, then to both
	// once the killed one is back.
	survivor := relays[1].Totals(t)[received]
	relays[1].waitMetric(t, received, fmt.Sprintf("%d more", fleetShare), atLeast(survivor+fleetShare))
	relays[0] = start(0, victim.spoolDir)
	relays[0].waitMetric(t, received, fmt.Sprintf("at least %d after the restart", fleetShare), atLeast(fleetShare))
	replayed := relays[0].Totals(t)["kinesyslog_intake_replayed_messages_total"]
	for _, s := range senders {
		s.halt()
		if s.err != nil {
			t.Fatalf("sender %s: %v", s.id, s.err)
		}
	}
	for _, r := range relays {
		r.waitReceived(t, 0)
		stopClean(t, r)
	}
	groups := map[string]int{} // logGroup -> the relay whose port it names
	for i := range relays {
		groups[syslogGroup(tcpPorts[i])], groups[syslogGroup(tlsPorts[i])] = i, i
	}
	checkFleet(t, srv, senders, streams, groups, killAt, bound)
	t.Logf("the restarted relay replayed %.0f messages from its intake log", replayed)
}

// checkFleet checks what the fleet delivered: each record from a relay's port (groups: the
// relay of each logGroup) with its sender's address as logStream, and every message the senders
// wrote but a tail of the connections open at the kill of relay 0, within bound bytes in all.
func checkFleet(t *testing.T, srv *firehosetest.Server, senders []*fleetSender, streams map[string]string, groups map[string]int, killAt time.Time, bound int) {
	t.Helper()
	recs := FirehoseRecords(t, srv)
	counts := countTokens(t, recs)
	relayOf := map[string]int{} // token -> the relay that delivered it
	perGroup := map[string]int{}
	badStream := 0
	for _, rec := range recs {
		relay, ok := groups[rec.LogGroup]
		if !ok {
			t.Fatalf("a record of log group %s, not of a relay's port", rec.LogGroup)
		}
		for _, ev := range rec.LogEvents {
			tok := faultToken.FindString(ev.Message)
			relayOf[tok] = relay
			perGroup[rec.LogGroup]++
			id, _, _ := strings.Cut(strings.TrimPrefix(tok, "tok-"), "-")
			if want := streams[id]; rec.LogStream != want {
				if badStream++; badStream <= 10 {
					t.Errorf("relay %d delivered %s with logStream %s, want %s", relay, tok, rec.LogStream, want)
				}
			}
		}
	}
	for _, group := range slices.Sorted(maps.Keys(groups)) {
		relay := groups[group]
		t.Logf("events delivered by relay %d in %s: %d", relay, group, perGroup[group])
		if perGroup[group] == 0 {
			t.Errorf("relay %d delivered nothing in %s: the balancer did not share the load", relay, group)
		}
	}

	var sent []string
	lost, lostBytes, tails := 0, 0, 0
	for _, s := range senders {
		for _, c := range s.conns {
			var missing []int
			delivered, lastDelivered := -1, -1
			for n := c.first; n < c.next; n++ {
				tok := token(s.id, n)
				sent = append(sent, tok)
				if counts[tok] == 0 {
					missing = append(missing, n)
				} else {
					delivered, lastDelivered = relayOf[tok], n
				}
			}
			if len(missing) == 0 {
				continue
			}
			open := c.opened.Before(killAt) && c.closed.After(killAt.Add(-time.Second))
			switch {
			case !open:
				t.Errorf("%s lost %d messages from %d on a connection of %v to %v, not open at the kill (%v)",
					s.id, len(missing), missing[0], c.opened.Format(time.StampMicro), c.closed.Format(time.StampMicro), killAt.Format(time.StampMicro))
			case missing[0] < lastDelivered:
				t.Errorf("%s lost message %d but not %d after it on one connection: a gap, not the tail the kill cut off", s.id, missing[0], lastDelivered)
			case delivered == 1:
				t.Errorf("%s lost %d messages on a connection to relay 1, which was not killed", s.id, len(missing))
			}
			tails++
			lost += len(missing)
			for _, n := range missing {
				lostBytes += fleetFrameBytes(s.id, n)
			}
		}
	}
	tl := compare(counts, sent)
	t.Logf("%d messages sent, %d lost (%d bytes, bound %d) at the tail of %d connections, %d duplicates",
		tl.sent, lost, lostBytes, bound, tails, tl.duplicates)
	if lostBytes > bound {
		t.Errorf("the kill lost %d bytes of messages, more than the %d the kernel's and HAProxy's buffers and a sync interval held", lostBytes, bound)
	}
	if tl.unexpected > 0 {
		t.Errorf("%d delivered messages were never sent", tl.unexpected)
	}
}
