package install

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/e2e"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{name: "root", o: Options{Executable: "/usr/local/bin/kinesyslog"}},
		{name: "user", o: Options{Executable: "/usr/bin/kinesyslog", User: "syslog", SpoolDir: "/srv/spool/kinesyslog/"}},
		{name: "odd-executable", o: Options{Executable: "/opt/my apps/100%/$HOME/kinesyslog"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.o)
			if err != nil {
				t.Fatalf("Render(%+v): %v", tt.o, err)
			}
			checkGolden(t, tt.name+".service", got)
		})
	}
}

// checkGolden compares got with testdata/name, which go test -update rewrites.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("mismatch with %s (-want +got):\n%s", golden, diff)
	}
}

func TestRenderLines(t *testing.T) {
	unit, err := Render(Options{Executable: "/usr/bin/kinesyslog", User: "syslog"})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(unit), "\n")
	for _, want := range []string{
		"ExecStart=/usr/bin/kinesyslog listen",
		"Restart=on-failure",
		"User=syslog",
		"Environment=KINESYSLOG_SPOOL_DIR=/var/spool/kinesyslog",
		"ReadWritePaths=-/var/spool/kinesyslog",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"NoNewPrivileges=true",
		"ProtectSystem=strict",
		"PrivateTmp=true",
		"LimitNOFILE=65536",
		"TimeoutStopSec=60s",
		"WantedBy=multi-user.target",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("Render() lacks the line %q:\n%s", want, unit)
		}
	}
}

