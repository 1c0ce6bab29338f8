package config

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/pflag"
)

// cmpConfig compares Configs: zones by name, nil and empty slices alike.
var cmpConfig = cmp.Options{
	cmp.Comparer(func(a, b *time.Location) bool { return a.String() == b.String() }),
	cmpopts.EquateEmpty(),
}

// load runs the flag and environment binding as `kinesyslog listen` does.
func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	c := Default()
	fs := pflag.NewFlagSet("listen", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	err := c.Load(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return c, err
}

func TestLoad(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	// want returns the defaults, resolved by Load, with f applied.
	want := func(f func(*Config)) Config {
		c := Default()
		c.SpoolDir = "/spool"
		c.IntakeDir = "/spool/intake"
		c.FlushAge = time.Minute
		if f != nil {
			f(&c)
		}
		return c
	}
	spool := map[string]string{"KINESYSLOG_SPOOL_DIR": "/spool"}
	with := func(env map[string]string) map[string]string {
		m := map[string]string{"KINESYSLOG_SPOOL_DIR": "/spool"}
		for k, v := range env {
			m[k] = v
		}
		return m
	}

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want Config
	}{
		{
			name: "defaults",
			env:  spool,
			want: want(nil),
		},
		{
			name: "spec example",
			env: with(map[string]string{
				"KINESYSLOG_GELF":     "1",
				"KINESYSLOG_TLS_PORT": "0",
				"KINESYSLOG_UDP_PORT": "12201",
				"KINESYSLOG_TCP_PORT": "12201 12202",
				"KINESYSLOG_STREAM":   "kinesyslog-gelf-stream",
			}),
			want: want(func(c *Config) {
				c.GELF = true
				c.TLSPorts = nil
				c.UDPPorts = []int{12201}
				c.TCPPorts = []int{12201, 12202}
				c.Streams = []string{"kinesyslog-gelf-stream"}
			}),
		},
		{
			name: "lists split on any whitespace",
			env: with(map[string]string{
				"KINESYSLOG_TCP_PORT":       "\t5514\n 5515  5516 ",
				"KINESYSLOG_CLIENT_ALLOW":   "*.example.com  spiffe://x/*",
				"KINESYSLOG_PROXY_PROTOCOL": "5515,5516",
			}),
			want: want(func(c *Config) {
				c.TCPPorts = []int{5514, 5515, 5516}
				c.ClientAllow = []string{"*.example.com", "spiffe://x/*"}
				c.ProxyProtocolPorts = []int{5515, 5516}
			}),
		},
		{
			name: "flags win over environment",
			args: []string{"--tcp-port", "1", "--tcp-port=2", "--stream", "flag", "--gelf=false", "--spool-dir", "/flag"},
			env: with(map[string]string{
				"KINESYSLOG_TCP_PORT": "3 4",
				"KINESYSLOG_STREAM":   "env",
				"KINESYSLOG_GELF":     "yes",
				"KINESYSLOG_OUTPUT":   "/out",
			}),
			want: want(func(c *Config) {
				c.TCPPorts = []int{1, 2}
				c.Streams = []string{"flag"}
				c.OutputDir, c.FlushAge = "/out", time.Second
				c.SpoolDir, c.IntakeDir = "/flag", "/flag/intake"
			}),
		},
		{
			name: "Kinesis streams from the environment",
			env:  with(map[string]string{"KINESYSLOG_KINESIS_STREAM": "logs  more,others"}),
			want: want(func(c *Config) { c.KinesisStreams = []string{"logs", "more", "others"} }),
		},
		{
			name: "Kinesis streams by repetition and commas, the flag winning",
			args: []string{"--kinesis-stream", "a,b", "--kinesis-stream", "c"},
			env:  with(map[string]string{"KINESYSLOG_KINESIS_STREAM": "env"}),
			want: want(func(c *Config) { c.KinesisStreams = []string{"a", "b", "c"} }),
		},
		{
			name: "flag lists by repetition and commas",
			args: []string{"--udp-port", "514,515", "--udp-port", "516", "--client-allow", "a,b", "--client-allow", "c"},
			env:  spool,
			want: want(func(c *Config) {
				c.UDPPorts = []int{514, 515, 516}
				c.ClientAllow = []string{"a,b", "c"}
			}),
		},
		{
			// A repeated --stream once kept only the last name.
			name: "streams by repetition and commas",
			args: []string{"--stream", "a", "--stream", "b,c"},
			env:  spool,
			want: want(func(c *Config) { c.Streams = []string{"a", "b", "c"} }),
		},
		{
			name: "streams from the environment, by commas and spaces",
			env:  with(map[string]string{"KINESYSLOG_STREAM": "a,b c"}),
			want: want(func(c *Config) { c.Streams = []string{"a", "b", "c"} }),
		},
		{
			name: "RELP ports from flags and environment",
			args: []string{"--relp-port", "2514", "--relp-port=0", "--relp-port", "2516"},
			env:  with(map[string]string{"KINESYSLOG_RELP_TLS_PORT": "2515 0 2517", "KINESYSLOG_RELP_PORT": "9"}),
			want: want(func(c *Config) {
				c.RELPPorts = []int{2514, 2516}
				c.RELPTLSPorts = []int{2515, 2517}
			}),
		},
		{
			name: "zero ports removed",
			args: []string{"--tls-port", "0", "--udp-port", "0", "--udp-port", "514"},
			env:  with(map[string]string{"KINESYSLOG_TCP_PORT": "0"}),
			want: want(func(c *Config) {
				c.TLSPorts = nil
				c.UDPPorts = []int{514}
			}),
		},
		{
			name: "booleans",
			env:  with(map[string]string{"KINESYSLOG_GELF": "YES", "KINESYSLOG_DEBUG": "true"}),
			want: want(func(c *Config) { c.GELF, c.Debug = true, true }),
		},
		{
			name: "false booleans",
			args: []string{"--gelf"},
			env:  with(map[string]string{"KINESYSLOG_DEBUG": "no"}),
			want: want(func(c *Config) { c.GELF = true }),
		},
		{
			name: "empty variable is unset",
			env:  with(map[string]string{"KINESYSLOG_TLS_PORT": "", "KINESYSLOG_ADDRESS": "  "}),
			want: want(nil),
		},
		{
			name: "every scalar from the environment",
			env: with(map[string]string{
				"KINESYSLOG_OUTPUT":            "/out",
				"KINESYSLOG_ENDPOINT_URL":      "http://127.0.0.1:4566",
				"KINESYSLOG_ACCOUNT_ID":        "123456789012",
				"KINESYSLOG_REGION":            "eu-west-1",
				"KINESYSLOG_PROFILE":           "logs",
				"KINESYSLOG_ROLE_ARN":          "arn:aws:iam::210987654321:role/delivery",
				"KINESYSLOG_EXTERNAL_ID":       "ext-id",
				"KINESYSLOG_ROLE_SESSION_NAME": "relay-1",
				"KINESYSLOG_ADDRESS":           "::",
				"KINESYSLOG_CERT":              "/c.pem",
				"KINESYSLOG_KEY":               "/k.pem",
				"KINESYSLOG_CLIENT_CA":         "/ca.pem",
				"KINESYSLOG_CLIENT_AUTH":       "request",
				"KINESYSLOG_MAX_CONNECTIONS":   "0",
				"KINESYSLOG_IDLE_TIMEOUT":      "90s",
				"KINESYSLOG_UDP_READERS":       "4",
				"KINESYSLOG_MAX_MESSAGE_SIZE":  "8KiB",
				"KINESYSLOG_GROUP_PREFIX":      "/logs",
				"KINESYSLOG_TIMEZONE":          "Europe/Paris",
				"KINESYSLOG_SPOOL_MAX_BYTES":   "1GiB",
				"KINESYSLOG_SHUTDOWN_TIMEOUT":  "1m",
				"KINESYSLOG_UPLOAD_TIMEOUT":    "2m",
				"KINESYSLOG_METRICS_ADDRESS":   "127.0.0.1:9100",
			}),
			want: want(func(c *Config) {
				c.OutputDir = "/out"
				c.FlushAge = time.Second
				c.EndpointURL = "http://127.0.0.1:4566"
				c.AccountID = "123456789012"
				c.Region = "eu-west-1"
				c.Profile = "logs"
				c.RoleARN, c.ExternalID, c.RoleSessionName = "arn:aws:iam::210987654321:role/delivery", "ext-id", "relay-1"
				c.Address = "::"
				c.CertFile, c.KeyFile = "/c.pem", "/k.pem"
				c.ClientCAFile = "/ca.pem"
				c.ClientAuth = tls.VerifyClientCertIfGiven
				c.MaxConnections = 0
				c.IdleTimeout = 90 * time.Second
				c.UDPReaders = 4
				c.MaxMessageBytes = 8192
				c.GroupPrefix = "/logs"
				c.Timezone = paris
				c.SpoolMaxBytes = 1 << 30
				c.ShutdownTimeout = time.Minute
				c.UploadTimeout = 2 * time.Minute
				c.MetricsAddress = "127.0.0.1:9100"
			}),
		},
		{
			name: "client CA alone means require",
			args: []string{"--client-ca", "/ca.pem"},
			env:  spool,
			want: want(func(c *Config) {
				c.ClientCAFile = "/ca.pem"
				c.ClientAuth = tls.RequireAndVerifyClientCert
			}),
		},
		{
			name: "intake log options",
			args: []string{"--intake-dir", "/log", "--intake-sync-interval", "50ms"},
			env:  spool,
			want: want(func(c *Config) { c.IntakeDir, c.IntakeSyncInterval = "/log", 50*time.Millisecond }),
		},
		{
			name: "intake log off",
			args: []string{"--intake-log", "off"},
			env:  spool,
			want: want(func(c *Config) { c.IntakeLog = false }),
		},
		{
			name: "intake log off from the environment",
			env:  with(map[string]string{"KINESYSLOG_INTAKE_LOG": "off"}),
			want: want(func(c *Config) { c.IntakeLog = false }),
		},
		{
			name: "prometheus port and log format from the environment",
			env:  with(map[string]string{"KINESYSLOG_PROMETHEUS_PORT": "9100", "KINESYSLOG_LOG_FORMAT": "json"}),
			want: want(func(c *Config) {
				c.PrometheusPort, c.MetricsAddress, c.LogFormat = 9100, "0.0.0.0:9100", "json"
			}),
		},
		{
			name: "prometheus port beside a metrics address",
			args: []string{"--prometheus-port", "9100"},
			env:  with(map[string]string{"KINESYSLOG_METRICS_ADDRESS": "127.0.0.1:9101"}),
			want: want(func(c *Config) { c.PrometheusPort, c.MetricsAddress = 9100, "127.0.0.1:9101" }),
		},
		{
			name: "GELF ports from flags and environment",
			args: []string{"--gelf-udp-port", "12201", "--gelf-tls-port=0"},
			env:  with(map[string]string{"KINESYSLOG_GELF_TCP_PORT": "12201 12202", "KINESYSLOG_GELF_UDP_PORT": "9"}),
			want: want(func(c *Config) {
				c.GELFUDPPorts, c.GELFTCPPorts, c.GELFTLSPorts = []int{12201}, []int{12201, 12202}, []int{}
			}),
		},
		{
			name: "flush age and stall timeout",
			args: []string{"--output", "/out", "--flush-age", "5s"},
			env:  with(map[string]string{"KINESYSLOG_STALL_TIMEOUT": "30s"}),
			want: want(func(c *Config) { c.OutputDir, c.FlushAge, c.StallTimeout = "/out", 5*time.Second, 30*time.Second }),
		},
		{
			name: "sizes in bytes",
			args: []string{"--max-message-size", "4096", "--spool-max-bytes=16MiB"},
			env:  spool,
			want: want(func(c *Config) {
				c.MaxMessageBytes = 4096
				c.SpoolMaxBytes = 16 << 20
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := load(t, tt.args, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpConfig); diff != "" {
				t.Errorf("Load(%q, %v) mismatch (-want +got):\n%s", tt.args, tt.env, diff)
			}
		})
	}
}

func TestLoadDefaultSpoolDir(t *testing.T) {
	got, err := load(t, nil, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := DefaultSpoolDir(); got.SpoolDir != want {
		t.Errorf("SpoolDir = %q, want DefaultSpoolDir() %q", got.SpoolDir, want)
	}
}

func TestLoadBadEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string // the lines of the error, in flag name order
	}{
		{
			name: "port",
			env:  map[string]string{"KINESYSLOG_TCP_PORT": "5514 abc"},
			want: []string{`KINESYSLOG_TCP_PORT="5514 abc": invalid value "abc" for --tcp-port: invalid syntax`},
		},
		{
			name: "boolean",
			env:  map[string]string{"KINESYSLOG_GELF": "maybe"},
			want: []string{`KINESYSLOG_GELF="maybe": want 1, 0, true, false, yes or no`},
		},
		{
			name: "every bad value at once",
			env: map[string]string{
				"KINESYSLOG_UDP_PORT":         "99999999999999999999",
				"KINESYSLOG_DEBUG":            "on",
				"KINESYSLOG_IDLE_TIMEOUT":     "soon",
				"KINESYSLOG_TIMEZONE":         "Mars/Olympus_Mons",
				"KINESYSLOG_MAX_MESSAGE_SIZE": "64KB",
				"KINESYSLOG_CLIENT_AUTH":      "sometimes",
				"KINESYSLOG_MAX_CONNECTIONS":  "-",
				"KINESYSLOG_STREAM":           "fine",
			},
			want: []string{
				`KINESYSLOG_CLIENT_AUTH="sometimes": invalid value "sometimes" for --client-auth: want request or require`,
				`KINESYSLOG_DEBUG="on": want 1, 0, true, false, yes or no`,
				`KINESYSLOG_IDLE_TIMEOUT="soon": invalid value "soon" for --idle-timeout: time: invalid duration "soon"`,
				`KINESYSLOG_MAX_CONNECTIONS="-": invalid value "-" for --max-connections: invalid syntax`,
				`KINESYSLOG_MAX_MESSAGE_SIZE="64KB": invalid value "64KB" for --max-message-size: size "64KB": ` + errSize.Error(),
				`KINESYSLOG_TIMEZONE="Mars/Olympus_Mons": invalid value "Mars/Olympus_Mons" for --timezone: unknown time zone Mars/Olympus_Mons`,
				`KINESYSLOG_UDP_PORT="99999999999999999999": invalid value "99999999999999999999" for --udp-port: value out of range`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, nil, tt.env)
			if err == nil {
				t.Fatalf("Load(%v) = nil, want errors", tt.env)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Load(%v) errors mismatch (-want +got):\n%s", tt.env, diff)
			}
		})
	}
}

