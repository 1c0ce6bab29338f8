package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// The interop tests run the real binary with real senders on loopback: util-linux logger,
// rsyslog and syslog-ng (each with its own configuration, never the system's), and a Go sender
// of framing edge cases. Each checks every message arrives exactly once, under the logGroup of
// the port it was sent to, with the timestamp its header carries.
//
// They wait for delivery by polling the relay's kinesyslog_messages_received_total until every
// message was counted, then stop the senders and the relay in pipeline order: UDP has no end of
// stream, and a daemon's queues are invisible from outside.

// interopMessages is how many messages each sender sends per case: enough to cross buffer and
// read boundaries, few enough to keep the suite fast.
const interopMessages = 100

// interopMaxMessage is the --max-message-size of the framing test.
const interopMaxMessage = 4096

// runLoggerEnv sends each of lines with one util-linux logger process, with env added to its
// environment.
func runLoggerEnv(t *testing.T, env []string, lines []string, args ...string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "lines")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Program(t, "logger"), append(args, "-f", file)...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger %v: %v\n%s", args, err, out)
	}
}

// loggerLines returns interopMessages lines for logger, each with a token of prefix.
func loggerLines(prefix string) (lines, tokens []string) {
	for i := range interopMessages {
		token := fmt.Sprintf("tok-%s-%d", prefix, i)
		lines = append(lines, loggerText(token))
		tokens = append(tokens, token)
	}
	return lines, tokens
}

// loggerText is the text of the message of token that loggerLines sends.
func loggerText(token string) string {
	return fmt.Sprintf("interop %s from logger, \"quoted\" and é", token)
}

// TestInteropLogger sends with util-linux logger in both its formats over TCP with both
// framings and over UDP, and RFC3164 stamps in zones other than UTC, read with --timezone.
func TestInteropLogger(t *testing.T) {
	Program(t, "logger") // skip or fail before starting anything
	type loggerCase struct {
		name     string
		udp      bool
		args     []string
		nilStamp bool // RFC5424 NILVALUE: stamped with the receive time
	}
	// One relay per zone, since --timezone applies to all its listeners.
	for _, zone := range []struct {
		name  string // TZ of logger and --timezone of the relay
		cases []loggerCase
	}{
		{name: "UTC", cases: []loggerCase{
			{name: "tcp rfc3164", args: []string{"--tcp", "--rfc3164"}},
			{name: "tcp rfc5424", args: []string{"--tcp", "--rfc5424"}},
			{name: "tcp octet-count rfc3164", args: []string{"--tcp", "--octet-count", "--rfc3164"}},
			{name: "tcp octet-count rfc5424", args: []string{"--tcp", "--octet-count", "--rfc5424"}},
			{name: "udp rfc3164", udp: true, args: []string{"--udp", "--rfc3164"}},
			{name: "udp rfc5424", udp: true, args: []string{"--udp", "--rfc5424"}},
			{name: "udp rfc5424 without time", udp: true, args: []string{"--udp", "--rfc5424=notime"}, nilStamp: true},
		}},
		{name: "Asia/Kolkata", cases: []loggerCase{{name: "tcp rfc3164", args: []string{"--tcp", "--rfc3164"}}}},
		{name: "America/New_York", cases: []loggerCase{{name: "udp rfc3164", udp: true, args: []string{"--udp", "--rfc3164"}}}},
	} {
		t.Run(zone.name, func(t *testing.T) {
			loc, err := time.LoadLocation(zone.name)
			if err != nil {
				t.Fatalf("load zone: %v", err)
			}
			tcpPort, udpPort := testenv.FreePort(t), testenv.FreePort(t)
			since := time.Now()
			relay := startInteropRelay(t, []int{tcpPort}, []int{udpPort}, "--timezone", zone.name)
			want := expectations{}
			for i, c := range zone.cases {
				port := tcpPort
				if c.udp {
					port = udpPort
				}
				lines, tokens := loggerLines(fmt.Sprintf("logger%d", i))
				for _, token := range tokens {
					x := expect{sender: c.name, stamp: stampHeader, loc: loc, text: loggerText(token)}
					if c.nilStamp {
						x.stamp, x.match = stampReceived, regexp.MustCompile(`^<13>1 - `)
					}
					want.add(token, port, x)
				}
				runLoggerEnv(t, []string{"TZ=" + zone.name}, lines, append(c.args, "-n", "127.0.0.1", "-P", Port(port))...)
			}
			relay.waitReceived(t, len(want))
			recs := relay.stopAndRead(t)
			checkInterop(t, recs, want, since, time.Now())
		})
	}
}

