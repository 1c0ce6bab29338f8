// Package e2e runs the real kinesyslog binary on loopback, for tests that send it messages with
// real clients and read what it delivered, as a user would. It is imported only by tests.
//
// Start builds the binary once per test process, runs `kinesyslog listen` with the given options
// on free ports, waits until it listens, and stops it with SIGTERM when the test ends. Delivered
// reads the records from a local output directory; FirehoseEnv points the relay at a
// firehosetest.Server with its test credentials.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/record"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// startTimeout bounds how long the relay may take to start listening.
const startTimeout = 30 * time.Second

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// Main runs the tests of a package that uses Binary and then removes the binary, so that test
// runs leave nothing in the temporary directory. Call it from TestMain: os.Exit(e2e.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	return code
}

// Binary returns the path of a kinesyslog binary built from this checkout, building it on first
// use, as the Dockerfile does: static (CGO_ENABLED=0) and with -trimpath, so that the tests run
// the binary the container image ships, and the image's test reuses it. Packages that call it
// run their tests through Main.
func Binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kinesyslog-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "kinesyslog")
		cmd := exec.Command("go", "build", "-trimpath", "-o", binary, "./cmd/kinesyslog")
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		tb.Fatalf("build kinesyslog: %v", buildErr)
	}
	return binary
}

// RepoRoot returns the directory of this checkout.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Relay is a running kinesyslog process.
type Relay struct {
	Cmd      *exec.Cmd
	SpoolDir string
	// MetricsAddress serves /metrics when Options.Metrics was set.
	MetricsAddress string
	tb             testing.TB
	log            testenv.Buffer
	exited         chan struct{}
	waitErr        error
}

// Options says how to run the relay.
type Options struct {
	Args []string // options of `kinesyslog listen`; --tls-port 0 and a spool dir are added when absent
	Env  []string // added to the test's environment
	// NoWait skips waiting for "relay started", for relays expected to fail at start.
	NoWait bool
	// Metrics serves the relay's metrics on a free loopback port, for Relay.Metric.
	Metrics bool
	// MetricsAddress is where Metrics serves them instead of a free port, for a relay restarted
	// where a load balancer's health check looks.
	MetricsAddress string
	// Dir is the relay's working directory, for relative paths in Args; "" is the test's.
	Dir string
}

// Start runs `kinesyslog listen` and waits until it has started listening (its "relay started"
// line, in either --log-format). The relay is stopped
// with SIGTERM, and its log attached to the test's output on failure, when the test ends.
func Start(tb testing.TB, opts Options) *Relay {
	tb.Helper()
	args := append([]string{"listen"}, opts.Args...)
	if !hasFlag(args, "--tls-port") {
		args = append(args, "--tls-port", "0")
	}
	r := &Relay{tb: tb, exited: make(chan struct{})}
	if !hasFlag(args, "--spool-dir") {
		r.SpoolDir = filepath.Join(tb.TempDir(), "spool")
		args = append(args, "--spool-dir", r.SpoolDir)
	}
	if opts.Metrics {
		r.MetricsAddress = opts.MetricsAddress
		if r.MetricsAddress == "" {
			r.MetricsAddress = "127.0.0.1:" + Port(testenv.FreePort(tb))
		}
		args = append(args, "--metrics-address", r.MetricsAddress)
	}
	r.Cmd = exec.Command(Binary(tb), args...)
	r.Cmd.Env = append(os.Environ(), opts.Env...)
	r.Cmd.Dir = opts.Dir
	stderr, err := r.Cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	r.Cmd.Stdout = io.Discard
	if err := r.Cmd.Start(); err != nil {
		tb.Fatalf("start relay: %v", err)
	}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			r.log.Write([]byte(sc.Text() + "\n"))
			if line := sc.Text(); strings.Contains(line, `msg="relay started"`) || strings.Contains(line, `"msg":"relay started"`) {
				once.Do(func() { close(started) })
			}
		}
		r.waitErr = r.Cmd.Wait()
		close(r.exited)
	}()
	tb.Cleanup(func() {
		r.Stop()
		if tb.Failed() {
			tb.Logf("relay log:\n%s", r.Log())
		}
	})
	if opts.NoWait {
		return r
	}
	select {
	case <-started:
	case <-r.exited:
		tb.Fatalf("relay exited at start: %v\n%s", r.waitErr, r.Log())
	case <-time.After(startTimeout):
		tb.Fatalf("relay did not start within %v:\n%s", startTimeout, r.Log())
	}
	return r
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// Log returns what the relay has written to stderr so far.
func (r *Relay) Log() string {
	return r.log.String()
}

// WaitLog polls the relay's log until re matches it, and returns the match with its groups;
// it fails the test after testenv.PollTimeout.
func (r *Relay) WaitLog(tb testing.TB, re *regexp.Regexp) []string {
	tb.Helper()
	var m []string
	testenv.Eventually(tb, "a log line matching "+re.String(), func() bool {
		m = re.FindStringSubmatch(r.Log())
		return m != nil
	})
	return m
}

// Signal sends sig to the relay.
func (r *Relay) Signal(sig os.Signal) {
	if err := r.Cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		r.tb.Errorf("signal relay: %v", err)
	}
}

// Stop sends SIGTERM and waits for the relay to exit; it returns the exit error, nil for exit 0.
func (r *Relay) Stop() error {
	r.Signal(syscall.SIGTERM)
	return r.Wait()
}

