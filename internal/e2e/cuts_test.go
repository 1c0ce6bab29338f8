package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestLongestMessageKeptWhole sends messages of --max-message-size bytes, at its largest
// allowed value, of the contents that JSON and the relay's escaping grow the most (control
// characters as \u00XX, invalid UTF-8 as \xNN, random bytes), and finds each delivered whole;
// and one a byte longer, which must be cut to the limit and counted. No cut may be silent.
func TestLongestMessageKeptWhole(t *testing.T) {
	const max = config.MaxMessageBytes
	out := filepath.Join(t.TempDir(), "out")
	tcpPort := testenv.FreePort(t)
	relay := Start(t, Options{
		Args:    []string{"--output", out, "--tcp-port", Port(tcpPort), "--max-message-size", strconv.Itoa(max)},
		Metrics: true,
	})
	rng := rand.New(rand.NewPCG(11, 6))
	header := []byte("<13>1 2026-02-21T21:07:50Z host app - - - ")
	fill := func(n int, b func() byte) []byte {
		msg := bytes.Clone(header)
		for len(msg) < n {
			msg = append(msg, b())
		}
		return msg
	}
	controls := func() byte { return byte(rng.IntN(0x20)) } // six bytes each: \u0001
	sent := [][]byte{
		fill(max, controls),
		fill(max, func() byte { return 0xff }), // five bytes each: \\xff
		fill(max, func() byte { return byte(rng.UintN(256)) }),
		fill(max, func() byte { return 0x80 + byte(rng.UintN(0x40)) }), // lone continuation bytes
	}
	// No header: the relay rewrites it with one of its own, longer than the message by that.
	headerless := make([]byte, max)
	for i := range headerless {
		headerless[i] = controls()
	}
	sent = append(sent, headerless)
	long := fill(max+1, controls)

	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range append(slices.Clone(sent), long) {
		fmt.Fprintf(conn, "%d %s", len(msg), msg) // octet counting: the controls hold LFs
	}
	conn.Close()
	relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v >= float64(len(sent)+1) })
	if got := relay.Metric(t, "kinesyslog_messages_truncated_total"); got != 1 {
		t.Errorf("kinesyslog_messages_truncated_total = %v, want 1: the message over the limit only", got)
	}
	if err := relay.Stop(); err != nil {
		t.Fatalf("relay exit: %v", err)
	}

	// Records are encoded in parallel: find each message wherever it went.
	delivered := map[string]int{}
	var rewritten []string // events that are not one of the messages sent as they are
	want := map[string]int{}
	for _, msg := range append(sent[:len(sent)-1], long[:max]) {
		want[asRecorded(msg)]++
	}
	for _, rec := range Delivered(t, out) {
		for _, ev := range rec.LogEvents {
			if want[ev.Message] > 0 {
				delivered[ev.Message]++
			} else {
				rewritten = append(rewritten, ev.Message)
			}
		}
	}
	for msg, n := range want {
		if delivered[msg] != n {
			t.Errorf("message of %d characters %.20q...: delivered %d times, want %d", len(msg), msg, delivered[msg], n)
		}
	}
	// The headerless message comes with a header of the relay's, then all of the message sent.
	if end := asRecorded(headerless); len(rewritten) != 1 || !strings.HasSuffix(rewritten[0], end) || len(rewritten[0]) == len(end) {
		lengths := make([]int, len(rewritten))
		for i, m := range rewritten {
			lengths[i] = len(m)
		}
		t.Errorf("other events: %d of %v characters, want one: a header and the %d of the headerless message", len(rewritten), lengths, len(end))
	}
}

// asRecorded returns msg as the relay records it: valid UTF-8 as it is, each other byte as the
// four characters \xNN.
func asRecorded(msg []byte) string {
	var b []byte
	for len(msg) > 0 {
		r, size := utf8.DecodeRune(msg)
		if r == utf8.RuneError && size == 1 {
			b = fmt.Appendf(b, `\x%02x`, msg[0])
		} else {
			b = append(b, msg[:size]...)
		}
		msg = msg[size:]
	}
	return string(b)
}

// TestGELFOfNothingCounted sends GELF datagrams that hold nothing but NUL bytes, plain and as a
// gzip bomb, and finds them refused and counted rather than vanished.
func TestGELFOfNothingCounted(t *testing.T) {
	udpPort := testenv.FreePort(t)
	relay := Start(t, Options{
		Args:    []string{"--gelf", "--output", filepath.Join(t.TempDir(), "out"), "--udp-port", Port(udpPort)},
		Metrics: true,
	})
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zw.Write(make([]byte, 10<<20))
	zw.Close()
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, d := range [][]byte{make([]byte, 1000), bomb.Bytes()} {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	relay.WaitMetric(t, "kinesyslog_datagrams_refused_total", func(v float64) bool { return v == 2 })
}
