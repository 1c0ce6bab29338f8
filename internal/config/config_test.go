package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefault(t *testing.T) {
	want := Config{
		Address:         "0.0.0.0",
		TLSPorts:        []int{6514},
		MaxConnections:  10_000,
		IdleTimeout:     10 * time.Minute,
		MaxMessageBytes: 64 << 10,
		GroupPrefix:     "/kinesyslog",
		Timezone:        time.UTC,
		SpoolMaxBytes:   10 << 30,
		ShutdownTimeout: 20 * time.Second,
		UploadTimeout:   30 * time.Second,
		StallTimeout:    2 * time.Minute,
		LogFormat:       "text",

		IntakeLog:          true,
		IntakeSyncInterval: 10 * time.Millisecond,
	}
	if diff := cmp.Diff(want, Default(), cmpConfig); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	// valid returns a Config that passes, with f applied.
	valid := func(f func(*Config)) Config {
		c := Default()
		c.Streams = []string{"logs"}
		c.SpoolDir = "/spool"
		f(&c)
		return c
	}
	tests := []struct {
		name string
		c    Config
		want []string // the lines of the error; nil when valid
	}{
		{name: "defaults with a stream", c: valid(func(*Config) {})},
		{
			name: "output and every option",
			c: valid(func(c *Config) {
				c.Streams, c.OutputDir = nil, "/out"
				c.EndpointURL = "https://firehose.eu-west-1.amazonaws.com"
				c.AccountID = "123456789012"
				c.UDPPorts, c.TCPPorts, c.TLSPorts = []int{514, 0}, []int{514, 601}, []int{6514}
				c.RELPPorts, c.RELPTLSPorts = []int{2514, 0}, []int{2515}
				c.ProxyProtocolPorts = []int{601, 6514, 2514, 2515, 0}
				c.CertFile, c.KeyFile = "/c.pem", "/k.pem"
				c.ClientCAFile, c.ClientAuth = "/ca.pem", tls.VerifyClientCertIfGiven
				c.ClientAllow = []string{"*.example.com"}
				c.MaxConnections, c.IdleTimeout, c.UDPReaders, c.ShutdownTimeout = 0, 0, 0, 0
				c.MaxMessageBytes = MaxMessageBytes
				c.GroupPrefix = ""
				c.SpoolMaxBytes = MinSpoolBytes
				c.MetricsAddress = ":9100"
			}),
		},
		{
			name: "GELF beside syslog",
			c: valid(func(c *Config) {
				c.UDPPorts, c.TCPPorts = []int{514}, []int{601}
				c.GELFUDPPorts, c.GELFTCPPorts, c.GELFTLSPorts = []int{12201}, []int{12201}, []int{12202}
				c.ProxyProtocolPorts = []int{12201}
			}),
		},
		{
			name: "GELF ports clash",
			c: valid(func(c *Config) {
				c.TLSPorts = nil
				c.UDPPorts, c.TCPPorts = []int{514}, []int{601}
				c.GELFUDPPorts, c.GELFTCPPorts, c.GELFTLSPorts = []int{601, 0}, []int{514, 12201}, []int{12201}
				c.CertFile, c.KeyFile = "/c.pem", "/k.pem"
			}),
			want: []string{
				"--gelf-udp-port 601 is a syslog port too: a port number reads one format",
				"--gelf-tcp-port 514 is a syslog port too: a port number reads one format",
				"--gelf-tcp-port and --gelf-tls-port both use 12201: a TCP port serves one of them",
			},
		},
		{
			name: "GELF ports only",
			c:    valid(func(c *Config) { c.TLSPorts, c.GELFTLSPorts = nil, []int{12202} }),
		},
		{
			name: "prometheus port and metrics address",
			c:    valid(func(c *Config) { c.PrometheusPort, c.MetricsAddress = 9100, "127.0.0.1:9101" }),
			want: []string{"--prometheus-port and --metrics-address both given: set only one"},
		},
		{
			name: "stall timeout within the flush age",
			c:    valid(func(c *Config) { c.FlushAge, c.StallTimeout = 5*time.Minute, 2*time.Minute }),
			want: []string{"--stall-timeout 2m0s: want more than --flush-age 5m0s, which a spooled record may wait for its batch"},
		},
		{
			name: "prometheus port out of range",
			c:    valid(func(c *Config) { c.PrometheusPort = 70000 }),
			want: []string{"--prometheus-port 70000: want a port from 1 to 65535, or 0 to disable"},
		},
		{
			name: "prometheus port as Load sets it",
			c:    valid(func(c *Config) { c.PrometheusPort, c.MetricsAddress, c.LogFormat = 9100, "0.0.0.0:9100", "json" }),
		},
		{
			name: "zero value",
			c:    Config{},
			want: []string{
				"no destination: set --stream NAME (Firehose), --kinesis-stream NAME (Kinesis Data Streams) or --output DIR (local directory)",
				"no listener enabled: set --udp-port, --tcp-port or --tls-port",
				"--stall-timeout 0s: want more than 0",
				"--upload-timeout 0s: want more than 0",
				"--max-message-size 0: want 2048 to 163840 bytes",
				"--spool-max-bytes 0: want at least 8388608",
			},
		},
		{
			name: "both destinations",
			c:    valid(func(c *Config) { c.OutputDir = "/out" }),
			want: []string{"--stream and --output both given: set only one destination"},
		},
		{
			name: "Kinesis streams",
			c:    valid(func(c *Config) { c.Streams, c.KinesisStreams = nil, []string{"logs", "logs.2_b-c"} }),
		},
		{
			name: "Kinesis beside Firehose",
			c:    valid(func(c *Config) { c.KinesisStreams = []string{"logs"} }),
			want: []string{"--kinesis-stream and --stream both given: set only one destination"},
		},
		{
			name: "Kinesis beside Firehose and a directory",
			c:    valid(func(c *Config) { c.KinesisStreams, c.OutputDir = []string{"logs"}, "/out" }),
			want: []string{
				"--stream and --output both given: set only one destination",
				"--kinesis-stream and --stream both given: set only one destination",
				"--kinesis-stream and --output both given: set only one destination",
			},
		},
		{
			name: "Kinesis beside a directory",
			c:    valid(func(c *Config) { c.Streams, c.KinesisStreams, c.OutputDir = nil, []string{"logs"}, "/out" }),
			want: []string{"--kinesis-stream and --output both given: set only one destination"},
		},
		{
			name: "Kinesis with the Firehose endpoint",
			c: valid(func(c *Config) {
				c.Streams, c.KinesisStreams, c.EndpointURL = nil, []string{"logs"}, "https://firehose.eu-west-1.amazonaws.com"
			}),
			want: []string{"--endpoint-url is the Firehose endpoint, unused with --kinesis-stream: set AWS_ENDPOINT_URL_KINESIS instead"},
		},
		{
			name: "Kinesis stream names",
			c: valid(func(c *Config) {
				c.Streams, c.KinesisStreams = nil, []string{"a", "no spaces", strings.Repeat("x", 129), "a"}
			}),
			want: []string{
				`--kinesis-stream "no spaces": a data stream name is 1 to 128 letters, digits, '_', '.' or '-'`,
				`--kinesis-stream "` + strings.Repeat("x", 129) + `": a data stream name is 1 to 128 letters, digits, '_', '.' or '-'`,
				`--kinesis-stream "a" given twice: give each stream once`,
			},
		},
		{
			name: "Kinesis stream ARNs",
			c: valid(func(c *Config) {
				c.Streams, c.KinesisStreams = nil, []string{"arn:aws:kinesis:eu-west-1:123456789012:stream/a", "a",
					"arn:aws:kinesis:eu-west-1:123456789012:stream/no spaces", "arn:aws:kinesis:eu-west-1:123456789012:deliverystream/b",
					"arn:aws:kinesis::123456789012:stream/c", "arn:aws:kinesis"}
			}),
			want: []string{
				`--kinesis-stream: kinesis: data stream ARN "arn:aws:kinesis:eu-west-1:123456789012:deliverystream/b" is not arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`,
				`--kinesis-stream: kinesis: data stream ARN "arn:aws:kinesis::123456789012:stream/c" is not arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`,
				`--kinesis-stream "a" given twice: give each stream once`,
				`--kinesis-stream "no spaces": a data stream name is 1 to 128 letters, digits, '_', '.' or '-'`,
				`--kinesis-stream "arn:aws:kinesis": a data stream name is 1 to 128 letters, digits, '_', '.' or '-'`,
			},
		},
		{
			name: "no listener",
			c:    valid(func(c *Config) { c.TLSPorts = []int{0} }),
			want: []string{"no listener enabled: set --udp-port, --tcp-port or --tls-port"},
		},
		{
			name: "ports",
			c: valid(func(c *Config) {
				c.UDPPorts = []int{514, 70000, 514, -1, 514}
				c.TCPPorts = []int{6514, 601}
				c.ProxyProtocolPorts = []int{601, 514, 70000}
			}),
			want: []string{
				"--udp-port 70000: want a port from 1 to 65535, or 0 to disable",
				"--udp-port 514 given more than once",
				"--udp-port -1: want a port from 1 to 65535, or 0 to disable",
				"--tcp-port and --tls-port both use 6514: a TCP port serves one of them",
				"--proxy-protocol 70000: want a port from 1 to 65535, or 0 to disable",
				"--proxy-protocol 514: not a TCP, TLS or RELP port of a listener",
			},
		},
		{
			name: "RELP ports",
			c: valid(func(c *Config) {
				c.TCPPorts, c.TLSPorts = []int{601}, []int{6514}
				c.RELPPorts = []int{2514, 601, 2514, 0, 70000}
				c.RELPTLSPorts = []int{6514, 2514, 2515}
				c.ProxyProtocolPorts = []int{2515}
			}),
			want: []string{
				"--relp-port 2514 given more than once",
				"--relp-port 70000: want a port from 1 to 65535, or 0 to disable",
				"--tcp-port and --relp-port both use 601: a TCP port serves one of them",
				"--tls-port and --relp-tls-port both use 6514: a TCP port serves one of them",
				"--relp-port and --relp-tls-port both use 2514: a TCP port serves one of them",
			},
		},
		{
			name: "RELP ports only",
			c:    valid(func(c *Config) { c.TLSPorts, c.RELPPorts = nil, []int{2514} }),
		},
		{
			name: "RELP with GELF",
			c:    valid(func(c *Config) { c.GELF, c.RELPTLSPorts = true, []int{2515} }),
			want: []string{"--relp-port and --relp-tls-port carry syslog messages: not with --gelf"},
		},
		{
			name: "RELP without the intake log",
			c: valid(func(c *Config) {
				c.RELPPorts, c.IntakeLog = []int{2514}, false
			}),
			want: []string{"--relp-port and --relp-tls-port acknowledge what is on disk: they need --intake-log on"},
		},
		{
			name: "intake sync interval",
			c:    valid(func(c *Config) { c.IntakeSyncInterval = 0 }),
			want: []string{"--intake-sync-interval 0s: want more than 0"},
		},
		{
			name: "TLS options with a RELP TLS port only",
			c: valid(func(c *Config) {
				c.TLSPorts, c.RELPTLSPorts = nil, []int{2515}
				c.CertFile, c.KeyFile, c.ClientCAFile = "/c.pem", "/k.pem", "/ca.pem"
				c.ClientAuth = tls.RequireAndVerifyClientCert
			}),
		},
		{
			name: "cert without key",
			c:    valid(func(c *Config) { c.CertFile = "/c.pem" }),
			want: []string{"--cert and --key: give both or neither"},
		},
		{
			name: "TLS options without a TLS port",
			c: valid(func(c *Config) {
				c.TLSPorts, c.TCPPorts = nil, []int{601}
				c.CertFile, c.KeyFile, c.ClientCAFile = "/c.pem", "/k.pem", "/ca.pem"
			}),
			want: []string{
				"--cert given but no --tls-port is enabled",
				"--key given but no --tls-port is enabled",
				"--client-ca given but no --tls-port is enabled",
			},
		},
		{
			name: "client checks without a CA",
			c: valid(func(c *Config) {
				c.ClientAuth = tls.RequireAndVerifyClientCert
				c.ClientAllow = []string{"ok", "[bad"}
			}),
			want: []string{
				"--client-auth needs --client-ca",
				"--client-allow needs --client-ca",
				`--client-allow "[bad": malformed pattern`,
			},
		},
		{
			name: "client auth mode",
			c:    valid(func(c *Config) { c.ClientCAFile, c.ClientAuth = "/ca.pem", tls.RequireAnyClientCert }),
			want: []string{"--client-auth: want request or require"},
		},
		{
			name: "a stream given twice",
			c:    valid(func(c *Config) { c.Streams = []string{"a", "b", "a"} }),
			want: []string{`--stream "a" given twice: give each stream once`},
		},
		{
			name: "names and addresses",
			c: valid(func(c *Config) {
				c.Streams = []string{"no spaces"}
				c.EndpointURL = "firehose.local"
				c.AccountID = "12345"
				c.GroupPrefix = "/logs/"
				c.MetricsAddress = "localhost"
				c.LogFormat = "logfmt"
				c.FlushAge, c.StallTimeout = -time.Second, 0
			}),
			want: []string{
				`--stream "no spaces": a delivery stream name is 1 to 64 letters, digits, '_', '.' or '-'`,
				`--endpoint-url "firehose.local": want an http or https URL with a host`,
				`--account-id "12345": an AWS account ID is 12 digits`,
				"--flush-age -1s: want more than 0",
				"--stall-timeout 0s: want more than 0",
				`--group-prefix "/logs/": use letters, digits and . _ / # - only, not ending in /`,
				`--metrics-address "localhost": want host:port`,
				`--log-format "logfmt": want text or json`,
			},
		},
		{
			name: "a role",
			c: valid(func(c *Config) {
				c.RoleARN = "arn:aws:iam::210987654321:role/path/kinesyslog-delivery"
				c.ExternalID = "ext:id/1"
				c.RoleSessionName = "relay@host-1"
			}),
		},
		{
			name: "a role's options",
			c: valid(func(c *Config) {
				c.RoleARN = "arn:aws:iam::210987654321:user/someone"
				c.ExternalID = "a b"
				c.RoleSessionName = "x"
			}),
			want: []string{
				`--role-arn "arn:aws:iam::210987654321:user/someone": want an IAM role's ARN, arn:aws:iam::ACCOUNT:role/NAME`,
				"--external-id: 2 to 1224 letters, digits or any of _+=,.@:/-",
				`--role-session-name "x": 2 to 64 letters, digits or any of _+=,.@-`,
			},
		},
		{
			name: "a role's options without the role",
			c:    valid(func(c *Config) { c.ExternalID, c.RoleSessionName = "ext-id", "relay" }),
			want: []string{
				"--external-id needs --role-arn: it is sent when assuming the role",
				"--role-session-name needs --role-arn: it names the role's sessions",
			},
		},
		{
			name: "negative and out of range numbers",
			c: valid(func(c *Config) {
				c.MaxConnections = -1
				c.IdleTimeout = -time.Second
				c.UDPReaders = -2
				c.MaxMessageBytes = MinMessageBytes - 1
				c.SpoolMaxBytes = MinSpoolBytes - 1
				c.ShutdownTimeout = -time.Second
				c.UploadTimeout = 0
			}),
			want: []string{
				"--upload-timeout 0s: want more than 0",
				"--max-connections -1: want 0 (no limit) or more",
				"--idle-timeout -1s: want 0 (never) or more",
				"--udp-readers -2: want 0 (one per CPU) or more",
				"--max-message-size 2047: want 2048 to 163840 bytes",
				"--spool-max-bytes 8388607: want at least 8388608",
				"--shutdown-timeout -1s: want 0 (no last upload) or more",
			},
		},
		{
			name: "message size above a record",
			c:    valid(func(c *Config) { c.MaxMessageBytes = MaxMessageBytes + 1 }),
			want: []string{"--max-message-size 163841: want 2048 to 163840 bytes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if err := tt.c.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultSpoolDir(t *testing.T) {
	tmp := t.TempDir()
	existing := filepath.Join(tmp, "spool")
	if err := os.Mkdir(existing, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	home := func() (string, error) { return "/home/u", nil }
	noHome := func() (string, error) { return "", os.ErrNotExist }

	tests := []struct {
		name   string
		system string
		xdg    string
		home   func() (string, error)
		want   string
	}{
		{name: "system dir exists", system: existing, home: home, want: existing},
		{name: "system dir can be created", system: filepath.Join(tmp, "new"), home: home, want: filepath.Join(tmp, "new")},
		{name: "parent missing, XDG state", system: filepath.Join(tmp, "no", "spool"), xdg: "/state", home: home, want: "/state/kinesyslog"},
		{name: "not a directory", system: file, xdg: "/state", home: home, want: "/state/kinesyslog"},
		{name: "relative XDG ignored", system: filepath.Join(file, "spool"), xdg: "state", home: home, want: "/home/u/.local/state/kinesyslog"},
		{name: "no home", system: filepath.Join(file, "spool"), home: noHome, want: filepath.Join(file, "spool")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "XDG_STATE_HOME" {
					return tt.xdg
				}
				return ""
			}
			if got := defaultSpoolDir(tt.system, getenv, tt.home); got != tt.want {
				t.Errorf("defaultSpoolDir(%q) = %q, want %q", tt.system, got, tt.want)
			}
			if _, err := os.Stat(filepath.Join(tmp, "new")); err == nil {
				t.Errorf("defaultSpoolDir created %s", filepath.Join(tmp, "new"))
			}
		})
	}
}

// TestDefaultSpoolDirUnwritable checks the fall-back when the system spool exists but this user
// may not write it; root may write anything, so it runs only as another user.
func TestDefaultSpoolDirUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write any directory")
	}
	dir := filepath.Join(t.TempDir(), "spool")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	got := defaultSpoolDir(dir, func(string) string { return "/state" }, os.UserHomeDir)
	if want := "/state/kinesyslog"; got != want {
		t.Errorf("defaultSpoolDir(read-only) = %q, want %q", got, want)
	}
}

func TestIntakeMaxBytes(t *testing.T) {
	tests := []struct {
		name      string
		spool     int64
		off       bool
		wantLog   int64
		wantSpool int64
	}{
		{name: "10 GiB", spool: DefaultSpoolMaxBytes, wantLog: 1 << 30, wantSpool: 9 << 30},
		{name: "an eighth", spool: 800 << 20, wantLog: 100 << 20, wantSpool: 700 << 20},
		{name: "least", spool: MinSpoolBytes, wantLog: MinIntakeBytes, wantSpool: MinSpoolBytes - MinIntakeBytes},
		{name: "off", spool: MinSpoolBytes, off: true, wantLog: 0, wantSpool: MinSpoolBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.SpoolMaxBytes, c.IntakeLog = tt.spool, !tt.off
			if got := c.IntakeMaxBytes(); got != tt.wantLog {
				t.Errorf("IntakeMaxBytes() = %d, want %d", got, tt.wantLog)
			}
			if got := c.SpoolRecordBytes(); got != tt.wantSpool {
				t.Errorf("SpoolRecordBytes() = %d, want %d", got, tt.wantSpool)
			}
		})
	}
}