// daemonDest is one forwarding destination of a syslog daemon under test.
type daemonDest struct {
	name string
	udp  bool
	// config is the daemon's configuration of this destination, a format string with the
	// relay's port as its only verb.
	config string
	// stamp is the timestamp the relay must give a message the Go sender stamped with at,
	// in epoch ms: the daemon keeps the sender's stamp, at the precision its format has.
	stamp func(at time.Time) int64
}

func truncSecond(at time.Time) int64 { return at.Truncate(time.Second).UnixMilli() }
func truncMilli(at time.Time) int64  { return at.Truncate(time.Millisecond).UnixMilli() }
func roundMilli(at time.Time) int64  { return at.Round(time.Millisecond).UnixMilli() }

// daemonRun is one run of a syslog daemon between two senders and the relay.
type daemonRun struct {
	dests  []daemonDest
	ports  []int  // the relay's port of each destination
	input  int    // the daemon's TCP input port, for the Go sender
	socket string // the daemon's Unix datagram socket, for logger
	dir    string // the daemon's private directory
	since  time.Time
	relay  *interopRelay
	want   expectations
}

// newDaemonRun starts a relay with one port per destination and picks the daemon's inputs.
func newDaemonRun(t *testing.T, dests []daemonDest) *daemonRun {
	t.Helper()
	r := &daemonRun{dests: dests, dir: t.TempDir(), want: expectations{}, since: time.Now()}
	var nTCP, nUDP int
	for _, d := range dests {
		if d.udp {
			nUDP++
		} else {
			nTCP++
		}
	}
	tcpPorts, udpPorts := testenv.FreePorts(t, nTCP+1), testenv.FreePorts(t, nUDP)
	r.input, tcpPorts = tcpPorts[nTCP], tcpPorts[:nTCP]
	tcp, udp := tcpPorts, udpPorts
	for _, d := range dests {
		if d.udp {
			r.ports, udp = append(r.ports, udp[0]), udp[1:]
		} else {
			r.ports, tcp = append(r.ports, tcp[0]), tcp[1:]
		}
	}
	r.socket = filepath.Join(r.dir, "log.sock")
	r.relay = startInteropRelay(t, tcpPorts, udpPorts)
	return r
}

// destConfig returns the configuration of every destination, each with its relay port, as
// wrap writes destination i.
func (r *daemonRun) destConfig(wrap func(i int, dest string) string) string {
	var b strings.Builder
	for i, d := range r.dests {
		b.WriteString(wrap(i, fmt.Sprintf(d.config, r.ports[i])))
		b.WriteByte('\n')
	}
	return b.String()
}

// send feeds the daemon: logger through its Unix socket (stamped by a clock, checked from
// the delivered header) and the Go sender through its TCP input (RFC5424 stamps of an hour ago
// with microseconds, checked exactly at each destination's precision).
func (r *daemonRun) send(t *testing.T, name string) {
	t.Helper()
	lines, tokens := loggerLines(name + "-logger")
	for _, token := range tokens {
		for i, d := range r.dests {
			r.want.add(token, r.ports[i], expect{sender: d.name + " from logger", stamp: stampHeader, text: loggerText(token)})
		}
	}
	runLoggerEnv(t, []string{"TZ=UTC"}, lines, "-u", r.socket)

	base := r.since.Add(-time.Hour).Truncate(time.Second)
	var msgs []string
	for i := range interopMessages {
		at := base.Add(time.Duration(i)*time.Second + time.Duration(i*7919)*time.Microsecond)
		token := fmt.Sprintf("tok-%s-go-%d", name, i)
		text := fmt.Sprintf("interop %s from Go, \"quoted\" and é", token)
		msgs = append(msgs, fmt.Sprintf("<134>1 %s host%d app %d ID47 - %s",
			at.Format("2006-01-02T15:04:05.000000Z"), i%5, 1000+i, text))
		for j, d := range r.dests {
			r.want.add(token, r.ports[j], expect{sender: d.name + " from Go", stamp: stampExact, ts: d.stamp(at), text: text})
		}
	}
	sendGo(t, r.input, false, msgs)
}

