// Package bench is the load benchmark of kinesyslog: it generates syslog traffic that can be
// verified message by message, sends it to a receiver (the relay, or rsyslog as the reference),
// measures what the receiver costs, and checks that it delivered every message exactly once.
//
// Its parts, in the order a run uses them:
//
//   - [Generator] makes message seq of stream as a pure function of the run: RFC 5424 or RFC 3164,
//     100 B to 2 KB of realistic content (web, auth, kernel, database and application logs from
//     a fleet of hosts), valid UTF-8, no framing bytes, and a token "kbid=RUN.STREAM.SEQ" right
//     after the header that names it. [Generator.Stream] makes the messages of one stream, the
//     same bytes for a third fewer instructions, as senders use it.
//   - [Send] sends a [Load] over TCP (octet-counted or LF framing), TLS, UDP or RELP, on 1 to 64
//     connections or sockets, as fast as the receiver takes it or at a fixed rate, for a count
//     or a duration.
//   - [Measure] runs a [Receiver] as a child process, waits until it listens, sends the load,
//     waits until the receiver has delivered everything (the relay's metrics tell) or is at rest
//     (rsyslog), stops it with SIGTERM and waits until it has written everything. The receiver's CPU time
//     (user plus system, all threads) and peak resident set come from the kernel for that
//     process alone, so they hold while the generator shares the machine.
//   - [Verifier] reads what the receiver delivered (the relay's records, gzip members of
//     CloudWatch Logs shaped JSON; rsyslog's gzip file of JSON lines), regenerates each message
//     from its token, compares it byte for byte, and reports the messages lost, duplicated,
//     corrupted or foreign; for records, their count and sizes against the Firehose limit.
//   - [WriteTable] prints the results of a run, with the relay's figures against rsyslog's and
//     the share of the machine its host stole while each load ran ([MachineCPU]);
//     [WriteTargets] measures issue 13's targets on the loads bench/run repeats in rounds: each
//     round's figure and the median of the rounds'.
//
// The command kinesyslog-bench exposes these, and bench/run runs the loads of BENCHMARKS.md.
// The package is internal: it is the harness of this repository, not an API, and nothing here is
// imported by the relay.
package bench
