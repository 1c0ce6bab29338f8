package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// Receiver names in results.
const (
	Kinesyslog = "kinesyslog"
	Rsyslog    = "rsyslog"
)

// A Receiver is a syslog receiver a load is measured against: a program run as a child process,
// where it listens, and how to read what it delivered.
type Receiver struct {
	Name string
	Argv []string // the program and its arguments
	Env  []string // added to the environment
	// TCP, UDP, TLS and RELP are the host:port of its listeners; TCP also tells when it has
	// started.
	TCP, UDP, TLS, RELP string
	// Collect checks what the receiver delivered into v, once it has exited.
	Collect func(v *Verifier) (RecordStats, error)
	// Drained, when set, returns nil once the receiver has delivered everything it received,
	// having received at least want messages, and otherwise an error saying what it still
	// holds, which changes as it makes progress. Measure waits for it before the SIGTERM, so
	// that the delivery check does not depend on what the receiver does at shutdown. nil means
	// the receiver cannot tell: Measure waits until it is at rest instead.
	Drained func(ctx context.Context, want int) error
}

// Address returns the address of the listener of network.
func (r *Receiver) Address(network string) string {
	switch network {
	case UDP:
		return r.UDP
	case TLS:
		return r.TLS
	case RELP:
		return r.RELP
	}
	return r.TCP
}

// KinesyslogOptions says how to run the relay.
type KinesyslogOptions struct {
	Binary  string // path of the kinesyslog binary
	WorkDir string // the spool and the output go in here
	// TLS adds a TLS listener; the relay makes its own certificate.
	TLS bool
	// RELP adds a RELP listener, which needs the intake log.
	RELP bool
	// IntakeLog is the relay's --intake-log, "on" or "off"; empty keeps the relay's default,
	// or "on" with RELP.
	IntakeLog string
	// Destination is the options choosing where records go; nil means --output under WorkDir,
	// read back by Collect. Other destinations must set Collect themselves.
	Destination []string
	// Args are further options of kinesyslog listen, given last.
	Args []string
	Env  []string
}

// NewKinesyslog returns the relay as a Receiver on free loopback ports.
func NewKinesyslog(opts KinesyslogOptions) (*Receiver, error) {
	ports, err := testenv.FindFreePorts(5)
	if err != nil {
		return nil, err
	}
	metrics := loopback(ports[4])
	r := &Receiver{
		Name:    Kinesyslog,
		Env:     opts.Env,
		TCP:     loopback(ports[0]),
		UDP:     loopback(ports[1]),
		TLS:     loopback(ports[2]),
		Drained: relayDrained("http://" + metrics + "/metrics"),
	}
	tlsPort := "0"
	if opts.TLS {
		tlsPort = strconv.Itoa(ports[2])
	}
	r.Argv = []string{opts.Binary, "listen",
		"--address", "127.0.0.1",
		"--tcp-port", strconv.Itoa(ports[0]),
		"--udp-port", strconv.Itoa(ports[1]),
		"--tls-port", tlsPort,
		"--spool-dir", filepath.Join(opts.WorkDir, "spool"),
		"--metrics-address", metrics,
		// The relay delivers everything before Measure stops it (Drained), and the time to do so
		// counts: the last batch is spooled and uploaded within 200 ms rather than the second
		// of --output or the 60 s of a Firehose stream. Batches fill by size well before that
		// at the rates of the loads.
		"--flush-age", "200ms",
	}
	if opts.RELP {
		r.RELP = loopback(ports[3])
		r.Argv = append(r.Argv, "--relp-port", strconv.Itoa(ports[3]))
		if opts.IntakeLog == "" {
			opts.IntakeLog = "on"
		}
	}
	if opts.IntakeLog != "" {
		r.Argv = append(r.Argv, "--intake-log", opts.IntakeLog)
	}
	if opts.Destination != nil {
		r.Argv = append(r.Argv, opts.Destination...)
	} else {
		out := filepath.Join(opts.WorkDir, "output")
		r.Argv = append(r.Argv, "--output", out)
		r.Collect = func(v *Verifier) (RecordStats, error) { return v.RecordDir(out) }
	}
	r.Argv = append(r.Argv, opts.Args...)
	return r, nil
}

// relayDrained is the relay's Receiver.Drained, read from its metrics at url: every message it
// received or replayed from its intake log was spooled (or dropped or lost, which the delivery
// check counts), and its spool is empty, so every record was delivered.
func relayDrained(url string) func(ctx context.Context, want int) error {
	return func(ctx context.Context, want int) error {
		series, err := testenv.Scrape(ctx, url)
		if err != nil {
			return fmt.Errorf("bench: relay metrics: %w", err)
		}
		m := testenv.Totals(series)
		in := int64(m["kinesyslog_messages_received_total"] + m["kinesyslog_intake_replayed_messages_total"])
		spooled := int64(m["kinesyslog_encode_spooled_messages_total"])
		gone := int64(m["kinesyslog_buffer_dropped_messages_total"] + m["kinesyslog_encode_lost_messages_total"])
		pending := int64(m["kinesyslog_spool_records"])
		if in < int64(want) || spooled+gone != in || pending > 0 {
			return fmt.Errorf("bench: relay not drained: %d of %d messages received, %d spooled, %d dropped or lost, %d records in the spool",
				in, want, spooled, gone, pending)
		}
		return nil
	}
}