// TestLoadIgnoresOtherFlags checks that flags others define on the same set, such as cobra's
// --help, are not read from the environment.
func TestLoadIgnoresOtherFlags(t *testing.T) {
	c := Default()
	fs := pflag.NewFlagSet("listen", pflag.ContinueOnError)
	before := fs.Bool("before", false, "")
	c.RegisterFlags(fs)
	after := fs.Bool("after", false, "")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KINESYSLOG_BEFORE": "1", "KINESYSLOG_AFTER": "1", "KINESYSLOG_DEBUG": "1"}
	if err := c.Load(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if *before || *after || !c.Debug {
		t.Errorf("before, after, Debug = %v, %v, %v; want false, false, true", *before, *after, c.Debug)
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"stream":           "KINESYSLOG_STREAM",
		"tcp-port":         "KINESYSLOG_TCP_PORT",
		"relp-port":        "KINESYSLOG_RELP_PORT",
		"relp-tls-port":    "KINESYSLOG_RELP_TLS_PORT",
		"max-message-size": "KINESYSLOG_MAX_MESSAGE_SIZE",
	} {
		if got := EnvName(flag); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flag, got, want)
		}
	}
}

// TestHelpShowsDefaults checks the defaults --help prints for every option that has one.
func TestHelpShowsDefaults(t *testing.T) {
	c := Default()
	fs := pflag.NewFlagSet("listen", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	usage := fs.FlagUsages()
	for _, want := range []string{
		`--address ADDRESS`, `(default "0.0.0.0")`,
		`--tls-port PORT`, `(default [6514])`,
		`--udp-port PORT`, `--tcp-port PORT`, `--relp-port PORT`, `--relp-tls-port PORT`, `--proxy-protocol PORT`, `(default none)`,
		`--group-prefix PREFIX`, `(default "/kinesyslog")`,
		`--max-message-size size`, `(default 64KiB)`,
		`--spool-max-bytes size`, `(default 10GiB)`,
		`--idle-timeout duration`, `(default 10m0s)`,
		`--shutdown-timeout duration`, `(default 20s)`,
		`--timezone ZONE`, `(default UTC)`,
		`--max-connections int`, `(default 10000)`,
		`--client-auth MODE`, `(default require when --client-ca is given)`,
		`--spool-dir DIR`, `(default /var/spool/kinesyslog if it exists or can be created, else $XDG_STATE_HOME/kinesyslog or ~/.local/state/kinesyslog)`,
		`--metrics-address HOST:PORT`, `(default off)`,
		`--udp-readers int`, `0 for one per CPU, GOMAXPROCS (default 0)`,
		`--stream NAME`, `--output DIR`, `--endpoint-url URL`, `--account-id ID`, `--region REGION`,
		`--profile PROFILE`, `--cert FILE`, `--key FILE`, `--client-ca FILE`, `--client-allow PATTERN`,
		`--gelf `, `--debug `,
	} {
		if !strings.Contains(usage, want) {
			t.Errorf("FlagUsages() lacks %q:\n%s", want, usage)
		}
	}
}