// TestVerify has systemd check what Install writes: the unit, with an executable whose path
// needs quoting and escaping, and beside it the drop-in with every variable set to its default.
// systemd-analyze reads drop-ins from the unit's directory and prints what it ignores.
func TestVerify(t *testing.T) {
	analyze := e2e.Program(t, "systemd-analyze")
	exe := filepath.Join(t.TempDir(), "my apps", "100%", "$HOME", "kinesyslog")
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(t.TempDir(), "probe.service")
	if err := os.WriteFile(probe, []byte("[Service]\nExecStart="+analyze+" --version\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", probe).CombinedOutput(); err != nil || len(out) > 0 {
		t.Skipf("systemd-analyze cannot verify even a minimal unit on this machine: %v\n%s", err, out)
	}

	// Install runs as the current user (root only if that is who runs the test), so that it can
	// give the spool away; root's unit differs only in lacking User=.
	me, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	users := []string{me.Username}
	if os.Getuid() == 0 {
		users = append(users, "")
	}
	odd, err := RenderDropIn(oddVariables, config.SystemSpoolDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		dir := t.TempDir()
		in, err := Install(Options{Executable: exe, User: u, SystemDir: dir, SpoolDir: filepath.Join(dir, "spool")})
		if err != nil {
			t.Fatalf("Install(User %q): %v", u, err)
		}
		// Every variable set, as an administrator uncommenting each line would, and more that
		// need quoting in a drop-in of their own.
		dropIn, err := os.ReadFile(in.DropIn)
		if err != nil {
			t.Fatal(err)
		}
		uncomment := func(b []byte) []byte {
			return []byte(strings.ReplaceAll(string(b), "\n#Environment=", "\nEnvironment="))
		}
		writeTestFile(t, in.DropIn, uncomment(dropIn))
		writeTestFile(t, filepath.Join(filepath.Dir(in.DropIn), "odd.conf"), uncomment(odd))
		out, err := exec.Command(analyze, "verify", in.Unit).CombinedOutput()
		if err != nil || len(out) > 0 {
			unit, _ := os.ReadFile(in.Unit)
			t.Errorf("systemd-analyze verify (User %q): %v\n%s\n%s\n%s", u, err, out, unit, uncomment(dropIn))
		}
	}
}

// oddVariables need quoting, escaping or wrapping in a drop-in.
var oddVariables = []config.Variable{
	{Name: "KINESYSLOG_STREAM", Usage: "Amazon Data Firehose delivery stream NAME to deliver to; give --stream or --output"},
	{Name: "KINESYSLOG_TCP_PORT", Default: "514 601", Usage: "TCP listener PORT; repeatable; 0 disables"},
	{Name: "KINESYSLOG_GROUP_PREFIX", Default: `/100%/"q"/back\slash`, Usage: "PREFIX of every logGroup"},
	{Name: "KINESYSLOG_SPOOL_DIR", Usage: "replaced: the unit sets it"},
	{Name: "KINESYSLOG_UPLOAD_TIMEOUT", Default: "30s", Usage: strings.Repeat("a long usage wraps at spaces ", 8)},
}

// TestRenderDropIn compares the drop-in of a few variables that need quoting and escaping with
// its golden file.
func TestRenderDropIn(t *testing.T) {
	got, err := RenderDropIn(oddVariables, "/srv/spool")
	if err != nil {
		t.Fatalf("RenderDropIn: %v", err)
	}
	checkGolden(t, DropInName, got)
	for _, line := range strings.Split(string(got), "\n") {
		if len(line) > usageWidth+2 {
			t.Errorf("RenderDropIn: line of %d columns, want at most %d: %q", len(line), usageWidth+2, line)
		}
	}

	if _, err := RenderDropIn([]config.Variable{{Name: "KINESYSLOG_X", Default: "a\nExecStartPre=/bin/evil"}}, "/s"); err == nil {
		t.Errorf("RenderDropIn(a default with a line break) succeeded, want an error")
	}
}

func TestRenderRejects(t *testing.T) {
	for _, o := range []Options{
		{Executable: "kinesyslog"},
		{Executable: "/bin/kinesyslog\nExecStartPre=/bin/evil"},
		{Executable: `/opt/"quoted"/kinesyslog`},
		{Executable: `/opt/back\slash/kinesyslog`},
		{Executable: "/opt/tab\tbed/kinesyslog"},
		{Executable: "/bin/kinesyslog", User: "a b"},
		{Executable: "/bin/kinesyslog", User: "x\nExecStartPre=/bin/evil"},
		{Executable: "/bin/kinesyslog", SpoolDir: "spool"},
		{Executable: "/bin/kinesyslog", SpoolDir: "/var/spool/with space"},
		{Executable: "/bin/kinesyslog", SpoolDir: "/var/spool/%h"},
	} {
		if got, err := Render(o); err == nil {
			t.Errorf("Render(%+v) = %q, want an error", o, got)
		}
	}
}

func TestInstall(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	tmp := t.TempDir()
	o := Options{
		Executable: "/usr/bin/kinesyslog",
		User:       me.Username,
		SystemDir:  tmp,
		SpoolDir:   filepath.Join(tmp, "spool", "kinesyslog"),
	}
	// An earlier unit is replaced, and an earlier spool kept.
	if err := os.WriteFile(filepath.Join(tmp, UnitName), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(o.SpoolDir, 0o755); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(o.SpoolDir, "record")
	if err := os.WriteFile(record, []byte("r"), 0o600); err != nil {
		t.Fatal(err)
	}

	in, err := Install(o)
	if err != nil {
		t.Fatalf("Install(%+v): %v", o, err)
	}
	wantIn := Installed{Unit: filepath.Join(tmp, UnitName), DropIn: filepath.Join(tmp, UnitName+".d", DropInName)}
	if in != wantIn {
		t.Errorf("Install() = %+v, want %+v", in, wantIn)
	}
	path := in.Unit
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Render(o)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("installed unit mismatch (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("unit mode = %v, %v; want 0644", fi.Mode(), err)
	}
	fi, err := os.Stat(o.SpoolDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spool dir mode = %v, %v; want 0700", fi.Mode(), err)
	}
	if st := fi.Sys().(*syscall.Stat_t); strconv.FormatUint(uint64(st.Uid), 10) != me.Uid {
		t.Errorf("spool dir uid = %d, want %s", st.Uid, me.Uid)
	}
	if _, err := os.Stat(record); err != nil {
		t.Errorf("earlier spooled record: %v", err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{UnitName, UnitName + ".d", "spool"}, names); diff != "" {
		t.Errorf("files left in the system dir (-want +got):\n%s", diff)
	}

	dropIn, err := os.ReadFile(in.DropIn)
	if err != nil {
		t.Fatal(err)
	}
	// Every option is listed, the spool dir with the unit's.
	for _, v := range config.Variables() {
		value := v.Default
		if v.Name == "KINESYSLOG_SPOOL_DIR" {
			value = o.SpoolDir
		}
		if want := "\n#Environment=" + assignment(v.Name, value) + "\n"; !strings.Contains(string(dropIn), want) {
			t.Errorf("drop-in lacks %q:\n%s", want, dropIn)
		}
	}
	if fi, err := os.Stat(in.DropIn); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("drop-in mode = %v, %v; want 0644", fi.Mode(), err)
	}
}

// TestInstallKeepsDropIn installs twice: the second install replaces the unit but keeps the
// drop-in the administrator edited, and leaves no temporary file.
func TestInstallKeepsDropIn(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	tmp := t.TempDir()
	o := Options{Executable: "/usr/bin/kinesyslog", User: me.Username, SystemDir: tmp, SpoolDir: filepath.Join(tmp, "spool")}
	first, err := Install(o)
	if err != nil {
		t.Fatalf("Install(%+v): %v", o, err)
	}
	edited := []byte("[Service]\nEnvironment=KINESYSLOG_STREAM=mine\n")
	writeTestFile(t, first.DropIn, edited)
	writeTestFile(t, first.Unit, []byte("old"))

	o.Executable = "/usr/local/bin/kinesyslog"
	second, err := Install(o)
	if err != nil {
		t.Fatalf("second Install(%+v): %v", o, err)
	}
	if want := (Installed{Unit: first.Unit, DropIn: first.DropIn, DropInKept: true}); second != want {
		t.Errorf("second Install() = %+v, want %+v", second, want)
	}
	if got, err := os.ReadFile(second.DropIn); err != nil || string(got) != string(edited) {
		t.Errorf("drop-in after a second install = %q, %v; want the edited %q", got, err, edited)
	}
	unit, err := os.ReadFile(second.Unit)
	if err != nil || !strings.Contains(string(unit), "\nExecStart=/usr/local/bin/kinesyslog listen\n") {
		t.Errorf("unit after a second install = %q, %v; want the new one", unit, err)
	}
	entries, err := os.ReadDir(filepath.Dir(second.DropIn))
	if err != nil || len(entries) != 1 {
		t.Errorf("drop-in dir holds %v, %v; want only %s", entries, err, DropInName)
	}
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInstallErrors(t *testing.T) {
	tmp := t.TempDir()
	o := Options{Executable: "/usr/bin/kinesyslog", User: "no-such-user-kinesyslog", SystemDir: tmp, SpoolDir: filepath.Join(tmp, "spool")}
	if _, err := Install(o); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("Install(unknown user) = %v, want ErrUnknownUser", err)
	}
	if _, err := os.Stat(o.SpoolDir); err == nil {
		t.Errorf("Install(unknown user) created the spool dir")
	}

	me, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	o.User = me.Username
	o.SystemDir = filepath.Join(tmp, "missing")
	if _, err := Install(o); err == nil || !strings.Contains(err.Error(), o.SystemDir) {
		t.Errorf("Install(missing system dir) = %v, want an error naming it", err)
	}
}
