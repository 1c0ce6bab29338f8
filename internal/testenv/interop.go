package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Where the CI's install scripts put the programs tests drive, and what a missing one means.
const (
	// RequireInteropEnv is the environment variable that turns a missing real program from a
	// skipped test into a failed one; CI sets it to 1.
	RequireInteropEnv = "KINESYSLOG_REQUIRE_INTEROP"
	// InteropDirEnv names the directory that holds programs that are not Debian packages;
	// DefaultInteropDir when unset.
	InteropDirEnv = "KINESYSLOG_INTEROP_DIR"
	// DefaultInteropDir is where .ci/install-interop unpacks syslog-ng (into its syslog-ng
	// subdirectory), whose Debian package conflicts with rsyslog's, and .ci/install-npm
	// installs npm packages (under npm/node_modules).
	DefaultInteropDir = "/opt/kinesyslog-interop"
)

// InteropDir returns the directory named by InteropDirEnv, else DefaultInteropDir.
func InteropDir() string {
	if dir := os.Getenv(InteropDirEnv); dir != "" {
		return dir
	}
	return DefaultInteropDir
}

// NPMProgram returns the path of the program name of an npm package that .ci/install-npm
// installs (kinesalite, s3rver), under InteropDir()/npm/node_modules/.bin, or an error wrapping
// ErrNotInstalled.
func NPMProgram(name string) (string, error) {
	p := filepath.Join(InteropDir(), "npm", "node_modules", ".bin", name)
	if !isExecutable(p) {
		return "", fmt.Errorf("%s: %w in %s (bash .ci/install-npm installs it)", name, ErrNotInstalled, filepath.Dir(p))
	}
	if _, err := LookPath("node"); err != nil {
		return "", fmt.Errorf("%s needs node: %w", name, err)
	}
	return p, nil
}

// Missing skips the test for err, a program that is not installed, or fails it when
// RequireInteropEnv is 1 (CI), where every program must be there.
func Missing(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv(RequireInteropEnv) == "1" {
		tb.Fatalf("%v and %s=1", err, RequireInteropEnv)
	}
	tb.Skip(err)
}
