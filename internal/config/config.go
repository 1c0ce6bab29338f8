package config

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/intake"
)

// Defaults of the options of `kinesyslog listen`, as Default returns them.
const (
	// DefaultAddress binds every listener on all IPv4 interfaces, as the spec does.
	DefaultAddress = "0.0.0.0"
	// DefaultTLSPort is the port IANA assigned to syslog over TLS (RFC5425 section 4.1).
	DefaultTLSPort = 6514
	// DefaultGroupPrefix starts every logGroup: <prefix>/<syslog|gelf>/<port>.
	DefaultGroupPrefix = "/kinesyslog"
	// DefaultMaxMessageBytes keeps the longest messages real senders write (stack traces, JSON
	// payloads) whole, where the Python original cut everything past 6 KiB.
	DefaultMaxMessageBytes = 64 << 10
	// DefaultMaxConnections bounds open TCP and TLS connections of all listeners together. Each
	// costs a file descriptor, a goroutine and a read buffer; 10,000 senders is more than one relay
	// should carry, yet far below the 65,536 descriptors the systemd unit allows.
	DefaultMaxConnections = 10_000
	// DefaultIdleTimeout closes connections that sent nothing for this long, so that clients that
	// vanished (a NAT entry dropped, a host powered off) do not hold descriptors forever. Senders
	// reconnect by themselves; ten minutes spares quiet hosts a reconnection per message.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultSpoolMaxBytes caps the spool at 10 GiB: 34 minutes at the largest Direct PUT quota
	// (5 MiB/s of compressed records), and days at the rates most relays see.
	DefaultSpoolMaxBytes int64 = 10 << 30
	// DefaultShutdownTimeout bounds spooling and the last upload attempt at shutdown. It
	// leaves most of the stop timeout of the unit `install` writes (TimeoutStopSec=60s) for
	// closing listeners before systemd would kill the process.
	DefaultShutdownTimeout = 20 * time.Second
	// DefaultUploadTimeout bounds one PutRecordBatch call: a full call (about 5.4 MB in base64)
	// fits it over a link of 1.5 Mbit/s, and the uploader sends less at once after timeouts over
	// a slower one.
	DefaultUploadTimeout = 30 * time.Second
	// DefaultFlushAge is the longest a message waits in memory, and a record in the spool, before
	// it goes on towards Firehose: the spec's 60 s.
	DefaultFlushAge = 60 * time.Second
	// DefaultOutputFlushAge is DefaultFlushAge for --output, a directory a newcomer looks into
	// right after sending a message: it shows there within seconds.
	DefaultOutputFlushAge = time.Second
	// DefaultStallTimeout is how long records may wait with nothing delivered before /readyz
	// reports the destination stalled: twice the upload interval of DefaultFlushAge, so that a
	// record waiting for the next upload is not mistaken for an outage.
	DefaultStallTimeout = 2 * time.Minute
)

// SystemSpoolDir is the spool directory of a relay run as a service: under /var/spool, as the
// FHS places queued work, and not under /tmp, which a restart with PrivateTmp=true wipes.
const SystemSpoolDir = "/var/spool/kinesyslog"

// Bounds of MaxMessageBytes and SpoolMaxBytes that Validate enforces.
const (
	// MinMessageBytes is the length every RFC5425 receiver must accept (section 4.3.1); the same
	// limit applies to every listener, TLS included.
	MinMessageBytes = 2048
	// MaxMessageBytes is the longest message a record always keeps whole, whatever its bytes:
	// record.MaxWholeMessageBytes (165,968: JSON may take six bytes for one) less room for the
	// header a syslog rewrite adds (at most about 100 bytes). Up to 1,000,000 bytes were allowed
	// once, and messages over this were then cut in the record without a count.
	MaxMessageBytes = 160 << 10
	// MinSpoolBytes lets the spool hold two full PutRecordBatch calls (4,000,000 bytes each), so
	// that records keep arriving while one batch is in flight.
	MinSpoolBytes int64 = 8 << 20
	// MinIntakeBytes is the least share of SpoolMaxBytes the intake log gets: room for several
	// commits of buffer.MaxStagedBytes, each at most a quarter of the log.
	MinIntakeBytes int64 = 4 << 20
)

