package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/install"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// invocation is one run of the command tree in-process.
type invocation struct {
	args  []string
	env   map[string]string
	stdin string
	relay func(context.Context, config.Config, *slog.Logger) error
}

// result is what a run gave back.
type result struct {
	code           int
	stdout, stderr string
}

func (in invocation) run(t *testing.T) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{
		stdin:      strings.NewReader(in.stdin),
		stdout:     &stdout,
		stderr:     &stderr,
		lookupEnv:  func(k string) (string, bool) { v, ok := in.env[k]; return v, ok },
		environ:    func() []string { return environOf(in.env) },
		executable: func() (string, error) { return "/usr/local/bin/kinesyslog", nil },
		version:    "v9.9.9",
		relay:      in.relay,
	}
	if a.relay == nil {
		a.relay = func(context.Context, config.Config, *slog.Logger) error {
			t.Errorf("kinesyslog %q ran the relay", in.args)
			return nil
		}
	}
	code := a.run(t.Context(), in.args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func TestVersion(t *testing.T) {
	got := invocation{args: []string{"version"}}.run(t)
	want := result{stdout: "kinesyslog v9.9.9 (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("kinesyslog version mismatch (-want +got):\n%s", diff)
	}
}

func TestVersionLine(t *testing.T) {
	goSuffix := " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.modified", Value: "true"},
		{Key: "vcs.revision", Value: "0123abcd"},
	}
	tests := []struct {
		name    string
		release string
		bi      *debug.BuildInfo
		want    string
	}{
		{name: "no build info", want: "kinesyslog (devel)"},
		{name: "ldflags win", release: "v2.0.0", bi: &debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"}}, want: "kinesyslog v2.0.0"},
		{name: "module version", bi: &debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"}}, want: "kinesyslog v1.0.0"},
		{name: "revision", bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs}, want: "kinesyslog (devel) 0123abcd+dirty"},
		{name: "modified without revision", bi: &debug.BuildInfo{Settings: vcs[:2]}, want: "kinesyslog (devel)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionLine(tt.release, tt.bi); got != tt.want+goSuffix {
				t.Errorf("versionLine(%q, %+v) = %q, want %q", tt.release, tt.bi, got, tt.want+goSuffix)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		in   invocation
		want []string // the lines of stderr, each without "kinesyslog: "
	}{
		{
			name: "no destination",
			in:   invocation{args: []string{"listen"}},
			want: []string{"no destination: set --stream NAME (Firehose), --kinesis-stream NAME (Kinesis Data Streams) or --output DIR (local directory)"},
		},
		{
			name: "no listener",
			in:   invocation{args: []string{"listen", "--output", "/out", "--tls-port", "0"}},
			want: []string{"no listener enabled: set --udp-port, --tcp-port or --tls-port"},
		},
		{
			name: "no listener from the environment",
			in:   invocation{args: []string{"listen", "--stream", "s"}, env: map[string]string{"KINESYSLOG_TLS_PORT": "0"}},
			want: []string{"no listener enabled: set --udp-port, --tcp-port or --tls-port"},
		},
		{
			name: "every problem at once",
			in: invocation{
				args: []string{"listen", "--stream", "s", "--tls-port", "0", "--cert", "/c.pem"},
				env:  map[string]string{"KINESYSLOG_OUTPUT": "/out"},
			},
			want: []string{
				"--stream and --output both given: set only one destination",
				"no listener enabled: set --udp-port, --tcp-port or --tls-port",
				"--cert and --key: give both or neither",
				"--cert given but no --tls-port is enabled",
			},
		},
		{
			name: "bad environment",
			in:   invocation{args: []string{"listen"}, env: map[string]string{"KINESYSLOG_UDP_PORT": "514 syslog", "KINESYSLOG_GELF": "perhaps"}},
			want: []string{
				`KINESYSLOG_UDP_PORT="514 syslog": invalid value "syslog" for --udp-port: invalid syntax`,
				`KINESYSLOG_GELF="perhaps": want 1, 0, true, false, yes or no`,
			},
		},
		{
			name: "bad flag value",
			in:   invocation{args: []string{"listen", "--timezone", "Nowhere/Special"}},
			want: []string{`invalid argument "Nowhere/Special" for "--timezone" flag: unknown time zone Nowhere/Special`},
		},
		{
			name: "unknown flag",
			in:   invocation{args: []string{"listen", "--stream", "s", "--port", "514"}},
			want: []string{"unknown flag: --port"},
		},
		{
			name: "listen takes no arguments",
			in:   invocation{args: []string{"listen", "--stream", "s", "extra"}},
			want: []string{`unknown command "extra" for "kinesyslog listen"`},
		},
		{
			name: "unknown command",
			in:   invocation{args: []string{"relay"}},
			want: []string{`unknown command "relay" for "kinesyslog"`},
		},
		{
			name: "dump without paths",
			in:   invocation{args: []string{"dump"}},
			want: []string{"dump: give at least one PATH: a file, a directory, s3://BUCKET/PREFIX, or - for stdin"},
		},
		{
			name: "dump options, every problem at once",
			in: invocation{args: []string{"dump", "--format", "yaml", "--since", "yesterday", "--until", "-1h",
				"--external-id", "ext-id", "s3://bucket/"}},
			want: []string{
				`dump: --format "yaml": want text, json or jsonl`,
				`dump: --since "yesterday": want a duration before now (90m, 2h, 7d), an RFC 3339 time (2026-12-03T06:00:00Z), or a UTC date (2026-12-03) or time (2026-12-03T06:00)`,
				`dump: --until "-1h": want a duration before now (90m, 2h, 7d), an RFC 3339 time (2026-12-03T06:00:00Z), or a UTC date (2026-12-03) or time (2026-12-03T06:00)`,
				"--external-id needs --role-arn: it is sent when assuming the role",
			},
		},
		{
			name: "dump of an empty time range",
			in:   invocation{args: []string{"dump", "--since", "2026-12-03", "--until", "2026-12-02", "-"}},
			want: []string{"dump: --until 2026-12-02T00:00:00Z is not after --since 2026-12-03T00:00:00Z"},
		},
		{
			name: "dump of a bad S3 URL",
			in:   invocation{args: []string{"dump", "s3:///prefix"}},
			want: []string{`s3read: "s3:///prefix" is not s3://BUCKET/PREFIX`},
		},
		{
			name: "install for an unknown user",
			in:   invocation{args: []string{"install", "--user", "no-such-user-kinesyslog", "--system-dir", "/nonexistent"}},
			want: []string{`install: unknown user "no-such-user-kinesyslog"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.run(t)
			var want strings.Builder
			for _, l := range tt.want {
				want.WriteString("kinesyslog: " + l + "\n")
			}
			if diff := cmp.Diff(result{code: exitUsage, stderr: want.String()}, got, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("kinesyslog %q mismatch (-want +got):\n%s", tt.in.args, diff)
			}
		})
	}
}

func TestListenRunsRelay(t *testing.T) {
	var got config.Config
	var debugOn bool
	in := invocation{
		args: []string{"listen", "--tcp-port", "5514", "--debug"},
		env: map[string]string{
			"KINESYSLOG_STREAM":    "logs",
			"KINESYSLOG_TCP_PORT":  "601",
			"KINESYSLOG_UDP_PORT":  "514 515",
			"KINESYSLOG_SPOOL_DIR": "/spool",
		},
		relay: func(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
			got = cfg
			debugOn = logger.Enabled(ctx, slog.LevelDebug)
			return nil
		},
	}
	if r := in.run(t); r.code != exitOK || r.stderr != "" {
		t.Fatalf("kinesyslog %q = %d, stderr %q; want 0", in.args, r.code, r.stderr)
	}
	want := config.Default()
	want.Streams = []string{"logs"}
	want.TCPPorts = []int{5514}
	want.UDPPorts = []int{514, 515}
	want.SpoolDir, want.IntakeDir = "/spool", "/spool/intake"
	want.FlushAge = time.Minute
	want.Debug = true
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b *time.Location) bool { return a.String() == b.String() })); diff != "" {
		t.Errorf("relay config mismatch (-want +got):\n%s", diff)
	}
	if !debugOn {
		t.Errorf("--debug: logger does not log at Debug level")
	}
}

// environOf returns env in os.Environ's NAME=value form.
func environOf(env map[string]string) []string {
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	return environ
}

func TestListenWarnsOfUnknownVariables(t *testing.T) {
	in := invocation{
		args:  []string{"listen", "--tcp-port", "5514", "--spool-dir", "/spool"},
		env:   map[string]string{"KINESYSLOG_STRAEM": "logs", "KINESYSLOG_OUTPUT": "/out"},
		relay: func(context.Context, config.Config, *slog.Logger) error { return nil },
	}
	r := in.run(t)
	want := `level=WARN msg="environment variable ignored: no option reads it" variable=KINESYSLOG_STRAEM did_you_mean=KINESYSLOG_STREAM`
	if r.code != exitOK || !strings.Contains(r.stderr, want) {
		t.Errorf("kinesyslog %q = %d, stderr %q; want 0 and a line with %q", in.args, r.code, r.stderr, want)
	}
}

// TestListenLogFormat checks that with --log-format json everything written to stderr is a JSON
// line, also why the relay could not start or failed.
func TestListenLogFormat(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		relay error
		code  int
		want  []string // level and message of each line
	}{
		{name: "runs", code: exitOK,
			want: []string{"WARN environment variable ignored: no option reads it", "INFO relay started"}},
		{name: "relay fails", relay: errors.New("listen tcp 0.0.0.0:5514: bind: address already in use"), code: exitFailure,
			want: []string{"WARN environment variable ignored: no option reads it", "INFO relay started",
				"ERROR relay failed listen tcp 0.0.0.0:5514: bind: address already in use"}},
		{name: "invalid configuration", args: []string{"--udp-port", "70000", "--max-connections", "-1"}, code: exitUsage,
			want: []string{"ERROR invalid configuration --udp-port 70000: want a port from 1 to 65535, or 0 to disable",
				"ERROR invalid configuration --max-connections -1: want 0 (no limit) or more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := invocation{
				args: append([]string{"listen", "--tcp-port", "5514", "--spool-dir", "/spool", "--log-format", "json"}, tt.args...),
				env:  map[string]string{"KINESYSLOG_STRAEM": "logs", "KINESYSLOG_OUTPUT": "/out"},
				relay: func(_ context.Context, _ config.Config, logger *slog.Logger) error {
					logger.Info("relay started", "listeners", []string{"tcp 0.0.0.0:5514 syslog"})
					return tt.relay
				},
			}
			r := in.run(t)
			if r.code != tt.code {
				t.Errorf("kinesyslog %q = %d, want %d", in.args, r.code, tt.code)
			}
			var lines []string
			for line := range strings.Lines(r.stderr) {
				var entry struct{ Level, Msg, Error string }
				if err := json.Unmarshal([]byte(line), &entry); err != nil {
					t.Fatalf("stderr line %q is not JSON: %v", line, err)
				}
				lines = append(lines, strings.TrimSpace(entry.Level+" "+entry.Msg+" "+entry.Error))
			}
			if diff := cmp.Diff(tt.want, lines); diff != "" {
				t.Errorf("--log-format json: log mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListenRelayFails(t *testing.T) {
	in := invocation{
		args: []string{"listen", "--output", "/out", "--spool-dir", "/spool"},
		relay: func(ctx context.Context, _ config.Config, logger *slog.Logger) error {
			if logger.Enabled(ctx, slog.LevelDebug) {
				t.Errorf("logger logs at Debug level without --debug")
			}
			return errors.New("listen tcp 0.0.0.0:6514: bind: address already in use")
		},
	}
	got := in.run(t)
	want := result{code: exitFailure, stderr: "kinesyslog: listen tcp 0.0.0.0:6514: bind: address already in use\n"}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("kinesyslog %q mismatch (-want +got):\n%s", in.args, diff)
	}
}

// TestListenSignal checks that SIGTERM cancels the relay's context and that the relay's clean
// return then exits 0.
func TestListenSignal(t *testing.T) {
	started := make(chan struct{})
	in := invocation{
		args: []string{"listen", "--output", "/out", "--spool-dir", "/spool"},
		relay: func(ctx context.Context, _ config.Config, _ *slog.Logger) error {
			close(started)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Minute):
				return errors.New("no signal within a minute")
			}
		},
	}
	done := make(chan result)
	go func() { done <- in.run(t) }()
	<-started
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got.code != exitOK || got.stderr != "" {
		t.Errorf("kinesyslog listen after SIGTERM = %d, stderr %q; want 0", got.code, got.stderr)
	}
}

func TestListenHelp(t *testing.T) {
	got := invocation{args: []string{"listen", "--help"}}.run(t)
	if got.code != exitOK || got.stderr != "" {
		t.Fatalf("kinesyslog listen --help = %d, stderr %q", got.code, got.stderr)
	}
	golden := filepath.Join("testdata", "listen-help.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got.stdout); diff != "" {
		t.Errorf("kinesyslog listen --help mismatch with %s (-want +got):\n%s", golden, diff)
	}
}

func TestInstall(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	in := invocation{args: []string{"install", "--user", me.Username, "--system-dir", dir, "--spool-dir", spool}}
	path := filepath.Join(dir, install.UnitName)
	dropIn := filepath.Join(dir, install.UnitName+".d", install.DropInName)
	// A second install keeps the drop-in, and says so.
	for _, wantDropIn := range []string{"Wrote " + dropIn, "Kept " + dropIn + ", which exists"} {
		got := in.run(t)
		want := result{stdout: "Wrote " + path + "\n" + wantDropIn + "\n\n" + install.NextSteps}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(result{})); diff != "" {
			t.Fatalf("kinesyslog %q mismatch (-want +got):\n%s", in.args, diff)
		}
	}
	unit, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantUnit, err := install.Render(install.Options{Executable: "/usr/local/bin/kinesyslog", User: me.Username, SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(wantUnit), string(unit)); diff != "" {
		t.Errorf("installed unit mismatch (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(spool); err != nil || !fi.IsDir() {
		t.Errorf("spool dir: %v", err)
	}
}

func TestInstallFails(t *testing.T) {
	in := invocation{args: []string{"install", "--system-dir", filepath.Join(t.TempDir(), "missing"), "--spool-dir", t.TempDir()}}
	if me, err := user.Current(); err == nil {
		in.args = append(in.args, "--user", me.Username)
	}
	got := in.run(t)
	if got.code != exitFailure || !strings.HasPrefix(got.stderr, "kinesyslog: install: write ") || got.stdout != "" {
		t.Errorf("kinesyslog %q = %d, stdout %q, stderr %q; want 1 and the write error", in.args, got.code, got.stdout, got.stderr)
	}
}