// finish waits until the relay has received every message, stops the daemon (which must exit
// cleanly) and the relay, and checks what was delivered.
func (r *daemonRun) finish(t *testing.T, daemon *Daemon) {
	t.Helper()
	r.relay.waitReceived(t, len(r.want))
	if err := daemon.Stop(); err != nil {
		t.Errorf("daemon exit: %v", err)
	}
	recs := r.relay.stopAndRead(t)
	checkInterop(t, recs, r.want, r.since, time.Now())
}

// TestInteropRsyslog forwards through rsyslog's omfwd over TCP with octet-counted and LF
// framing, and over UDP, with its traditional, high-precision and RFC5424 templates.
func TestInteropRsyslog(t *testing.T) {
	const (
		traditional = "RSYSLOG_TraditionalForwardFormat" // <PRI>Mmm dd hh:mm:ss
		forward     = "RSYSLOG_ForwardFormat"            // <PRI>RFC3339 with microseconds
		protocol23  = "RSYSLOG_SyslogProtocol23Format"   // RFC5424, ends with LF
	)
	var dests []daemonDest
	for _, tmpl := range []struct {
		name  string
		stamp func(time.Time) int64
	}{{traditional, truncSecond}, {forward, roundMilli}, {protocol23, roundMilli}} {
		for _, tr := range []struct{ name, params string }{
			{"tcp octet-counted", `protocol="tcp" TCP_Framing="octet-counted"`},
			{"tcp LF", `protocol="tcp"`},
			{"udp", `protocol="udp"`},
		} {
			dests = append(dests, daemonDest{
				name:   "omfwd " + tr.name + " " + tmpl.name,
				udp:    tr.name == "udp",
				config: `action(type="omfwd" target="127.0.0.1" port="%d" ` + tr.params + ` template="` + tmpl.name + `")`,
				stamp:  tmpl.stamp,
			})
		}
	}
	Program(t, "rsyslogd") // skip or fail before starting anything
	Program(t, "logger")
	run := newDaemonRun(t, dests)
	// The inputs feed a ruleset of their own, so that rsyslog's internal messages (start, stop)
	// are not forwarded. imuxsock would rate-limit a burst from one process without
	// RateLimit.Interval="0".
	config := fmt.Sprintf(`module(load="imuxsock" SysSock.Use="off")
module(load="imtcp")
input(type="imuxsock" Socket=%q CreatePath="on" RateLimit.Interval="0" Ruleset="forward")
input(type="imtcp" Address="127.0.0.1" Port="%d" Ruleset="forward")
ruleset(name="forward") {
%s}`, run.socket, run.input, run.destConfig(func(_ int, dest string) string { return dest }))
	daemon := StartRsyslog(t, DaemonOptions{
		Dir: run.dir, Config: config, Env: []string{"TZ=UTC"},
		Ready: func() bool {
			return Accepting("unixgram", run.socket)() && Accepting("tcp", fmt.Sprintf("127.0.0.1:%d", run.input))()
		},
	})
	run.send(t, "rsyslog")
	run.finish(t, daemon)
}

