package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// Where .ci/install-interop puts programs that cannot be installed as Debian packages
// (package testenv).
const (
	InteropDirEnv     = testenv.InteropDirEnv
	DefaultInteropDir = testenv.DefaultInteropDir
)

const (
	// daemonReadyTimeout bounds how long a daemon may take to open its inputs.
	daemonReadyTimeout = 30 * time.Second
	// daemonStopTimeout bounds how long a daemon may take to flush its queues and exit after
	// SIGTERM.
	daemonStopTimeout = 30 * time.Second
)

// DaemonOptions says how to run a syslog daemon.
type DaemonOptions struct {
	// Dir is the daemon's private directory: its configuration, pid file, state and control
	// socket go there, and Config may put its own sockets there. Usually t.TempDir().
	Dir string
	// Config is the daemon's configuration, without the lines the Start functions add (rsyslog's
	// work directory, syslog-ng's @version).
	Config string
	// Env is added to the test's environment, e.g. "TZ=UTC" for stamps in a known zone.
	Env []string
	// Ready reports whether the daemon's inputs accept messages; Start polls it. Nil means ready
	// once started.
	Ready func() bool
}

// Daemon is a syslog daemon run by a test in the foreground, with its own configuration, pid
// and state files, never the system's. Its methods are safe for concurrent use.
type Daemon struct {
	name    string
	cmd     *exec.Cmd
	tb      testing.TB
	out     testenv.Buffer
	exited  chan struct{}
	waitErr error
}

// StartRsyslog runs `rsyslogd -n` with opts.Config, RainerScript to which it prepends
// global(workDirectory=opts.Dir), and returns once opts.Ready holds. The configuration is
// validated first (rsyslogd -N1) so that a mistake fails the test with rsyslog's own message.
// The daemon is stopped when the test ends. Config should load imuxsock with SysSock.Use="off"
// if it loads it at all, so that the daemon does not take /dev/log.
func StartRsyslog(tb testing.TB, opts DaemonOptions) *Daemon {
	tb.Helper()
	argv, err := testenv.RsyslogCommand(Program(tb, "rsyslogd"), opts.Dir, opts.Config, opts.Env)
	if err != nil {
		tb.Fatal(err)
	}
	return startDaemon(tb, "rsyslogd", exec.Command(argv[0], argv[1:]...), opts)
}

// StartSyslogNG runs `syslog-ng -F` with opts.Config, to which it prepends the @version line of
// the installed syslog-ng, and returns once opts.Ready holds. Its persist file, pid file and
// control socket are in opts.Dir. syslog-ng is looked for where .ci/install-interop unpacks it
// (see InteropDirEnv), then as an installed program; the test is skipped when neither exists,
// or fails when RequireInteropEnv is 1. The daemon is stopped when the test ends.
func StartSyslogNG(tb testing.TB, opts DaemonOptions) *Daemon {
	tb.Helper()
	ng := findSyslogNG(tb)
	conf := filepath.Join(opts.Dir, "syslog-ng.conf")
	text := fmt.Sprintf("@version: %s\n%s\n", ng.version, opts.Config)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	args := []string{
		"--foreground", "--stderr", "--no-caps",
		"--cfgfile=" + conf,
		"--persist-file=" + filepath.Join(opts.Dir, "syslog-ng.persist"),
		"--pidfile=" + filepath.Join(opts.Dir, "syslog-ng.pid"),
		"--control=" + filepath.Join(opts.Dir, "syslog-ng.ctl"),
	}
	if ng.modules != "" {
		args = append(args, "--module-path="+ng.modules)
	}
	cmd := exec.Command(ng.binary, args...)
	if ng.libs != "" {
		opts.Env = append(opts.Env, "LD_LIBRARY_PATH="+ng.libs)
	}
	return startDaemon(tb, "syslog-ng", cmd, opts)
}

// syslogNG is where a usable syslog-ng is.
type syslogNG struct {
	binary  string
	modules string // --module-path; empty for the binary's built-in path
	libs    string // LD_LIBRARY_PATH for its private libraries; empty when installed normally
	version string // major.minor, for @version
}

// findSyslogNG looks for the syslog-ng tree that .ci/install-interop unpacks, then for an
// installed syslog-ng. An unpacked tree is laid out as the Debian package installs it:
// usr/sbin/syslog-ng, its libraries in usr/lib/syslog-ng and its modules in
// usr/lib/syslog-ng/<major.minor>.
func findSyslogNG(tb testing.TB) syslogNG {
	tb.Helper()
	root := filepath.Join(testenv.InteropDir(), "syslog-ng")
	if binary, err := exec.LookPath(filepath.Join(root, "usr", "sbin", "syslog-ng")); err == nil {
		libs := filepath.Join(root, "usr", "lib", "syslog-ng")
		modules, _ := filepath.Glob(filepath.Join(libs, "[0-9]*.[0-9]*"))
		if len(modules) != 1 {
			tb.Fatalf("syslog-ng unpacked in %s has module directories %q, want one", root, modules)
		}
		return syslogNG{binary: binary, modules: modules[0], libs: libs, version: filepath.Base(modules[0])}
	}
	binary := Program(tb, "syslog-ng")
	out, err := exec.Command(binary, "--version").Output()
	if err != nil {
		tb.Fatalf("syslog-ng --version: %v", err)
	}
	// The first line reads "syslog-ng 3 (3.38.1)".
	_, version, _ := strings.Cut(strings.SplitN(string(out), "\n", 2)[0], "(")
	parts := strings.SplitN(strings.TrimSuffix(version, ")"), ".", 3)
	if len(parts) < 2 {
		tb.Fatalf("syslog-ng --version: no version in %q", out)
	}
	return syslogNG{binary: binary, version: parts[0] + "." + parts[1]}
}

// startDaemon starts cmd and waits until opts.Ready holds.
func startDaemon(tb testing.TB, name string, cmd *exec.Cmd, opts DaemonOptions) *Daemon {
	tb.Helper()
	d := &Daemon{name: name, cmd: cmd, tb: tb, exited: make(chan struct{})}
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stdout, cmd.Stderr = &d.out, &d.out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	tb.Cleanup(func() {
		d.Stop()
		if tb.Failed() {
			tb.Logf("%s output:\n%s", name, d.Log())
		}
	})
	if opts.Ready != nil {
		testenv.EventuallyWithin(tb, daemonReadyTimeout, name+" ready", func() bool {
			select {
			case <-d.exited:
				tb.Fatalf("%s exited at start: %v\n%s", name, d.waitErr, d.Log())
			default:
			}
			return opts.Ready()
		})
	}
	return d
}

// Log returns what the daemon has written to stdout and stderr so far.
func (d *Daemon) Log() string { return d.out.String() }

// Stop sends SIGTERM, on which rsyslog and syslog-ng flush their queues, and waits for the
// daemon to exit; it returns the exit error, nil for exit 0. A daemon that does not exit within
// a bound is killed and the test fails. Stop may be called more than once.
func (d *Daemon) Stop() error {
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		d.tb.Errorf("signal %s: %v", d.name, err)
	}
	select {
	case <-d.exited:
	case <-time.After(daemonStopTimeout):
		d.cmd.Process.Kill()
		<-d.exited
		d.tb.Errorf("%s did not exit within %v of SIGTERM; killed it", d.name, daemonStopTimeout)
	}
	return d.waitErr
}

// Accepting returns a readiness check that holds once address accepts a connection on network
// ("tcp", "unix" or "unixgram"); the connection is closed at once.
func Accepting(network, address string) func() bool {
	return func() bool {
		c, err := net.DialTimeout(network, address, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}
