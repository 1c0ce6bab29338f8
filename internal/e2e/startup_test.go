package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestStartupErrors checks that a relay that cannot work says why in one line and exits non-zero.
func TestStartupErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := Port(busy.Addr().(*net.TCPAddr).Port)

	readOnly := filepath.Join(t.TempDir(), "spool")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	srv := firehosetest.Start(t, firehosetest.Config{Streams: []string{"creating"}})
	srv.SetStream("creating", "CREATING")
	fhArgs, fhEnv := FirehoseArgs(srv)
	withStream := func(stream string) []string {
		args := append([]string(nil), fhArgs...)
		args[1] = stream
		return args
	}
	noCredentials := []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=", "AWS_WEB_IDENTITY_TOKEN_FILE="}
	out := func() string { return filepath.Join(t.TempDir(), "out") }

	tests := []struct {
		name     string
		args     []string
		env      []string
		wantCode int
		want     string
	}{
		{name: "no listener", args: []string{"--output", out()}, wantCode: 2, want: "no listener enabled"},
		{name: "no destination", args: []string{"--tcp-port", "5514"}, wantCode: 2, want: "--stream"},
		{name: "two destinations", args: []string{"--tcp-port", "5514", "--output", out(), "--stream", "s"}, wantCode: 2, want: "--stream"},
		{name: "Kinesis beside Firehose", args: []string{"--tcp-port", "5514", "--kinesis-stream", "k", "--stream", "s"}, wantCode: 2,
			want: "--kinesis-stream and --stream both given"},
		{name: "Kinesis with the Firehose endpoint", args: []string{"--tcp-port", "5514", "--kinesis-stream", "k", "--endpoint-url", "http://127.0.0.1:1"},
			wantCode: 2, want: "set AWS_ENDPOINT_URL_KINESIS"},
		{name: "port in use", args: []string{"--output", out(), "--tcp-port", busyPort}, wantCode: 1, want: "port " + busyPort},
		{name: "spool not writable", args: []string{"--output", out(), "--tcp-port", "0", "--udp-port", Port(testenv.FreePort(t)), "--spool-dir", readOnly},
			wantCode: 1, want: "not writable"},
		{name: "stream missing", args: append(withStream("nosuchstream"), "--tcp-port", Port(testenv.FreePort(t))), env: fhEnv,
			wantCode: 1, want: "does not exist"},
		{name: "stream not active", args: append(withStream("creating"), "--tcp-port", Port(testenv.FreePort(t))), env: fhEnv,
			wantCode: 1, want: "not ACTIVE"},
		{name: "no credentials", args: append(withStream("creating"), "--tcp-port", Port(testenv.FreePort(t))),
			env: append(append([]string(nil), fhEnv...), noCredentials...), wantCode: 1, want: "credentials"},
	}
	if os.Geteuid() == 0 {
		// root writes anywhere: make the spool path a file instead, which no one can use as a directory.
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o600)
		tests[6].args[len(tests[6].args)-1] = filepath.Join(file, "spool")
		tests[6].want = "spool"
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"listen", "--tls-port", "0"}, tt.args...)
			if !hasFlag(args, "--spool-dir") {
				args = append(args, "--spool-dir", filepath.Join(t.TempDir(), "spool"))
			}
			cmd := exec.Command(Binary(t), args...)
			cmd.Env = append(os.Environ(), tt.env...)
			output, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tt.wantCode {
				t.Fatalf("kinesyslog %v: %v, want exit code %d\n%s", args, err, tt.wantCode, output)
			}
			if !strings.Contains(string(output), tt.want) {
				t.Errorf("output does not mention %q:\n%s", tt.want, output)
			}
			if strings.Contains(string(output), "goroutine ") {
				t.Errorf("output has a stack trace:\n%s", output)
			}
		})
	}
}

// TestStartupNoOwner starts a relay for the first time while Firehose and STS refuse every
// connection and no --account-id is given, so that no record can be made: what it receives waits
// in the intake log, on disk, not in memory, and the relay says so. Killed with SIGKILL and
// started again with Firehose up, it delivers every message sent.
func TestStartupNoOwner(t *testing.T) {
	const n = 60_000 // 60 MB of messages, which the buffers would hold in memory without the log
	srv := firehosetest.Start(t, firehosetest.Config{})
	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
	r := startLogRelay(t, srv, faultOptions{})
	base := r.Totals(t)["process_resident_memory_bytes"]
	s := startSender(t, r.tcpPort, "noowner", senderOptions{count: n, payload: payload})
	if got := s.wait(t); s.err != nil {
		t.Fatalf("sender stopped after %d messages: %v", got, s.err)
	}
	r.waitReceived(t, n)
	r.waitMetric(t, "kinesyslog_intake_appended_messages_total", fmt.Sprintf("= %d", n), func(v float64) bool { return v >= n })
	m := r.Totals(t)
	if m["kinesyslog_buffer_bytes"] != 0 || m["kinesyslog_spool_records"] != 0 {
		t.Errorf("buffers hold %v bytes and the spool %v records while the owner is unknown, want none: the messages wait in the log",
			m["kinesyslog_buffer_bytes"], m["kinesyslog_spool_records"])
	}
	if m["kinesyslog_intake_bytes"] < n*payload {
		t.Errorf("intake log holds %v bytes, want at least the %d of the messages", m["kinesyslog_intake_bytes"], n*payload)
	}
	grown := m["process_resident_memory_bytes"] - base
	if grown > n*payload/2 {
		t.Errorf("resident memory grew by %.0f MiB while %d MB waited in the log, want under half of it", grown/(1<<20), n*payload/1_000_000)
	}
	if got := m["kinesyslog_intake_held_messages"]; got != n {
		t.Errorf("kinesyslog_intake_held_messages = %v, want the %d messages waiting for the owner", got, n)
	}
	if !strings.Contains(r.Log(), "waiting for the record owner") {
		t.Error("no warning that messages wait in the intake log for the record owner")
	}
	t.Logf("no owner: %d messages in the intake log (%.0f MB), %v bytes in the buffers, resident memory grew by %.0f MiB",
		n, m["kinesyslog_intake_bytes"]/1e6, m["kinesyslog_buffer_bytes"], grown/(1<<20))

	r.kill9(t)
	srv.SetFault(firehosetest.Fault{})
	again := startLogRelay(t, srv, faultOptions{spoolDir: r.spoolDir})
	again.waitMetric(t, "kinesyslog_intake_replayed_messages_total", fmt.Sprintf("= %d", n), func(v float64) bool { return v >= n })
	stopClean(t, again)
	checkLogDelivered(t, srv, "no owner, kill -9, restart", tokens("noowner", n))
}
