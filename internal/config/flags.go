package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// EnvPrefix starts the name of the environment variable of each flag: KINESYSLOG_TCP_PORT for
// --tcp-port.
const EnvPrefix = "KINESYSLOG_"

// envAnnotation marks the flags RegisterFlags defines, with the name of their environment
// variable, so that Load leaves alone the flags others add to the same set (cobra's --help).
const envAnnotation = "kinesyslog-env"

// RegisterFlags defines on fs one flag per field of c, with c's current values as the defaults
// shown by --help. Parsing fs writes into c, so c must outlive fs and be the Config later given
// to Load.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	// Defined on a set of their own first, so that only these flags are marked for Load.
	own := pflag.NewFlagSet("config", pflag.ContinueOnError)
	// Unsorted, AddFlagSet keeps the order of definition for a FlagSet that does not sort.
	own.SortFlags = false
	c.defineFlags(own)
	own.VisitAll(func(f *pflag.Flag) {
		// SetAnnotation fails only for a flag the set does not have.
		_ = own.SetAnnotation(f.Name, envAnnotation, []string{EnvName(f.Name)})
	})
	fs.AddFlagSet(own)
}

func (c *Config) defineFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.Streams, "stream", c.Streams,
		"Amazon Data Firehose delivery stream `NAME` to deliver to; repeatable (or comma-separated): records are spread over the streams, each paced at a rate learned from its throttling; give --stream or --output")
	fs.StringVar(&c.OutputDir, "output", c.OutputDir,
		"deliver to local `DIR` instead, laid out as Firehose writes S3 (no AWS account needed)")
	fs.StringSliceVar(&c.KinesisStreams, "kinesis-stream", c.KinesisStreams,
		"Kinesis Data Streams `NAME` or ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME, of the configured region) to deliver to instead; repeatable (or comma-separated): each source's records go to one stream, partition key its log group and log stream; AWS_ENDPOINT_URL_KINESIS sets the endpoint")
	fs.StringVar(&c.EndpointURL, "endpoint-url", c.EndpointURL,
		"Firehose endpoint `URL` (VPC endpoint, FIPS, tests); AWS_ENDPOINT_URL_FIREHOSE works too")
	fs.StringVar(&c.AccountID, "account-id", c.AccountID,
		"record owner, a 12-digit AWS account `ID`; without it the owner comes from the delivery stream's ARN, else STS")
	c.AWS.AddFlags(fs)
	fs.DurationVar(&c.UploadTimeout, "upload-timeout", c.UploadTimeout,
		"most time one PutRecordBatch call (up to 4 MB of records) may take; after a timeout fewer calls, then smaller ones, are sent at once, growing back after calls that answer within half of it")
	fs.DurationVar(&c.FlushAge, "flush-age", c.FlushAge,
		"longest a message waits in memory before it is spooled, and a spooled record before it is sent; with --output also an object before it is published (default 60s, with --output 1s)")
	fs.DurationVar(&c.StallTimeout, "stall-timeout", c.StallTimeout,
		"/readyz reports the destination stalled once the oldest spooled record has waited this long with nothing delivered for as long")

	fs.StringVar(&c.Address, "address", c.Address, "bind `ADDRESS` of every listener")
	fs.IntSliceVar(&c.UDPPorts, "udp-port", c.UDPPorts,
		"UDP listener `PORT`; repeatable; 0 disables (default none)")
	fs.IntSliceVar(&c.TCPPorts, "tcp-port", c.TCPPorts,
		"TCP listener `PORT`; repeatable; 0 disables (default none)")
	fs.IntSliceVar(&c.TLSPorts, "tls-port", c.TLSPorts,
		"TLS listener `PORT` (RFC5425); repeatable; 0 disables")
	fs.IntSliceVar(&c.RELPPorts, "relp-port", c.RELPPorts,
		"RELP listener `PORT` (rsyslog omrelp), acknowledging each message once it is on disk; repeatable; 0 disables (default none)")
	fs.IntSliceVar(&c.RELPTLSPorts, "relp-tls-port", c.RELPTLSPorts,
		"RELP over TLS listener `PORT`, with the certificate and client checks of --tls-port; repeatable; 0 disables (default none)")
	fs.IntSliceVar(&c.ProxyProtocolPorts, "proxy-protocol", c.ProxyProtocolPorts,
		"expect a PROXY protocol v1/v2 header on this --tcp-port, --tls-port, --relp-port or --relp-tls-port `PORT`; repeatable; 0 disables (default none)")
	fs.StringVar(&c.CertFile, "cert", c.CertFile,
		"certificate `FILE` (PEM) of the TLS listeners, reloaded on SIGHUP; without --cert and --key a self-signed certificate is made at start and its fingerprint logged")
	fs.StringVar(&c.KeyFile, "key", c.KeyFile, "private key `FILE` (PEM) of --cert")
	fs.StringVar(&c.ClientCAFile, "client-ca", c.ClientCAFile,
		"verify TLS client certificates against the CA bundle `FILE` (PEM)")
	fs.Var(clientAuthValue{&c.ClientAuth}, "client-auth",
		"client certificate `MODE` with --client-ca: request (verify when sent) or require (default require when --client-ca is given)")
	fs.StringArrayVar(&c.ClientAllow, "client-allow", c.ClientAllow,
		"accept only client certificates whose subject CN or a DNS/URI SAN matches `PATTERN` (path.Match syntax, e.g. *.example.com); repeatable; needs --client-ca")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections,
		"most open TCP and TLS connections, all listeners together; 0 for no limit")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout,
		"close TCP and TLS connections idle this long; 0 never")
	fs.IntVar(&c.UDPReaders, "udp-readers", c.UDPReaders,
		"readers of each UDP port, each with a socket of its own; 0 for one per CPU, GOMAXPROCS (default 0)")
	fs.Var(sizeValue[int]{&c.MaxMessageBytes}, "max-message-size",
		fmt.Sprintf("longest message kept whole, whatever its bytes; longer ones are truncated, counted and logged; %d to %d bytes", MinMessageBytes, MaxMessageBytes))

	fs.BoolVar(&c.GELF, "gelf", c.GELF,
		"listen for GELF (Graylog Extended Log Format) instead of syslog on every port")
	fs.IntSliceVar(&c.GELFUDPPorts, "gelf-udp-port", c.GELFUDPPorts,
		"UDP listener `PORT` reading GELF beside the syslog ports; repeatable; 0 disables (default none)")
	fs.IntSliceVar(&c.GELFTCPPorts, "gelf-tcp-port", c.GELFTCPPorts,
		"TCP listener `PORT` reading GELF (NUL-delimited) beside the syslog ports; repeatable; 0 disables (default none)")
	fs.IntSliceVar(&c.GELFTLSPorts, "gelf-tls-port", c.GELFTLSPorts,
		"TLS listener `PORT` reading GELF (NUL-delimited) beside the syslog ports; repeatable; 0 disables (default none)")
	fs.StringVar(&c.GroupPrefix, "group-prefix", c.GroupPrefix,
		"`PREFIX` of every logGroup: PREFIX/syslog/PORT or PREFIX/gelf/PORT")
	fs.Var(locationValue{&c.Timezone}, "timezone",
		"IANA time `ZONE` of RFC3164 timestamps that carry none, e.g. Europe/Paris or Local")

	fs.StringVar(&c.SpoolDir, "spool-dir", c.SpoolDir,
		"spool `DIR` of records not yet delivered (default "+SystemSpoolDir+" if it exists or can be created, else $XDG_STATE_HOME/kinesyslog or ~/.local/state/kinesyslog)")
	fs.Var(sizeValue[int64]{&c.SpoolMaxBytes}, "spool-max-bytes",
		"most bytes in the spool; when full, TCP and TLS senders wait and UDP datagrams are dropped")
	fs.Var(onOffValue{&c.IntakeLog}, "intake-log",
		"write every accepted message to the intake log on disk before buffering it: a crash then loses at most --intake-sync-interval, shutdown need not spool the buffers, and RELP can acknowledge; its bytes are an eighth of --spool-max-bytes (4MiB to 1GiB); off keeps messages in memory only until their record is spooled")
	fs.StringVar(&c.IntakeDir, "intake-dir", c.IntakeDir,
		"intake log `DIR` (default SPOOL-DIR/intake)")
	fs.DurationVar(&c.IntakeSyncInterval, "intake-sync-interval", c.IntakeSyncInterval,
		"longest time between accepting a message and the intake log's fdatasync that covers it")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout,
		"how long shutdown may take after SIGTERM or SIGINT to spool what is buffered and upload it; 0 uploads nothing")

	fs.StringVar(&c.MetricsAddress, "metrics-address", c.MetricsAddress,
		"serve Prometheus metrics at http://`HOST:PORT`/metrics, health at /healthz and readiness at /readyz (default off)")
	fs.IntVar(&c.PrometheusPort, "prometheus-port", c.PrometheusPort,
		"short for --metrics-address 0.0.0.0:`PORT`, as kinesyslog 2.x spelled it; 0 disables")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat,
		"log `FORMAT` on stderr: text (key=value) or json (one JSON object a line)")
	fs.BoolVar(&c.Debug, "debug", c.Debug, "log debug messages to stderr")
}

