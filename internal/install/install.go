// Package install writes the systemd service unit of `kinesyslog install` and its drop-in, and
// prepares the spool directory the unit gives the relay.
//
// The unit runs `<executable> listen` with Restart=on-failure, takes its options from
// KINESYSLOG_* variables that the administrator sets in the drop-in (which lists every one,
// commented out, with its default, generated from config.Variables, and is written only when it
// does not exist) or with `systemctl edit kinesyslog`, and is
// sandboxed (ProtectSystem=strict, PrivateTmp, no privileges but binding ports below 1024). Its
// spool is not under /tmp, unlike the Python original's, whose PrivateTmp=true emptied the spool
// on every restart: it is SpoolDir, the one directory the relay may write.
package install

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"unicode"

	"github.com/kinesyslog/kinesyslog/internal/config"
)

const (
	// DefaultSystemDir is where the administrator's system units live.
	DefaultSystemDir = "/etc/systemd/system"
	// UnitName is the file name of the unit, and so the service's name.
	UnitName = "kinesyslog.service"
)

// NextSteps tells the administrator what to do once the unit is written.
const NextSteps = `Next steps:
  set KINESYSLOG_STREAM (or KINESYSLOG_OUTPUT) and other options in the drop-in
  systemctl daemon-reload
  systemctl enable --now kinesyslog
`

// ErrUnknownUser is returned (wrapped) by Install when Options.User names no user of this host.
var ErrUnknownUser = errors.New("install: unknown user")

