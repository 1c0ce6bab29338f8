package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gogelf "github.com/Graylog2/go-gelf/gelf"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestLogFormatJSON runs the relay with --log-format json through a start, a message from
// logger, and a shutdown, and checks that every line it writes is a JSON object and that the
// one "relay started" line lists its listeners, destination, spool, intake log and limits.
func TestLogFormatJSON(t *testing.T) {
	loggerPath := Program(t, "logger")
	out := filepath.Join(t.TempDir(), "out")
	tcp, udp := testenv.FreePort(t), testenv.FreePort(t)
	relay := Start(t, Options{Args: []string{"--output", out, "--address", "127.0.0.1", "--log-format", "json",
		"--tcp-port", Port(tcp), "--udp-port", Port(udp), "--max-message-size", "8KiB"}})
	if b, err := exec.Command(loggerPath, "--tcp", "-n", "127.0.0.1", "-P", Port(tcp), "json log test").CombinedOutput(); err != nil {
		t.Fatalf("logger: %v\n%s", err, b)
	}
	if err := relay.Stop(); err != nil {
		t.Fatalf("relay exit: %v", err)
	}

	type startup struct {
		Listeners   []string
		Destination string
		Spool       string
		IntakeLog   string `json:"intake_log"`
		Limits      map[string]any
	}
	var started []startup
	var msgs []string
	for line := range strings.Lines(relay.Log()) {
		var entry struct {
			Time, Level, Msg string
			startup
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil || entry.Time == "" || entry.Level == "" {
			t.Errorf("log line is not a slog JSON object (%v): %q", err, line)
			continue
		}
		msgs = append(msgs, entry.Msg)
		if entry.Msg == "relay started" {
			started = append(started, entry.startup)
		}
	}
	if !slices.Contains(msgs, "relay stopped") {
		t.Errorf("no relay stopped line among %q", msgs)
	}
	if len(started) != 1 {
		t.Fatalf("%d relay started lines, want 1", len(started))
	}
	s := started[0]
	wantListeners := []string{"tcp 127.0.0.1:" + Port(tcp) + " syslog", "udp 127.0.0.1:" + Port(udp) + " syslog"}
	if !slices.Equal(s.Listeners, wantListeners) {
		t.Errorf("listeners = %q, want %q", s.Listeners, wantListeners)
	}
	if !strings.Contains(s.Destination, out) || s.Spool != relay.SpoolDir || s.IntakeLog == "" {
		t.Errorf("destination, spool, intake log = %q, %q, %q; want %s, %s and the log's state", s.Destination, s.Spool, s.IntakeLog, out, relay.SpoolDir)
	}
	for _, k := range []string{"max_message_bytes", "buffer_max_bytes", "spool_max_bytes", "intake_max_bytes",
		"max_connections", "idle_timeout", "flush_age", "stall_timeout", "upload_timeout", "shutdown_timeout"} {
		if _, ok := s.Limits[k]; !ok {
			t.Errorf("limits lack %s: %v", k, s.Limits)
		}
	}
	if got := s.Limits["max_message_bytes"]; got != float64(8192) {
		t.Errorf("limits.max_message_bytes = %v, want 8192", got)
	}
}

// TestMetricsAndReadiness scrapes /metrics during a run and checks the counters against what was
// sent and what the Firehose test server stored (messages and bytes received, records and bytes
// delivered), and checks that /readyz answers 503, naming the destination, while Firehose is
// down and records wait, and 200 again once it is back, while /healthz stays 200.
func TestMetricsAndReadiness(t *testing.T) {
	srv := firehosetest.Start(t, firehosetest.Config{})
	args, env := FirehoseArgs(srv)
	tcp := testenv.FreePort(t)
	relay := Start(t, Options{Args: append(args, "--address", "127.0.0.1", "--tcp-port", Port(tcp),
		"--flush-age", "1s", "--stall-timeout", "2s"), Env: env, Metrics: true})
	probe := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + relay.MetricsAddress + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	waitProbe := func(path string, code int, want string) {
		t.Helper()
		var got int
		var body string
		testenv.Eventually(t, fmt.Sprintf("GET %s to answer %d with %q", path, code, want), func() bool {
			got, body = probe(path)
			return got == code && strings.Contains(body, want)
		})
	}
	waitProbe("/readyz", 200, "ok\n")

	sent, sentBytes := 0, 0
	send := func(n int) {
		t.Helper()
		conn, err := net.Dial("tcp", "127.0.0.1:"+Port(tcp))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for range n {
			msg := fmt.Sprintf("<13>1 2026-12-03T05:00:00Z host app - - - metrics message %d", sent)
			b.WriteString(msg + "\n")
			sent, sentBytes = sent+1, sentBytes+len(msg)
		}
		if _, err := io.WriteString(conn, b.String()); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	events := func() int {
		n := 0
		for _, r := range FirehoseRecords(t, srv) {
			n += len(r.LogEvents)
		}
		return n
	}
	checkCounters := func() {
		t.Helper()
		testenv.Eventually(t, fmt.Sprintf("%d events delivered", sent), func() bool { return events() == sent })
		records, recordBytes := 0, 0
		for _, r := range srv.Records() {
			records, recordBytes = records+1, recordBytes+len(r.Data)
		}
		testenv.Eventually(t, "the spool to be empty", func() bool { return relay.Metric(t, "kinesyslog_spool_records") == 0 })
		m := relay.Totals(t)
		for name, want := range map[string]int{
			"kinesyslog_messages_received_total":        sent,
			"kinesyslog_message_bytes_received_total":   sentBytes,
			"kinesyslog_upload_delivered_records_total": records,
			"kinesyslog_upload_delivered_bytes_total":   recordBytes,
		} {
			if m[name] != float64(want) {
				t.Errorf("%s = %v, want %d", name, m[name], want)
			}
		}
	}

	send(500)
	checkCounters()
	if code, body := probe("/readyz?format=json"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("GET /readyz?format=json = %d %s, want 200 and status ok", code, body)
	}

	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
	send(50)
	waitProbe("/readyz", 503, "destination: no record delivered for")
	if code, body := probe("/healthz"); code != 200 {
		t.Errorf("GET /healthz while Firehose is down = %d %s, want 200", code, body)
	}
	if got := relay.Totals(t)["kinesyslog_upload_call_errors_total"]; got == 0 {
		t.Errorf("kinesyslog_upload_call_errors_total = 0 while Firehose is down")
	}

	srv.SetFault(firehosetest.Fault{})
	waitProbe("/readyz", 200, "destination: ok\n")
	checkCounters()
	if err := relay.Stop(); err != nil {
		t.Errorf("relay exit: %v", err)
	}
}

// TestQuickStart runs the README's first command word for word (the binary built from this
// checkout in place of `go run ./cmd/kinesyslog`), in a directory of its own, sends it a
// message with logger as the README says, and finds the message with `kinesyslog dump ./out`
// within a few seconds, as a newcomer would.
func TestQuickStart(t *testing.T) {
	loggerPath := Program(t, "logger")
	_, file, _, _ := runtime.Caller(0)
	readme, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```sh\n")
	command, _, _ := strings.Cut(block, "\n")
	const goRun = "go run ./cmd/kinesyslog "
	if !ok || !strings.HasPrefix(command, goRun+"listen ") {
		t.Fatalf("the README's first command is %q, want one starting with %q", command, goRun+"listen")
	}
	args := strings.Fields(strings.TrimPrefix(command, goRun+"listen "))
	// The README's port: a program holding it is not the relay's fault.
	ln, err := net.Listen("tcp", ":5514")
	if err != nil {
		t.Skipf("TCP port 5514, which the README's command takes, is in use: %v", err)
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", ":5514")
	if err != nil {
		t.Skipf("UDP port 5514, which the README's command takes, is in use: %v", err)
	}
	pc.Close()
	dir := t.TempDir()
	relay := Start(t, Options{Args: args, Dir: dir})

	token := fmt.Sprintf("hello-%d", time.Now().UnixNano())
	if b, err := exec.Command(loggerPath, "--tcp", "-n", "127.0.0.1", "-P", "5514", token).CombinedOutput(); err != nil {
		t.Fatalf("logger: %v\n%s", err, b)
	}
	sent := time.Now()
	var dumped []byte
	testenv.EventuallyWithin(t, 10*time.Second, "kinesyslog dump ./out to print the message", func() bool {
		cmd := exec.Command(Binary(t), "dump", "./out")
		cmd.Dir = dir
		dumped, _ = cmd.Output() // no object yet is an error too: try again
		return strings.Contains(string(dumped), token)
	})
	t.Logf("the message showed in dump ./out %v after logger sent it", time.Since(sent).Round(100*time.Millisecond))
	if err := relay.Stop(); err != nil {
		t.Errorf("relay exit: %v", err)
	}
}

// TestSyslogBesideGELF runs one relay with syslog ports (--udp-port, --tcp-port) and GELF ports
// (--gelf-udp-port, --gelf-tcp-port) at once, with the intake log, and sends to all of them at
// the same time with logger and Graylog's Go GELF client (chunked and gzip datagrams, TCP): each
// message is delivered once, in <prefix>/syslog/<port> or <prefix>/gelf/<port> by the port it
// came to, GELF with its own timestamp.
func TestSyslogBesideGELF(t *testing.T) {
	loggerPath := Program(t, "logger")
	ports := testenv.FreePorts(t, 4)
	syslogUDP, syslogTCP, gelfUDP, gelfTCP := ports[0], ports[1], ports[2], ports[3]
	relay := startInteropRelay(t, []int{syslogTCP}, []int{syslogUDP}, "--address", "127.0.0.1", "--intake-log", "on",
		"--gelf-udp-port", Port(gelfUDP), "--gelf-tcp-port", Port(gelfTCP))

	type where struct {
		group string
		stamp int64 // 0: any
	}
	want := map[string]where{}
	var wg sync.WaitGroup
	for _, c := range []struct {
		flag string
		port int
	}{{"--udp", syslogUDP}, {"--tcp", syslogTCP}} {
		wg.Go(func() {
			for i := range 20 {
				token := fmt.Sprintf("tok-syslog%s-%d", c.flag, i)
				if b, err := exec.Command(loggerPath, c.flag, "-n", "127.0.0.1", "-P", Port(c.port), token).CombinedOutput(); err != nil {
					t.Errorf("logger %s: %v\n%s", c.flag, err, b)
				}
			}
		})
		for i := range 20 {
			want[fmt.Sprintf("tok-syslog%s-%d", c.flag, i)] = where{group: "/kinesyslog/syslog/" + Port(c.port)}
		}
	}
	gelfMessage := func(token string, i, fullBytes int) *gogelf.Message {
		stamp := 1_764_038_095.0 + float64(i) + 0.125
		want[token] = where{"/kinesyslog/gelf/" + Port(map[bool]int{true: gelfTCP, false: gelfUDP}[strings.Contains(token, "tcp")]), int64(stamp * 1000)}
		return &gogelf.Message{Version: "1.1", Host: "app.example.org", Short: token, Full: strings.Repeat("x", fullBytes),
			TimeUnix: stamp, Level: gogelf.LOG_INFO, Extra: map[string]any{"_token": token}}
	}
	for _, c := range []struct {
		network string
		open    func() (gogelf.Writer, error)
		bytes   func(i int) int
	}{
		{"udp", func() (gogelf.Writer, error) { return gogelf.NewUDPWriter("127.0.0.1:" + Port(gelfUDP)) },
			func(i int) int { return 100 + i%2*20_000 }}, // every other one chunked
		{"tcp", func() (gogelf.Writer, error) { return gogelf.NewTCPWriter("127.0.0.1:" + Port(gelfTCP)) },
			func(int) int { return 200 }},
	} {
		var msgs []*gogelf.Message
		for i := range 20 {
			msgs = append(msgs, gelfMessage(fmt.Sprintf("tok-gelf-%s-%d", c.network, i), i, c.bytes(i)))
		}
		wg.Go(func() {
			w, err := c.open()
			if err != nil {
				t.Error(err)
				return
			}
			defer w.Close()
			for _, m := range msgs {
				if err := w.WriteMessage(m); err != nil {
					t.Errorf("go-gelf %s: %v", c.network, err)
				}
			}
		})
	}
	wg.Wait()
	relay.waitReceived(t, len(want))
	found := map[string]int{}
	for _, rec := range relay.stopAndRead(t) {
		for _, ev := range rec.LogEvents {
			i := strings.Index(ev.Message, "tok-")
			if i < 0 {
				t.Errorf("unexpected event %.80q", ev.Message)
				continue
			}
			token := strings.FieldsFunc(ev.Message[i:], func(r rune) bool { return r == '"' || r == ' ' })[0]
			w, ok := want[token]
			if !ok {
				t.Errorf("unexpected event %.80q", ev.Message)
				continue
			}
			found[token]++
			if rec.LogGroup != w.group {
				t.Errorf("%s: logGroup %q, want %q", token, rec.LogGroup, w.group)
			}
			if w.stamp != 0 && ev.Timestamp != w.stamp {
				t.Errorf("%s: timestamp %d, want %d (GELF's own)", token, ev.Timestamp, w.stamp)
			}
		}
	}
	checkExactlyOnce(t, want, found)
}

// TestIntakeReplaysFormats kills -9 a relay that holds syslog and GELF messages in its intake log
// only (Firehose down, less than a batch each) and starts it again on the same spool and log:
// each replayed entry is read as the format it arrived in, GELF with its own timestamp and its
// JSON as sent, syslog as syslog, each in its group.
func TestIntakeReplaysFormats(t *testing.T) {
	srv := firehosetest.Start(t, firehosetest.Config{})
	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
	gelfPort := testenv.FreePort(t)
	gelfArgs := []string{"--gelf-tcp-port", Port(gelfPort)}
	r := startLogRelay(t, srv, faultOptions{args: gelfArgs})

	const n = 100
	type event struct {
		group   string
		stamp   int64
		message string
	}
	want := map[string]event{}
	var syslogData, gelfData strings.Builder
	for i := range n {
		token := fmt.Sprintf("tok-syslog-%d", i)
		msg := fmt.Sprintf("<13>1 2026-12-03T05:00:%02d.500Z host app - - - %s", i%60, token)
		syslogData.WriteString(msg + "\n")
		want[token] = event{"/kinesyslog/syslog/" + Port(r.tcpPort), time.Date(2026, 12, 3, 5, 0, i%60, 500e6, time.UTC).UnixMilli(), msg}
		token = fmt.Sprintf("tok-gelf-%d", i)
		msg = fmt.Sprintf(`{"version":"1.1","host":"h","short_message":"%s","timestamp":%d.25}`, token, 1_764_038_095+i)
		gelfData.WriteString(msg + "\x00")
		want[token] = event{"/kinesyslog/gelf/" + Port(gelfPort), int64(1_764_038_095+i)*1000 + 250, msg}
	}
	for port, data := range map[int]string{r.tcpPort: syslogData.String(), gelfPort: gelfData.String()} {
		conn, err := net.Dial("tcp", "127.0.0.1:"+Port(port))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, data); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	r.waitReceived(t, 2*n)
	r.waitSynced(t, 2*n)
	r.kill9(t)
	if names := spoolNames(t, r.spoolDir); len(names) > 0 {
		t.Fatalf("%d records spooled before the kill, want none: the log alone holds the messages", len(names))
	}

	srv.SetFault(firehosetest.Fault{})
	again := startLogRelay(t, srv, faultOptions{spoolDir: r.spoolDir, tcpPort: r.tcpPort, args: gelfArgs})
	again.waitMetric(t, "kinesyslog_intake_replayed_messages_total", "all replayed", func(v float64) bool { return v == 2*n })
	stopClean(t, again)
	found := map[string]int{}
	for _, rec := range FirehoseRecords(t, srv) {
		for _, ev := range rec.LogEvents {
			token := faultToken.FindString(ev.Message)
			found[token]++
			if got, w := (event{rec.LogGroup, ev.Timestamp, ev.Message}), want[token]; got != w {
				t.Errorf("%s replayed as %+v, want %+v", token, got, w)
			}
		}
	}
	checkExactlyOnce(t, want, found)
}
