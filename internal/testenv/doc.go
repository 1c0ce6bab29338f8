// Package testenv is what the tests of every package share, so that each exists once: polling a
// condition until a deadline ([Eventually]), ports a test may bind ([FreePorts]), rsyslog run
// privately ([RsyslogCommand]) and other programs found ([LookPath]), a metric read from a
// registry ([Metric]) or from a server's /metrics ([Scrape]), a goroutine-safe output buffer
// ([Buffer]) and a reader that repeats data as a busy socket does ([RepeatReader]).
//
// It imports nothing of the relay, so that any package's own tests may import it. Tests import
// it, and so does the benchmark harness (internal/bench), for its ports and its rsyslog
// receiver; the relay never does. Its functions are safe for concurrent use.
package testenv