// TestInteropSyslogNG forwards through syslog-ng's network() destination (BSD format over TCP
// with LF framing and over UDP, with fractional seconds, and RFC3339 stamps by a template) and
// its syslog() destination (RFC5424 with octet counting over TCP, and over UDP).
func TestInteropSyslogNG(t *testing.T) {
	dests := []daemonDest{
		{name: "network tcp", config: `network("127.0.0.1" port(%d) transport("tcp"))`, stamp: truncSecond},
		{name: "network udp", udp: true, config: `network("127.0.0.1" port(%d) transport("udp"))`, stamp: truncSecond},
		// network() writes BSD stamps whatever ts-format says, with frac-digits() fractional
		// digits, cut rather than rounded.
		{name: "network tcp frac-digits(3)", config: `network("127.0.0.1" port(%d) transport("tcp") frac-digits(3))`, stamp: truncMilli},
		{name: "network tcp ISODATE template", config: `network("127.0.0.1" port(%d) transport("tcp") frac-digits(6) template("<${PRI}>${ISODATE} ${HOST} ${MSGHDR}${MSG}\n"))`, stamp: roundMilli},
		{name: "syslog tcp", config: `syslog("127.0.0.1" port(%d) transport("tcp"))`, stamp: truncSecond},
		{name: "syslog tcp frac-digits(6)", config: `syslog("127.0.0.1" port(%d) transport("tcp") frac-digits(6))`, stamp: roundMilli},
		{name: "syslog udp frac-digits(6)", udp: true, config: `syslog("127.0.0.1" port(%d) transport("udp") frac-digits(6))`, stamp: roundMilli},
	}
	findSyslogNG(t) // skip or fail before starting anything
	Program(t, "logger")
	run := newDaemonRun(t, dests)
	var logPath strings.Builder
	for i := range dests {
		fmt.Fprintf(&logPath, " destination(d%d);", i)
	}
	config := fmt.Sprintf(`options { keep-hostname(yes); stats-freq(0); };
source s_local { unix-dgram(%q); };
source s_net { network(ip("127.0.0.1") port(%d) transport("tcp") flags(syslog-protocol)); };
%slog { source(s_local); source(s_net);%s };`, run.socket, run.input,
		run.destConfig(func(i int, dest string) string { return fmt.Sprintf("destination d%d { %s; };", i, dest) }),
		logPath.String())
	daemon := StartSyslogNG(t, DaemonOptions{
		Dir: run.dir, Config: config, Env: []string{"TZ=UTC"},
		Ready: func() bool {
			return Accepting("unixgram", run.socket)() && Accepting("tcp", fmt.Sprintf("127.0.0.1:%d", run.input))()
		},
	})
	run.send(t, "syslogng")
	run.finish(t, daemon)
}