// Config is the configuration of one relay: where it listens, what it accepts, where it spools
// and where it delivers. Default returns the defaults of the command line; the zero value is not
// a valid Config (it has no listener and no destination), and Validate says why.
//
// Field comments name the flag that sets each field and what the zero value means.
type Config struct {
	// Streams are the Amazon Data Firehose delivery streams records are spread over (--stream,
	// repeatable). Exactly one of Streams and OutputDir is set.
	Streams []string
	// OutputDir is a local directory records are written to, laid out as Firehose lays out
	// objects in S3 (--output). Exactly one of Streams and OutputDir is set.
	OutputDir string
	// KinesisStreams are the Kinesis Data Streams records are sent to instead
	// (--kinesis-stream, repeatable), each source to one of them (package kinesis). When set,
	// Stream, OutputDir and EndpointURL are not.
	KinesisStreams []string
	// EndpointURL overrides the Firehose endpoint (--endpoint-url). Empty leaves it to the SDK,
	// which honours AWS_ENDPOINT_URL_FIREHOSE and AWS_ENDPOINT_URL_STS.
	EndpointURL string
	// AccountID is the record owner, twelve digits (--account-id). Empty means the account in
	// the delivery stream's ARN, else STS GetCallerIdentity's (package firehose).
	AccountID string
	// AWS is where the AWS configuration comes from: region, profile, role.
	AWS
	// FlushAge is the longest a message waits in memory before it is encoded and spooled, a
	// spooled record before it is sent in a batch that is not full, and, with OutputDir, an open
	// object before it is published (--flush-age). Zero means DefaultFlushAge, or
	// DefaultOutputFlushAge with OutputDir; Load resolves it.
	FlushAge time.Duration
	// StallTimeout is how long the oldest spooled record may wait, with nothing delivered for as
	// long, before /readyz reports the destination stalled (--stall-timeout). Validate requires
	// more than zero.
	StallTimeout time.Duration
	// UploadTimeout bounds each PutRecordBatch call (--upload-timeout); after a timeout the
	// uploader sends less at once. Validate requires more than zero.
	UploadTimeout time.Duration

	// Address is the address every listener binds (--address). Empty means all interfaces.
	Address string
	// UDPPorts are the ports of the UDP listeners (--udp-port). A zero entry disables nothing
	// and is ignored, as in the spec where 0 means "disabled"; Load removes zero entries.
	UDPPorts []int
	// TCPPorts are the ports of the plain TCP listeners (--tcp-port); zero entries as UDPPorts.
	TCPPorts []int
	// TLSPorts are the ports of the TLS listeners (--tls-port); zero entries as UDPPorts.
	TLSPorts []int
	// RELPPorts are the ports of the RELP listeners (--relp-port), whose syslog messages are
	// acknowledged once durable; zero entries as UDPPorts.
	RELPPorts []int
	// RELPTLSPorts are the ports of the RELP listeners over TLS (--relp-tls-port), with the
	// certificate and client checks of TLSPorts; zero entries as UDPPorts.
	RELPTLSPorts []int
	// ProxyProtocolPorts are the TCP, TLS and RELP ports whose connections start with a PROXY
	// protocol v1 or v2 header (--proxy-protocol); every other port treats such a header as
	// data. Zero entries as UDPPorts.
	ProxyProtocolPorts []int
	// CertFile and KeyFile are the PEM certificate (chain) and private key of the TLS listeners
	// (--cert, --key). Both empty means a self-signed certificate made at start.
	CertFile string
	KeyFile  string
	// ClientCAFile is a PEM bundle of the CAs that sign client certificates (--client-ca).
	// Empty means client certificates are neither requested nor checked.
	ClientCAFile string
	// ClientAuth is how TLS listeners treat client certificates (--client-auth):
	// tls.VerifyClientCertIfGiven ("request") or tls.RequireAndVerifyClientCert ("require").
	// The zero value, tls.NoClientCert, with a ClientCAFile means "require"; Load makes that
	// explicit.
	ClientAuth tls.ClientAuthType
	// ClientAllow are patterns in path.Match syntax (e.g. "*.example.com"); a client certificate
	// is accepted only if its subject CN or one of its DNS or URI SANs matches one (--client-allow).
	// Empty accepts every certificate the CAs verify.
	ClientAllow []string
	// MaxConnections bounds the open TCP and TLS connections of all listeners together
	// (--max-connections). Zero means no limit.
	MaxConnections int
	// IdleTimeout closes a TCP or TLS connection that sent nothing for this long (--idle-timeout).
	// Zero means never.
	IdleTimeout time.Duration
	// UDPReaders is the number of readers of each UDP port, each with a socket of its own on Linux
	// (--udp-readers). Zero means runtime.GOMAXPROCS(0).
	UDPReaders int
	// MaxMessageBytes is the longest message kept whole; longer ones are truncated
	// (--max-message-size). Validate requires it within [MinMessageBytes, MaxMessageBytes].
	MaxMessageBytes int

	// GELF makes every listener read GELF instead of syslog (--gelf).
	GELF bool
	// GELFUDPPorts, GELFTCPPorts and GELFTLSPorts are ports of UDP, TCP and TLS listeners that
	// read GELF beside the syslog ones (--gelf-udp-port, --gelf-tcp-port, --gelf-tls-port); zero
	// entries as UDPPorts. A port number reads one format: Validate refuses one that is also a
	// syslog port.
	GELFUDPPorts []int
	GELFTCPPorts []int
	GELFTLSPorts []int
	// GroupPrefix starts every logGroup and subscription filter, <prefix>/<format>/<port>
	// (--group-prefix). Empty gives groups like "/syslog/514".
	GroupPrefix string
	// Timezone is the zone of RFC3164 timestamps that carry none (--timezone). Nil means UTC.
	Timezone *time.Location

	// SpoolDir is the directory of the on-disk spool (--spool-dir). Empty means
	// DefaultSpoolDir(); Load resolves it.
	SpoolDir string
	// SpoolMaxBytes caps the bytes held in the spool (--spool-max-bytes); when it is reached,
	// TCP and TLS listeners stop reading and UDP datagrams are dropped. Validate requires at
	// least MinSpoolBytes.
	SpoolMaxBytes int64
	// IntakeLog turns on the intake log (--intake-log on|off): every accepted message is written
	// ahead to disk before it is buffered, so that a crash loses at most the last
	// IntakeSyncInterval, and RELP can acknowledge. Default on.
	IntakeLog bool
	// IntakeDir is the intake log's directory (--intake-dir). Empty means SpoolDir/intake; Load
	// resolves it.
	IntakeDir string
	// IntakeSyncInterval is the longest time between accepting a message and the fdatasync of the
	// intake log that covers it (--intake-sync-interval): what a crash can cost.
	IntakeSyncInterval time.Duration
	// ShutdownTimeout bounds shutdown after a signal (--shutdown-timeout): spooling what the
	// buffers hold, waiting for room in a full spool, and the last upload attempt. Zero means no
	// upload and no waiting: what the spool cannot take at once is lost, the rest waits for the
	// next start.
	ShutdownTimeout time.Duration

	// MetricsAddress is the host:port serving Prometheus metrics at /metrics, and /healthz and
	// /readyz (--metrics-address). Empty means no metrics server.
	MetricsAddress string
	// PrometheusPort is the original 2.x option, a short form of MetricsAddress
	// "0.0.0.0:PORT" (--prometheus-port): Load sets MetricsAddress from it, and Validate refuses
	// both given. Zero means unset.
	PrometheusPort int
	// LogFormat is how the relay writes its log to stderr (--log-format): LogFormatText or
	// LogFormatJSON. Empty means LogFormatText.
	LogFormat string
	// Debug turns on debug logging (--debug).
	Debug bool
}

