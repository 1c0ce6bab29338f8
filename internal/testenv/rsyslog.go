package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// sbinDirs are where daemons such as rsyslogd are installed, which a normal user's PATH lacks.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// ErrNotInstalled is returned by LookPath for a program that is nowhere to be found.
var ErrNotInstalled = errors.New("testenv: not installed")

// LookPath returns the path of the program name, looked for in PATH and then in the sbin
// directories, or an error wrapping ErrNotInstalled.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range sbinDirs {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w (bash .ci/install-interop installs what the tests run)", name, ErrNotInstalled)
}

// rsyslogModuleDirs are where distributions install rsyslog's loadable modules: Debian's
// multiarch directories, then the plain and 64-bit library directories.
var rsyslogModuleDirs = []string{"/usr/lib/*/rsyslog", "/usr/lib/rsyslog", "/usr/lib64/rsyslog"}

// RsyslogModule returns the path of rsyslog's loadable module name (such as "omrelp", of Debian's
// rsyslog-relp), or an error wrapping ErrNotInstalled.
func RsyslogModule(name string) (string, error) {
	for _, dir := range rsyslogModuleDirs {
		if m, _ := filepath.Glob(filepath.Join(dir, name+".so")); len(m) > 0 {
			return m[0], nil
		}
	}
	return "", fmt.Errorf("rsyslog module %s: %w (bash .ci/install-interop installs what the tests run)", name, ErrNotInstalled)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// RsyslogCommand prepares rsyslogd (at binary) to run privately, never as the system's: it
// writes config, RainerScript after a global(workDirectory=dir) line that it adds, to
// dir/rsyslog.conf, checks it with rsyslogd -N1 so that a mistake is reported in rsyslog's own
// words, and returns the command line that runs rsyslogd on it in the foreground with its pid
// file in dir. env is added to the environment of the check, as it will be to the daemon's.
// config should load imuxsock with SysSock.Use="off" if it loads it at all, so that the daemon
// does not take /dev/log.
func RsyslogCommand(binary, dir, config string, env []string) ([]string, error) {
	conf := filepath.Join(dir, "rsyslog.conf")
	text := fmt.Sprintf("global(workDirectory=%q)\n%s\n", dir, config)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("testenv: write rsyslog configuration: %w", err)
	}
	check := exec.Command(binary, "-N1", "-f", conf)
	check.Env = append(os.Environ(), env...)
	if out, err := check.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testenv: rsyslogd -N1: %w\n%s\nconfiguration:\n%s", err, out, text)
	}
	return []string{binary, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid")}, nil
}