var (
	//go:embed kinesyslog.service.tmpl
	unitText string
	unitTmpl = template.Must(template.New(UnitName).Option("missingkey=error").Parse(unitText))

	// userName is what User= accepts and needs no quoting: a name or a numeric ID.
	userName = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.@-]*$`)
	// plainPath needs no quoting in Environment= and ReadWritePaths=, and no escaping of systemd
	// specifiers (%) or variables ($).
	plainPath = regexp.MustCompile(`^/[a-zA-Z0-9_.@/+:=,-]*$`)
)

// Options describe the unit to install.
type Options struct {
	// Executable is the absolute path of the kinesyslog binary the unit runs. Required.
	Executable string
	// User is the user the service runs as. Empty means root.
	User string
	// SystemDir is the directory the unit is written to. Empty means DefaultSystemDir.
	SystemDir string
	// SpoolDir is the relay's spool directory. Empty means config.SystemSpoolDir.
	SpoolDir string
}

func (o Options) withDefaults() Options {
	if o.SystemDir == "" {
		o.SystemDir = DefaultSystemDir
	}
	if o.SpoolDir == "" {
		o.SpoolDir = config.SystemSpoolDir
	}
	return o
}

// Render returns the unit described by o.
func Render(o Options) ([]byte, error) {
	o = o.withDefaults()
	switch {
	case !filepath.IsAbs(o.Executable) || strings.ContainsFunc(o.Executable, badExecRune):
		return nil, fmt.Errorf("install: executable %q: want an absolute path without quotes, backslashes or control characters", o.Executable)
	case o.User != "" && !userName.MatchString(o.User):
		return nil, fmt.Errorf("install: user %q: not a user name or ID", o.User)
	case !plainPath.MatchString(o.SpoolDir):
		return nil, fmt.Errorf("install: spool dir %q: want an absolute path of letters, digits and _.@/+:=,-", o.SpoolDir)
	}
	var b bytes.Buffer
	err := unitTmpl.Execute(&b, struct{ ExecStart, User, SpoolDir string }{
		ExecStart: quoteExec(o.Executable),
		User:      o.User,
		SpoolDir:  filepath.Clean(o.SpoolDir),
	})
	if err != nil {
		return nil, fmt.Errorf("install: render unit: %w", err)
	}
	return b.Bytes(), nil
}

// badExecRune reports the characters systemd refuses in an executable's path ("Executable name
// contains special characters"), even quoted.
func badExecRune(r rune) bool {
	return r == '"' || r == '\'' || r == '\\' || unicode.IsControl(r)
}

// quoteExec writes path as the first word of an ExecStart= line: systemd expands specifiers
// (%) there, and splits words at spaces unless quoted. It takes '$' literally in that word.
func quoteExec(path string) string {
	path = strings.ReplaceAll(path, "%", "%%")
	if strings.Contains(path, " ") {
		return `"` + path + `"`
	}
	return path
}

// Installed says what Install wrote.
type Installed struct {
	// Unit is the path of the unit.
	Unit string
	// DropIn is the path of the drop-in that lists every option's variable.
	DropIn string
	// DropInKept is true when DropIn existed already and was left as it was.
	DropInKept bool
}

// Install writes the unit described by o to o.SystemDir, replacing an earlier one atomically,
// and, unless it exists, the drop-in DropInName beside it (in UnitName + ".d") that lists every
// option's KINESYSLOG_* variable with its default: a drop-in that exists holds the
// administrator's settings, and is never replaced. First it creates o.SpoolDir, mode 0700, and
// gives it and its contents to the service's user (root without o.User), since the sandboxed
// service may not change them: a spool left by an earlier install for another user is then
// still sent.
func Install(o Options) (Installed, error) {
	o = o.withDefaults()
	unit, err := Render(o)
	if err != nil {
		return Installed{}, err
	}
	dropIn, err := RenderDropIn(config.Variables(), filepath.Clean(o.SpoolDir))
	if err != nil {
		return Installed{}, err
	}
	uid, gid, err := lookupUser(o.User)
	if err != nil {
		return Installed{}, err
	}
	if err := prepareSpool(o.SpoolDir, uid, gid); err != nil {
		return Installed{}, err
	}
	in := Installed{
		Unit:   filepath.Join(o.SystemDir, UnitName),
		DropIn: filepath.Join(o.SystemDir, UnitName+".d", DropInName),
	}
	if err := writeFile(in.Unit, unit, 0o644, true); err != nil {
		return Installed{}, err
	}
	if err := os.MkdirAll(filepath.Dir(in.DropIn), 0o755); err != nil {
		return Installed{}, fmt.Errorf("install: create drop-in dir: %w", err)
	}
	if err := writeFile(in.DropIn, dropIn, 0o644, false); errors.Is(err, fs.ErrExist) {
		in.DropInKept = true
	} else if err != nil {
		return Installed{}, err
	}
	return in, nil
}

// lookupUser returns the IDs of the service's user; root when name is empty.
func lookupUser(name string) (uid, gid int, err error) {
	if name == "" {
		return 0, 0, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		if _, ok := errors.AsType[user.UnknownUserError](err); ok {
			return 0, 0, fmt.Errorf("%w %q", ErrUnknownUser, name)
		}
		return 0, 0, fmt.Errorf("install: look up user %q: %w", name, err)
	}
	if uid, err = strconv.Atoi(u.Uid); err == nil {
		gid, err = strconv.Atoi(u.Gid)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("install: user %q: IDs %s:%s: %w", name, u.Uid, u.Gid, err)
	}
	return uid, gid, nil
}

func prepareSpool(dir string, uid, gid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("install: create spool dir: %w", err)
	}
	// MkdirAll leaves an existing directory's mode as it was.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("install: spool dir: %w", err)
	}
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("install: give spool dir to uid %d: %w", uid, err)
	}
	return nil
}

// writeFile writes data to path atomically: a reader, systemd included, sees the old file or the
// new one, never a part. An existing file is replaced when replace is true; otherwise it is left
// as it is and the error wraps fs.ErrExist.
func writeFile(path string, data []byte, perm fs.FileMode, replace bool) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("install: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("install: write %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if replace {
		err = os.Rename(f.Name(), path)
	} else if err = os.Link(f.Name(), path); err == nil {
		// The link, unlike a rename, fails if path exists; the temporary name goes.
		err = os.Remove(f.Name())
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