// TestInteropFraming sends the framing edge cases through the real binary with a Go sender, in
// one TCP stream written in pieces of 1 to 17 bytes so that frames straddle reads, and in UDP
// datagrams: messages over --max-message-size are cut to exactly the maximum without the rest
// of their frame being read as messages; octet counting, LF, CRLF, CR and NUL framing mix in
// one stream; firewalls' RFC3164 payloads come octet-counted; bytes that are not UTF-8 arrive
// as \xNN; a message without a header is rewritten with the receive time.
func TestInteropFraming(t *testing.T) {
	tcpPort, udpPort := testenv.FreePort(t), testenv.FreePort(t)
	since := time.Now()
	relay := startInteropRelay(t, []int{tcpPort}, []int{udpPort}, "--max-message-size", strconv.Itoa(interopMaxMessage))

	at := since.Add(-time.Hour).Truncate(time.Second).Add(123456 * time.Microsecond)
	stamp := at.Format("2006-01-02T15:04:05.000000Z")
	atMilli := at.Round(time.Millisecond).UnixMilli()
	bsd := at.Format(time.Stamp) // RFC3164 "Mmm dd hh:mm:ss", read in UTC with an inferred year
	bsdMilli := at.Truncate(time.Second).UnixMilli()
	rfc5424 := func(token, text string) string {
		return fmt.Sprintf("<13>1 %s host app - - - %s %s", stamp, token, text)
	}
	// long returns a message of n bytes whose token is near its start and tail at its end, past
	// the maximum: the tail holds what a framer that lost its place would take for new frames.
	long := func(token string, n int, tail string) string {
		head := rfc5424(token, "")
		return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
	}
	counted := func(msg string) string { return fmt.Sprintf("%d %s", len(msg), msg) }
	longCounted := long("tok-fr-long-counted", 5000, "\n28 <13>1 - tok-fr-ghost-counted\n")
	longLF := long("tok-fr-long-lf", 6000, " 23 <13>1 - tok-fr-ghost-lf")
	longUDP := long("tok-fr-long-udp", 5000, "\n<13>1 - tok-fr-ghost-udp")

	cases := []struct {
		name    string
		wire    string // the frame as sent; UDP cases send it as one datagram
		udp     bool
		token   string
		message string         // the message to be delivered, when match is nil
		match   *regexp.Regexp // for rewritten messages, whose stamp is the receive time
		stamp   stampRule
		ts      int64
	}{
		{name: "octet-counted over the maximum", wire: counted(longCounted), token: "tok-fr-long-counted",
			message: longCounted[:interopMaxMessage], ts: atMilli},
		{name: "octet-counted after one over the maximum", wire: counted(rfc5424("tok-fr-after-counted", "intact")),
			token: "tok-fr-after-counted", message: rfc5424("tok-fr-after-counted", "intact"), ts: atMilli},
		{name: "LF over the maximum", wire: longLF + "\n", token: "tok-fr-long-lf",
			message: longLF[:interopMaxMessage], ts: atMilli},
		{name: "LF after one over the maximum", wire: rfc5424("tok-fr-after-lf", "intact") + "\n",
			token: "tok-fr-after-lf", message: rfc5424("tok-fr-after-lf", "intact"), ts: atMilli},
		{name: "CRLF", wire: rfc5424("tok-fr-crlf", "ends with CR LF") + "\r\n",
			token: "tok-fr-crlf", message: rfc5424("tok-fr-crlf", "ends with CR LF"), ts: atMilli},
		{name: "NUL", wire: rfc5424("tok-fr-nul", "ends with NUL") + "\x00",
			token: "tok-fr-nul", message: rfc5424("tok-fr-nul", "ends with NUL"), ts: atMilli},
		{name: "CR", wire: rfc5424("tok-fr-cr", "ends with CR") + "\r",
			token: "tok-fr-cr", message: rfc5424("tok-fr-cr", "ends with CR"), ts: atMilli},
		{name: "octet-counted holding LF, CR and NUL", wire: counted(rfc5424("tok-fr-transparent", "one\ntwo\r\x00three")),
			token: "tok-fr-transparent", message: rfc5424("tok-fr-transparent", "one\ntwo\r\x00three"), ts: atMilli},
		{name: "RFC3164 octet-counted, as firewalls send it",
			wire:    counted("<190>" + bsd + " fw01 %ASA-6-302013: Built outbound TCP connection 7 for outside:192.0.2.1/443 tok-fr-asa"),
			token:   "tok-fr-asa",
			message: "<190>" + bsd + " fw01 %ASA-6-302013: Built outbound TCP connection 7 for outside:192.0.2.1/443 tok-fr-asa", ts: bsdMilli},
		{name: "Cisco IOS octet-counted with milliseconds",
			wire:    counted("<189>45: *" + bsd + ".483 UTC: %SYS-5-CONFIG_I: Configured from console tok-fr-ios"),
			token:   "tok-fr-ios",
			message: "<189>45: *" + bsd + ".483 UTC: %SYS-5-CONFIG_I: Configured from console tok-fr-ios", ts: bsdMilli + 483},
		{name: "digit first but not a length, no PRI", wire: stamp + " host app: tok-fr-digit-first no PRI\n",
			token: "tok-fr-digit-first", message: stamp + " host app: tok-fr-digit-first no PRI", ts: atMilli},
		{name: "bytes that are not UTF-8", wire: counted(rfc5424("tok-fr-utf8", "bad \xff\xfe, cut \xc3( and é intact")),
			token: "tok-fr-utf8", message: rfc5424("tok-fr-utf8", `bad \xff\xfe, cut \xc3( and é intact`), ts: atMilli},
		{name: "no header", wire: "plain text tok-fr-no-header without any header\n", token: "tok-fr-no-header",
			match: regexp.MustCompile(fmt.Sprintf(rewritten, 13, regexp.QuoteMeta("plain text tok-fr-no-header without any header"))),
			stamp: stampHeader},
		{name: "PRI without a stamp", wire: "<34>su: BAD SU tok-fr-pri-only on /dev/pts/8\n", token: "tok-fr-pri-only",
			match: regexp.MustCompile(fmt.Sprintf(rewritten, 34, regexp.QuoteMeta("su: BAD SU tok-fr-pri-only on /dev/pts/8"))),
			stamp: stampHeader},
		{name: "UDP over the maximum", udp: true, wire: longUDP, token: "tok-fr-long-udp",
			message: longUDP[:interopMaxMessage], ts: atMilli},
		{name: "UDP after one over the maximum", udp: true, wire: rfc5424("tok-fr-after-udp", "intact"),
			token: "tok-fr-after-udp", message: rfc5424("tok-fr-after-udp", "intact"), ts: atMilli},
	}
	want := expectations{}
	var stream strings.Builder
	var datagrams []string
	for _, c := range cases {
		port := tcpPort
		if c.udp {
			port = udpPort
			datagrams = append(datagrams, c.wire)
		} else {
			stream.WriteString(c.wire)
		}
		want.add(c.token, port, expect{sender: c.name, stamp: c.stamp, ts: c.ts, message: c.message, match: c.match})
	}

	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
	if err != nil {
		t.Fatal(err)
	}
	for b, size := []byte(stream.String()), 1; len(b) > 0; size = size%17 + 1 {
		n := min(size, len(b))
		if _, err := conn.Write(b[:n]); err != nil {
			t.Fatalf("write: %v", err)
		}
		b = b[n:]
	}
	conn.Close()
	udp, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, d := range datagrams {
		if _, err := udp.Write([]byte(d)); err != nil {
			t.Fatalf("send datagram: %v", err)
		}
	}

	relay.waitReceived(t, len(want))
	if got := relay.Metric(t, "kinesyslog_messages_truncated_total"); got != 3 {
		t.Errorf("kinesyslog_messages_truncated_total = %v, want 3", got)
	}
	recs := relay.stopAndRead(t)
	checkInterop(t, recs, want, since, time.Now())
}