// The log formats of --log-format: log/slog's TextHandler and JSONHandler.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// Default returns the configuration of `kinesyslog listen` without options: a TLS listener on
// DefaultTLSPort and no destination (so it does not pass Validate until Stream or OutputDir is
// set). SpoolDir is left empty for Load to resolve, so that Default has no side effect and
// --help does not depend on the machine.
func Default() Config {
	return Config{
		Address:         DefaultAddress,
		TLSPorts:        []int{DefaultTLSPort},
		MaxConnections:  DefaultMaxConnections,
		IdleTimeout:     DefaultIdleTimeout,
		MaxMessageBytes: DefaultMaxMessageBytes,
		GroupPrefix:     DefaultGroupPrefix,
		Timezone:        time.UTC,
		SpoolMaxBytes:   DefaultSpoolMaxBytes,
		ShutdownTimeout: DefaultShutdownTimeout,
		UploadTimeout:   DefaultUploadTimeout,
		StallTimeout:    DefaultStallTimeout,
		LogFormat:       LogFormatText,

		IntakeLog:          true,
		IntakeSyncInterval: intake.DefaultSyncInterval,
	}
}

// BufferMaxBytes returns the cap on the events the relay holds in memory: with the intake log,
// which has them on disk too, buffer.DefaultLoggedMaxBytes, else buffer.DefaultMaxBytes.
func (c Config) BufferMaxBytes() int64 {
	if c.IntakeLog {
		return buffer.DefaultLoggedMaxBytes
	}
	return buffer.DefaultMaxBytes
}

