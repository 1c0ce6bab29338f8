package framing_test

import (
	"fmt"
	"strings"

	"github.com/kinesyslog/kinesyslog/internal/framing"
)

func Example() {
	// One TCP stream: an octet-counted RFC 5424 message, an LF-terminated RFC 3164 message
	// without PRI (digit-first, so it falls back to non-transparent framing), a CRLF-terminated
	// one cut to the maximum, and a last one without its LF.
	stream := "45 <13>1 2026-02-21T21:07:50Z host app - - Hello" +
		"2026-02-21 21:07:51 host app: no PRI\n" +
		"<13>Feb 21 21:07:52 host app: a message longer than the maximum of 48 bytes\r\n" +
		"<13>Feb 21 21:07:53 host app: last"
	s := framing.NewScanner(strings.NewReader(stream), 48)
	for s.Scan() {
		fmt.Printf("%q truncated=%t\n", s.Message(), s.Truncated())
	}
	if err := s.Err(); err != nil {
		fmt.Println("error:", err)
	}
	// Output:
	// "<13>1 2026-02-21T21:07:50Z host app - - Hello" truncated=false
	// "2026-02-21 21:07:51 host app: no PRI" truncated=false
	// "<13>Feb 21 21:07:52 host app: a message longer t" truncated=true
	// "<13>Feb 21 21:07:53 host app: last" truncated=false
}
