package config

import (
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