// EnvName returns the environment variable read for a flag: EnvName("tcp-port") is
// "KINESYSLOG_TCP_PORT".
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Load completes c after fs, on which c.RegisterFlags defined the flags, has parsed the command
// line. Every flag of c not given on the command line takes the value of its environment
// variable, as lookupEnv (os.LookupEnv outside tests) reports it; see the package documentation
// for the syntax. Load then removes zero port entries, resolves an empty SpoolDir to
// DefaultSpoolDir(), resolves a zero FlushAge for the destination, sets MetricsAddress from PrometheusPort when only that is given, and sets ClientAuth to tls.RequireAndVerifyClientCert when a ClientCAFile
// is given without it.
//
// Load returns every bad environment value at once, each naming its variable; c is then
// incomplete. Load does not validate c: call Validate.
func (c *Config) Load(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		env := f.Annotations[envAnnotation]
		if f.Changed || len(env) == 0 {
			return
		}
		v, ok := lookupEnv(env[0])
		if v = strings.TrimSpace(v); !ok || v == "" {
			return
		}
		if err := setFromEnv(fs, f, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", env[0], v, err))
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	c.UDPPorts = withoutZeros(c.UDPPorts)
	c.TCPPorts = withoutZeros(c.TCPPorts)
	c.TLSPorts = withoutZeros(c.TLSPorts)
	c.RELPPorts = withoutZeros(c.RELPPorts)
	c.RELPTLSPorts = withoutZeros(c.RELPTLSPorts)
	c.ProxyProtocolPorts = withoutZeros(c.ProxyProtocolPorts)
	c.GELFUDPPorts = withoutZeros(c.GELFUDPPorts)
	c.GELFTCPPorts = withoutZeros(c.GELFTCPPorts)
	c.GELFTLSPorts = withoutZeros(c.GELFTLSPorts)
	if c.SpoolDir == "" {
		c.SpoolDir = DefaultSpoolDir()
	}
	if c.IntakeDir == "" {
		c.IntakeDir = filepath.Join(c.SpoolDir, "intake")
	}
	if c.FlushAge == 0 {
		c.FlushAge = DefaultFlushAge
		if c.OutputDir != "" {
			c.FlushAge = DefaultOutputFlushAge
		}
	}
	if c.PrometheusPort != 0 && c.MetricsAddress == "" {
		c.MetricsAddress = prometheusAddress(c.PrometheusPort)
	}
	if c.ClientCAFile != "" && c.ClientAuth == tls.NoClientCert {
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return nil
}

// prometheusAddress is the --metrics-address that --prometheus-port port stands for.
func prometheusAddress(port int) string { return net.JoinHostPort(DefaultAddress, strconv.Itoa(port)) }

// setFromEnv sets flag f from the value v of its environment variable.
func setFromEnv(fs *pflag.FlagSet, f *pflag.Flag, v string) error {
	var values []string
	switch f.Value.(type) {
	case pflag.SliceValue:
		// The spec separates repeated values with whitespace. Each Set after the first appends.
		values = strings.Fields(v)
	case boolValue:
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		values = []string{strconv.FormatBool(b)}
	default:
		values = []string{v}
	}
	for _, s := range values {
		if err := fs.Set(f.Name, s); err != nil {
			return fmt.Errorf("invalid value %q for --%s: %w", s, f.Name, plainError(err))
		}
	}
	return nil
}

// boolValue is implemented by pflag's boolean flags.
type boolValue interface{ IsBoolFlag() bool }

// parseBool reads the booleans shells and systemd units write.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes":
		return true, nil
	case "0", "false", "no":
		return false, nil
	}
	return false, errors.New("want 1, 0, true, false, yes or no")
}