// Wait waits for the relay to exit by itself and returns its exit error.
func (r *Relay) Wait() error {
	select {
	case <-r.exited:
	case <-time.After(time.Minute):
		r.Cmd.Process.Kill()
		<-r.exited
		r.tb.Errorf("relay did not exit within a minute; killed it")
	}
	return r.waitErr
}

// Exited reports whether the relay process has ended.
func (r *Relay) Exited() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

// Delivered decodes every record of every object under dir, as the relay's --output writes them,
// skipping hidden files such as objects in progress.
func Delivered(tb testing.TB, dir string) []*record.Record {
	tb.Helper()
	var recs []*record.Record
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && path != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		recs = append(recs, Decode(tb, f)...)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("read delivered objects: %v", err)
	}
	return recs
}

// Decode decodes every record in r.
func Decode(tb testing.TB, r io.Reader) []*record.Record {
	tb.Helper()
	var recs []*record.Record
	rd := record.NewReader(r)
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return recs
		}
		if err != nil {
			tb.Fatalf("decode records: %v", err)
		}
		recs = append(recs, rec)
	}
}

// FirehoseRecords decodes the records srv accepted.
func FirehoseRecords(tb testing.TB, srv *firehosetest.Server) []*record.Record {
	tb.Helper()
	var recs []*record.Record
	for _, r := range srv.Records() {
		recs = append(recs, Decode(tb, bytes.NewReader(r.Data))...)
	}
	return recs
}

// FirehoseArgs returns the options and environment that point a relay at srv, with the test
// server's credentials and no other AWS configuration.
func FirehoseArgs(srv *firehosetest.Server) (args, env []string) {
	cfg := srv.Config()
	args = []string{"--stream", cfg.Streams[0], "--endpoint-url", srv.URL, "--region", cfg.Region}
	env = []string{
		"AWS_ACCESS_KEY_ID=" + cfg.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + cfg.SecretAccessKey,
		"AWS_ENDPOINT_URL_STS=" + srv.URL,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
	}
	return args, env
}

// Port formats a port for an option value.
func Port(p int) string { return strconv.Itoa(p) }

// RequireInteropEnv is the environment variable that turns a missing real client from a skipped
// test into a failed one; CI sets it to 1 (testenv.RequireInteropEnv).
const RequireInteropEnv = testenv.RequireInteropEnv

// Program returns the path of the real program name, or skips the test when it is not installed
// (fails it when RequireInteropEnv is 1).
func Program(tb testing.TB, name string) string {
	tb.Helper()
	path, err := testenv.LookPath(name)
	return installed(tb, path, err)
}

// RsyslogModule returns the path of rsyslog's loadable module name (such as "omrelp"), or skips
// the test when it is not installed (fails it when RequireInteropEnv is 1).
func RsyslogModule(tb testing.TB, name string) string {
	tb.Helper()
	path, err := testenv.RsyslogModule(name)
	return installed(tb, path, err)
}

// installed returns path when the look-up that gave it found it (err is nil), and otherwise
// skips the test, or fails it when RequireInteropEnv is 1.
func installed(tb testing.TB, path string, err error) string {
	tb.Helper()
	if err != nil {
		testenv.Missing(tb, err)
	}
	return path
}

// Scrape returns every series the relay's /metrics shows, keyed by name and labels as the text
// format writes them, e.g. `kinesyslog_connections_refused_total{reason="proxy_header"}`.
func (r *Relay) Scrape(tb testing.TB) map[string]float64 {
	tb.Helper()
	if r.MetricsAddress == "" {
		tb.Fatal("e2e: the relay was started without Options.Metrics")
	}
	series, err := testenv.Scrape(context.Background(), "http://"+r.MetricsAddress+"/metrics")
	if err != nil {
		tb.Fatalf("read relay metrics: %v", err)
	}
	return series
}

// Totals returns the relay's metrics by name, each the sum of its series over their labels; a
// labelled metric that has counted nothing yet may be absent, which reads as 0.
func (r *Relay) Totals(tb testing.TB) map[string]float64 {
	tb.Helper()
	return testenv.Totals(r.Scrape(tb))
}

// Metric returns the value of one series, failing the test when the relay does not show it.
func (r *Relay) Metric(tb testing.TB, series string) float64 {
	tb.Helper()
	v, ok := r.Scrape(tb)[series]
	if !ok {
		tb.Fatalf("the relay's metrics have no %s", series)
	}
	return v
}

// WaitMetric polls series until cond holds, failing the test after testenv.PollTimeout.
func (r *Relay) WaitMetric(tb testing.TB, series string, cond func(float64) bool) float64 {
	tb.Helper()
	return r.WaitMetricFor(tb, series, testenv.PollTimeout, cond)
}

// WaitMetricFor polls series until cond holds, failing the test after timeout with the last
// value it read.
func (r *Relay) WaitMetricFor(tb testing.TB, series string, timeout time.Duration, cond func(float64) bool) float64 {
	tb.Helper()
	var v float64
	defer func() {
		if tb.Failed() {
			tb.Logf("%s = %v at the end", series, v)
		}
	}()
	testenv.EventuallyWithin(tb, timeout, series+" to meet the condition", func() bool {
		v = r.Metric(tb, series)
		return cond(v)
	})
	return v
}
