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
			golden := filepath.Join("testdata", tt.name+".service")
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
				t.Errorf("Render(%+v) mismatch with %s (-want +got):\n%s", tt.o, golden, diff)
			}
		})
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

// TestRenderVerify has systemd check the rendered units, with an executable whose path needs
// quoting and escaping.
func TestRenderVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	exe := filepath.Join(t.TempDir(), "my apps", "100%", "$HOME", "kinesyslog")
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"", "root"} {
		unit, err := Render(Options{Executable: exe, User: u})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), UnitName)
		if err := os.WriteFile(path, unit, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", path).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify (User %q): %v\n%s\n%s", u, err, out, unit)
		}
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

	path, err := Install(o)
	if err != nil {
		t.Fatalf("Install(%+v): %v", o, err)
	}
	if want := filepath.Join(tmp, UnitName); path != want {
		t.Errorf("Install() = %q, want %q", path, want)
	}
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
	if diff := cmp.Diff([]string{UnitName, "spool"}, names); diff != "" {
		t.Errorf("files left in the system dir (-want +got):\n%s", diff)
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