// TestInteropCountedTrailer sends octet-counted frames whose message ends with LF or CRLF, as
// syslog-ng's syslog() destination and rsyslog's RSYSLOG_SyslogProtocol23Format over
// octet-counted omfwd do, and the same messages in UDP datagrams. A message must be delivered
// the same whatever the transport: the relay drops such trailers from datagrams, so it must drop
// them from counted frames too, as rsyslog and syslog-ng themselves do on reception.
func TestInteropCountedTrailer(t *testing.T) {
	tcpPort, udpPort := testenv.FreePort(t), testenv.FreePort(t)
	since := time.Now()
	relay := startInteropRelay(t, []int{tcpPort}, []int{udpPort})
	at := since.Add(-time.Hour).Truncate(time.Millisecond)
	want := expectations{}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	udp, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, trailer := range []struct{ name, bytes string }{{"LF", "\n"}, {"CRLF", "\r\n"}} {
		token := "tok-tr-" + strings.ToLower(trailer.name)
		msg := fmt.Sprintf("<13>1 %s host app - - - %s ends with %s", at.Format(time.RFC3339Nano), token, trailer.name)
		x := expect{stamp: stampExact, ts: at.UnixMilli(), message: msg}
		x.sender = "octet-counted ending with " + trailer.name
		want.add(token, tcpPort, x)
		x.sender = "datagram ending with " + trailer.name
		want.add(token, udpPort, x)
		if _, err := fmt.Fprintf(conn, "%d %s%s", len(msg)+len(trailer.bytes), msg, trailer.bytes); err != nil {
			t.Fatal(err)
		}
		if _, err := udp.Write([]byte(msg + trailer.bytes)); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	relay.waitReceived(t, len(want))
	checkInterop(t, relay.stopAndRead(t), want, since, time.Now())
}
