package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func TestUnknownEnv(t *testing.T) {
	c := Default()
	fs := pflag.NewFlagSet("listen", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	fs.Bool("help", false, "not one of RegisterFlags': no variable reads it")
	tests := []struct {
		name    string
		environ []string
		want    []UnknownVariable
	}{
		{name: "known", environ: []string{"KINESYSLOG_STREAM=s", "KINESYSLOG_TCP_PORT=5514", "PATH=/bin"}},
		{name: "transposed letters", environ: []string{"KINESYSLOG_STRAEM=s"},
			want: []UnknownVariable{{Name: "KINESYSLOG_STRAEM", Closest: "KINESYSLOG_STREAM"}}},
		{name: "plural", environ: []string{"KINESYSLOG_TCP_PORTS=5514"},
			want: []UnknownVariable{{Name: "KINESYSLOG_TCP_PORTS", Closest: "KINESYSLOG_TCP_PORT"}}},
		{name: "dash kept", environ: []string{"KINESYSLOG_SPOOL-DIR=/s"},
			want: []UnknownVariable{{Name: "KINESYSLOG_SPOOL-DIR", Closest: "KINESYSLOG_SPOOL_DIR"}}},
		{name: "empty value", environ: []string{"KINESYSLOG_REGOIN="},
			want: []UnknownVariable{{Name: "KINESYSLOG_REGOIN", Closest: "KINESYSLOG_REGION"}}},
		{name: "nothing close", environ: []string{"KINESYSLOG_REQUIRE_INTEROP=1"},
			want: []UnknownVariable{{Name: "KINESYSLOG_REQUIRE_INTEROP"}}},
		{name: "a flag no variable reads", environ: []string{"KINESYSLOG_HELP=1"},
			want: []UnknownVariable{{Name: "KINESYSLOG_HELP"}}},
		{name: "other prefixes", environ: []string{"KINESYSLOGSTREAM=s", "kinesyslog_stream=s", "AWS_REGION=eu-west-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UnknownEnv(fs, tt.environ)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("UnknownEnv(%q) mismatch (-want +got):\n%s", tt.environ, diff)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"STREAM", "STREAM", 0},
		{"STRAEM", "STREAM", 2},
		{"PORTS", "PORT", 1},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestVariables(t *testing.T) {
	vars := Variables()
	c := Default()
	fs := pflag.NewFlagSet("listen", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	// Every variable is one Load reads: setting each names no unknown variable.
	var environ []string
	for _, v := range vars {
		environ = append(environ, v.Name+"="+v.Default)
	}
	if unknown := UnknownEnv(fs, environ); len(unknown) > 0 {
		t.Errorf("Variables() lists variables no option reads: %v", unknown)
	}
	if n := len(vars); n != countFlags(fs) {
		t.Errorf("Variables() has %d variables, want one per flag (%d)", n, countFlags(fs))
	}
	// Each default, read back from its variable, leaves the Config at its default.
	got := Default()
	gfs := pflag.NewFlagSet("listen", pflag.ContinueOnError)
	got.RegisterFlags(gfs)
	env := map[string]string{}
	for _, v := range vars {
		env[v.Name] = v.Default
	}
	if err := got.Load(gfs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatalf("Load(the defaults of Variables()): %v", err)
	}
	want := Default()
	if err := want.Load(fs, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpConfig); diff != "" {
		t.Errorf("Config from the defaults of Variables() differs from Default() (-want +got):\n%s", diff)
	}
	for _, v := range vars {
		if v.Usage == "" || strings.ContainsAny(v.Usage, "`\n") {
			t.Errorf("Variables(): %s has usage %q, want one line without backquotes", v.Name, v.Usage)
		}
	}
	for _, want := range []Variable{
		{Name: "KINESYSLOG_TLS_PORT", Default: "6514", Usage: "TLS listener PORT (RFC5425); repeatable; 0 disables"},
		{Name: "KINESYSLOG_TCP_PORT", Default: "", Usage: "TCP listener PORT; repeatable; 0 disables (default none)"},
		{Name: "KINESYSLOG_MAX_MESSAGE_SIZE", Default: "64KiB"},
		{Name: "KINESYSLOG_IDLE_TIMEOUT", Default: "10m0s"},
		// Its zero value is resolved by Load: "0s" would read as no wait.
		{Name: "KINESYSLOG_FLUSH_AGE", Default: ""},
	} {
		i := slices.IndexFunc(vars, func(v Variable) bool { return v.Name == want.Name })
		if i < 0 {
			t.Errorf("Variables() lacks %s", want.Name)
			continue
		}
		if got := vars[i]; got.Default != want.Default || want.Usage != "" && got.Usage != want.Usage {
			t.Errorf("Variables(): %+v, want %+v", got, want)
		}
	}
}

func countFlags(fs *pflag.FlagSet) int {
	n := 0
	fs.VisitAll(func(*pflag.Flag) { n++ })
	return n
}