// IntakeMaxBytes returns the share of SpoolMaxBytes that the intake log may hold when it is on:
// an eighth, at least MinIntakeBytes and at most intake.DefaultMaxBytes. 0 when it is off.
func (c Config) IntakeMaxBytes() int64 {
	if !c.IntakeLog {
		return 0
	}
	return min(max(c.SpoolMaxBytes/8, MinIntakeBytes), intake.DefaultMaxBytes)
}

// SpoolRecordBytes returns what the spool's records may hold: SpoolMaxBytes less
// IntakeMaxBytes.
func (c Config) SpoolRecordBytes() int64 { return c.SpoolMaxBytes - c.IntakeMaxBytes() }

// DefaultSpoolDir returns SystemSpoolDir when this process can write it, or create it; else the
// per-user state directory, $XDG_STATE_HOME/kinesyslog or ~/.local/state/kinesyslog, so that a
// relay run by hand by an unprivileged user still has a spool that survives a reboot. It returns
// SystemSpoolDir when no home directory is known either, leaving the spool to report the error.
// It creates nothing.
func DefaultSpoolDir() string {
	return defaultSpoolDir(SystemSpoolDir, os.Getenv, os.UserHomeDir)
}

func defaultSpoolDir(system string, getenv func(string) string, home func() (string, error)) string {
	if canWrite(system) {
		return system
	}
	// The XDG base directory specification says to ignore a relative path.
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "kinesyslog")
	}
	if h, err := home(); err == nil && h != "" {
		return filepath.Join(h, ".local", "state", "kinesyslog")
	}
	return system
}

// canWrite reports whether dir can be used as a spool: it is a directory this process may create
// files in, or it does not exist and its parent is one. access(2) answers without creating
// anything, and says no on a read-only file system.
func canWrite(dir string) bool {
	fi, err := os.Stat(dir)
	switch {
	case err == nil:
		return fi.IsDir() && unix.Access(dir, unix.W_OK|unix.X_OK) == nil
	case errors.Is(err, fs.ErrNotExist):
		return unix.Access(filepath.Dir(dir), unix.W_OK|unix.X_OK) == nil
	default:
		return false
	}
}