// plainError returns the cause of an error of FlagSet.Set, without the flag name the caller
// already gives or the strconv function name of a number parsing error.
func plainError(err error) error {
	if ne, ok := errors.AsType[*strconv.NumError](err); ok {
		return ne.Err
	}
	if ive, ok := errors.AsType[*pflag.InvalidValueError](err); ok {
		return ive.Unwrap()
	}
	return err
}

func withoutZeros(ports []int) []int {
	return slices.DeleteFunc(ports, func(p int) bool { return p == 0 })
}

// clientAuthValue is the pflag.Value of --client-auth.
// onOffValue is a bool flag spelled on or off.
type onOffValue struct{ p *bool }

func (v onOffValue) Type() string { return "on|off" }

func (v onOffValue) String() string {
	if v.p != nil && *v.p {
		return "on"
	}
	return "off"
}

func (v onOffValue) Set(s string) error {
	switch s {
	case "on":
		*v.p = true
	case "off":
		*v.p = false
	default:
		return fmt.Errorf("%q: want on or off", s)
	}
	return nil
}

type clientAuthValue struct{ p *tls.ClientAuthType }

func (v clientAuthValue) Type() string { return "mode" }

func (v clientAuthValue) String() string {
	switch *v.p {
	case tls.VerifyClientCertIfGiven:
		return "request"
	case tls.RequireAndVerifyClientCert:
		return "require"
	}
	return ""
}

func (v clientAuthValue) Set(s string) error {
	switch s {
	case "request":
		*v.p = tls.VerifyClientCertIfGiven
	case "require":
		*v.p = tls.RequireAndVerifyClientCert
	default:
		return errors.New("want request or require")
	}
	return nil
}

// locationValue is the pflag.Value of --timezone: an IANA zone name, checked by loading it.
type locationValue struct{ p **time.Location }

func (v locationValue) Type() string { return "zone" }

func (v locationValue) String() string {
	if *v.p == nil {
		return time.UTC.String()
	}
	return (*v.p).String()
}

func (v locationValue) Set(s string) error {
	loc, err := time.LoadLocation(s)
	if err != nil {
		return err
	}
	*v.p = loc
	return nil
}
