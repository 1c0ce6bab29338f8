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

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// uuidV7 matches a version 7 UUID; its first 12 hex digits are the Unix time in milliseconds.
var uuidV7 = regexp.MustCompile(`^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// sent is what the test expects to find for one message.
type sent struct {
	port      int
	timestamp int64 // epoch ms, or 0 when the message's own stamp is checked against its text
}

// sendGo writes messages over TCP with the given framing, each split in two writes at a position
// that walks through every byte of the frame, so that frames straddle reads.
func sendGo(t *testing.T, port int, octetCounted bool, msgs []string) {
	t.Helper()
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i, m := range msgs {
		frame := m + "\n"
		if octetCounted {
			frame = fmt.Sprintf("%d %s", len(m), m)
		}
		cut := i % (len(frame) + 1)
		for _, part := range []string{frame[:cut], frame[cut:]} {
			if _, err := conn.Write([]byte(part)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// runLogger sends each line of lines with util-linux logger, one process for all of them.
func runLogger(t *testing.T, lines []string, args ...string) {
	t.Helper()
	path := Program(t, "logger")
	file := filepath.Join(t.TempDir(), "lines")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, append(args, "-f", file)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger %v: %v\n%s", args, err, out)
	}
}

var rfc5424Stamp = regexp.MustCompile(`^<\d+>1 (\S+) `)

// checkDelivered finds every expected message exactly once in recs, with the right group, stream,
// id and timestamp.
func checkDelivered(t *testing.T, recs []*record.Record, owner string, want map[string]sent, since time.Time) {
	t.Helper()
	found := map[string]int{}
	ids := map[string]bool{}
	for _, rec := range recs {
		if rec.Owner != owner || rec.MessageType != "DATA_MESSAGE" || rec.LogStream != "127.0.0.1" {
			t.Errorf("record owner %q type %q stream %q; want %q DATA_MESSAGE 127.0.0.1", rec.Owner, rec.MessageType, rec.LogStream, owner)
		}
		if len(rec.SubscriptionFilters) != 1 || rec.SubscriptionFilters[0] != rec.LogGroup {
			t.Errorf("record filters %q, want [%q]", rec.SubscriptionFilters, rec.LogGroup)
		}
		for _, ev := range rec.LogEvents {
			if m := uuidV7.FindStringSubmatch(ev.ID); m == nil || ids[ev.ID] {
				t.Errorf("event id %q is not a fresh UUIDv7", ev.ID)
			} else if ms, _ := strconv.ParseInt(m[1]+m[2], 16, 64); ms < since.UnixMilli() || ms > time.Now().UnixMilli() {
				t.Errorf("event id %q carries %v, want a time since %v", ev.ID, time.UnixMilli(ms), since)
			}
			ids[ev.ID] = true
			token := tokenOf(ev.Message)
			w, ok := want[token]
			if !ok {
				t.Errorf("unexpected event %q", ev.Message)
				continue
			}
			found[token]++
			if group := fmt.Sprintf("/kinesyslog/syslog/%d", w.port); rec.LogGroup != group {
				t.Errorf("%s: logGroup %q, want %q", token, rec.LogGroup, group)
			}
			wantTS := w.timestamp
			if wantTS == 0 {
				m := rfc5424Stamp.FindStringSubmatch(ev.Message)
				if m == nil {
					t.Errorf("%s: no RFC5424 stamp in %q", token, ev.Message)
					continue
				}
				ts, err := time.Parse(time.RFC3339Nano, m[1])
				if err != nil {
					t.Errorf("%s: stamp %q: %v", token, m[1], err)
					continue
				}
				wantTS = ts.Round(time.Millisecond).UnixMilli()
				if ts.Before(since.Add(-time.Second)) || ts.After(time.Now()) {
					t.Errorf("%s: stamp %v outside the test's run", token, ts)
				}
			}
			if ev.Timestamp != wantTS {
				t.Errorf("%s: timestamp %d, want %d (message %q)", token, ev.Timestamp, wantTS, ev.Message)
			}
		}
	}
	checkExactlyOnce(t, want, found)
}

// checkExactlyOnce reports every token of want that found did not count exactly once.
func checkExactlyOnce[V any](t *testing.T, want map[string]V, found map[string]int) {
	t.Helper()
	missing := 0
	for token := range want {
		switch n := found[token]; {
		case n == 0:
			missing++
		case n > 1:
			t.Errorf("%s delivered %d times", token, n)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d messages missing", missing, len(want))
	}
}

var tokenRE = regexp.MustCompile(`tok-[a-z0-9-]+`)

func tokenOf(msg string) string { return tokenRE.FindString(msg) }

// TestRelayEndToEnd sends messages with logger over TCP and UDP and with a Go client over TCP in
// both framings, and finds each exactly once in what each destination received.
func TestRelayEndToEnd(t *testing.T) {
	destinations := []struct {
		name  string
		setup func(t *testing.T) (args, env []string, owner string, delivered func() []*record.Record)
	}{
		{name: "output directory", setup: func(t *testing.T) ([]string, []string, string, func() []*record.Record) {
			out := filepath.Join(t.TempDir(), "out")
			return []string{"--output", out}, nil, "000000000000", func() []*record.Record { return Delivered(t, out) }
		}},
		{name: "firehose", setup: func(t *testing.T) ([]string, []string, string, func() []*record.Record) {
			srv := firehosetest.Start(t, firehosetest.Config{})
			args, env := FirehoseArgs(srv)
			return args, env, firehosetest.DefaultAccount, func() []*record.Record { return FirehoseRecords(t, srv) }
		}},
	}
	for _, dest := range destinations {
		t.Run(dest.name, func(t *testing.T) {
			args, env, owner, delivered := dest.setup(t)
			tcpPort, udpPort := testenv.FreePort(t), testenv.FreePort(t)
			since := time.Now()
			relay := Start(t, Options{
				Args:    append(args, "--tcp-port", Port(tcpPort), "--udp-port", Port(udpPort)),
				Env:     env,
				Metrics: true,
			})
			want := map[string]sent{}
			var loggerTCP, loggerOctet, loggerUDP, goLF, goOctet []string
			base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			for i := range 200 {
				for _, c := range []struct {
					lines *[]string
					kind  string
					port  int
				}{{&loggerTCP, "ltcp", tcpPort}, {&loggerOctet, "loct", tcpPort}, {&loggerUDP, "ludp", udpPort}} {
					token := fmt.Sprintf("tok-%s-%d", c.kind, i)
					*c.lines = append(*c.lines, "hello "+token)
					want[token] = sent{port: c.port}
				}
				ts := base.Add(time.Duration(i) * 1001 * time.Millisecond)
				for _, c := range []struct {
					lines *[]string
					kind  string
				}{{&goLF, "golf"}, {&goOctet, "gooc"}} {
					token := fmt.Sprintf("tok-%s-%d", c.kind, i)
					*c.lines = append(*c.lines, fmt.Sprintf("<134>1 %s host%d app %d - - message %s with \"quotes\" and é",
						ts.Format("2006-01-02T15:04:05.000Z"), i%7, i, token))
					want[token] = sent{port: tcpPort, timestamp: ts.UnixMilli()}
				}
			}
			target := []string{"-n", "127.0.0.1", "--rfc5424"}
			runLogger(t, loggerTCP, append(target, "--tcp", "-P", Port(tcpPort))...)
			runLogger(t, loggerOctet, append(target, "--tcp", "--octet-count", "-P", Port(tcpPort))...)
			runLogger(t, loggerUDP, append(target, "--udp", "-P", Port(udpPort))...)
			sendGo(t, tcpPort, false, goLF)
			sendGo(t, tcpPort, true, goOctet)

			// UDP has no end-of-stream: wait until every message was counted before stopping.
			relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v >= float64(len(want)) })
			if err := relay.Stop(); err != nil {
				t.Fatalf("relay exit: %v", err)
			}
			checkDelivered(t, delivered(), owner, want, since)
		})
	}
}