// RsyslogOptions says how to run rsyslog.
type RsyslogOptions struct {
	Binary  string // path of rsyslogd
	WorkDir string // its configuration, pid file, work directory and output go in here
	// RELP adds a RELP listener (imrelp, from Debian's rsyslog-relp).
	RELP bool
}

// rsyslogConf runs rsyslog as the relay's peer: TCP (imptcp), UDP (imudp) and RELP (imrelp)
// inputs on loopback,
// each message written as a JSON event like the relay's, {"timestamp", "message"}, to one
// gzip-compressed file at level 1, rsyslog's fastest. Nothing is tuned down:
//   - the events carry no "id": rsyslog's uuid property reads the kernel's random source per
//     message and costs about 9 µs each here, twice all the rest of its work;
//   - imudp gets a worker per CPU and the receive buffer the relay gets (SO_RCVBUF capped at
//     net.core.rmem_max, 4 MiB here; rsyslog would force it past the cap as root);
//   - omfile writes through a 1 MiB buffer and does not flush per batch. asyncWriting stays off:
//     with it, rsyslog 8.2302 at times exits on SIGTERM without finishing the gzip stream,
//     which loses the end of the file;
//   - the main queue may take as long as it needs at shutdown, so that what rsyslog accepted is
//     written rather than dropped after its default 1.5 s, as the relay also drains at shutdown;
//   - imrelp acknowledges a message once it is in the main queue, in memory: less than the
//     relay, which acknowledges only once the message is synced to its intake log.
var rsyslogConf = template.Must(template.New("rsyslog.conf").Parse(`
global(maxMessageSize="64k")
main_queue(queue.timeoutShutdown="300000")
module(load="imptcp")
module(load="imudp" threads="2")
{{if .RELPPort}}module(load="imrelp"){{end}}
template(name="event" type="list") {
  constant(value="{\"timestamp\":")
  property(name="timereported" dateFormat="unixtimestamp")
  constant(value=".")
  property(name="timereported" dateFormat="subseconds")
  constant(value=",\"message\":\"")
  property(name="rawmsg" format="json")
  constant(value="\"}\n")
}
ruleset(name="bench") {
  action(type="omfile" file="{{.Output}}" template="event" zipLevel="1"
         ioBufferSize="1m" flushOnTXEnd="off")
}
input(type="imptcp" address="127.0.0.1" port="{{.TCPPort}}" ruleset="bench")
input(type="imudp" address="127.0.0.1" port="{{.UDPPort}}" ruleset="bench" rcvbufSize="4m")
{{if .RELPPort}}input(type="imrelp" address="127.0.0.1" port="{{.RELPPort}}" ruleset="bench" maxDataSize="64k"){{end}}
`))

// NewRsyslog returns rsyslogd as a Receiver on free loopback ports, run privately as the tests
// run it (testenv.RsyslogCommand): its own configuration, pid file and work directory, in the
// foreground.
func NewRsyslog(opts RsyslogOptions) (*Receiver, error) {
	ports, err := testenv.FindFreePorts(3)
	if err != nil {
		return nil, err
	}
	output := filepath.Join(opts.WorkDir, "output.json.gz")
	relpPort, relpAddress := 0, ""
	if opts.RELP {
		relpPort, relpAddress = ports[2], loopback(ports[2])
	}
	var conf strings.Builder
	err = rsyslogConf.Execute(&conf, map[string]any{"Output": output, "TCPPort": ports[0], "UDPPort": ports[1], "RELPPort": relpPort})
	if err != nil {
		return nil, fmt.Errorf("bench: rsyslog configuration: %w", err)
	}
	argv, err := testenv.RsyslogCommand(opts.Binary, opts.WorkDir, conf.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("bench: rsyslog receiver: %w", err)
	}
	return &Receiver{
		Name: Rsyslog,
		Argv: argv,
		TCP:  loopback(ports[0]),
		UDP:  loopback(ports[1]),
		RELP: relpAddress,
		Collect: func(v *Verifier) (RecordStats, error) {
			f, err := os.Open(output)
			if err != nil {
				return RecordStats{}, fmt.Errorf("bench: rsyslog output: %w", err)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return RecordStats{}, fmt.Errorf("bench: rsyslog output: %w", err)
			}
			raw, err := v.Lines(f)
			return RecordStats{Bytes: fi.Size(), RawBytes: raw}, err
		},
	}, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
