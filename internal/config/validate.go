package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"

	"github.com/kinesyslog/kinesyslog/internal/kinesis"
)

// maxPort is the largest TCP or UDP port number.
const maxPort = 65535

var (
	// streamName is the pattern and length AWS gives for DeliveryStreamName.
	streamName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)
	// kinesisStreamName is the pattern and length AWS gives for a Kinesis StreamName.
	kinesisStreamName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
	// accountID is an AWS account number: twelve digits.
	accountID = regexp.MustCompile(`^[0-9]{12}$`)
	// groupPrefix keeps logGroup within the characters CloudWatch Logs allows in a log group
	// name, which consumers of subscription records may rely on.
	groupPrefix = regexp.MustCompile(`^[a-zA-Z0-9._/#-]*$`)
)

// Validate reports whether c describes a relay that can run. It returns nil, or every problem
// it finds joined with errors.Join, each naming the flag to change. Zero port entries are
// ignored, as Config documents.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}

	switch {
	case len(c.Streams) == 0 && c.OutputDir == "" && len(c.KinesisStreams) == 0:
		bad("no destination: set --stream NAME (Firehose), --kinesis-stream NAME (Kinesis Data Streams) or --output DIR (local directory)")
	case len(c.Streams) > 0 && c.OutputDir != "":
		bad("--stream and --output both given: set only one destination")
	}
	checkNames("--stream", c.Streams, streamName, "a delivery stream name is 1 to 64 letters, digits, '_', '.' or '-'", bad)
	checkKinesis(c, bad)
	if c.EndpointURL != "" {
		if u, err := url.Parse(c.EndpointURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("--endpoint-url %q: want an http or https URL with a host", c.EndpointURL)
		}
	}
	if c.AccountID != "" && !accountID.MatchString(c.AccountID) {
		bad("--account-id %q: an AWS account ID is 12 digits", c.AccountID)
	}
	c.AWS.check(bad)

	udp := checkPorts("--udp-port", c.UDPPorts, bad)
	tcp := checkPorts("--tcp-port", c.TCPPorts, bad)
	tlsPorts := checkPorts("--tls-port", c.TLSPorts, bad)
	relp := checkPorts("--relp-port", c.RELPPorts, bad)
	relpTLS := checkPorts("--relp-tls-port", c.RELPTLSPorts, bad)
	gelfUDP := checkPorts("--gelf-udp-port", c.GELFUDPPorts, bad)
	gelfTCP := checkPorts("--gelf-tcp-port", c.GELFTCPPorts, bad)
	gelfTLS := checkPorts("--gelf-tls-port", c.GELFTLSPorts, bad)
	if len(udp)+len(tcp)+len(tlsPorts)+len(relp)+len(relpTLS)+len(gelfUDP)+len(gelfTCP)+len(gelfTLS) == 0 {
		bad("no listener enabled: set --udp-port, --tcp-port or --tls-port")
	}
	// A port number reads one format, so that its log group, <prefix>/<format>/<port>, is one.
	for _, g := range []struct {
		flag string
		set  map[int]bool
	}{{"--gelf-udp-port", gelfUDP}, {"--gelf-tcp-port", gelfTCP}, {"--gelf-tls-port", gelfTLS}} {
		for _, p := range slices.Sorted(maps.Keys(g.set)) {
			if udp[p] || tcp[p] || tlsPorts[p] || relp[p] || relpTLS[p] {
				bad("%s %d is a syslog port too: a port number reads one format", g.flag, p)
			}
		}
	}
	// Each TCP port serves one kind of listener.
	streamPorts := []struct {
		flag string
		set  map[int]bool
	}{{"--tcp-port", tcp}, {"--tls-port", tlsPorts}, {"--relp-port", relp}, {"--relp-tls-port", relpTLS},
		{"--gelf-tcp-port", gelfTCP}, {"--gelf-tls-port", gelfTLS}}
	for i, a := range streamPorts {
		for _, b := range streamPorts[i+1:] {
			for _, p := range slices.Sorted(maps.Keys(a.set)) {
				if b.set[p] {
					bad("%s and %s both use %d: a TCP port serves one of them", a.flag, b.flag, p)
				}
			}
		}
	}
	proxy := checkPorts("--proxy-protocol", c.ProxyProtocolPorts, bad)
	for _, p := range slices.Sorted(maps.Keys(proxy)) {
		if !tcp[p] && !tlsPorts[p] && !relp[p] && !relpTLS[p] && !gelfTCP[p] && !gelfTLS[p] {
			bad("--proxy-protocol %d: not a TCP, TLS or RELP port of a listener", p)
		}
	}
	if !c.IntakeLog && len(relp)+len(relpTLS) > 0 {
		bad("--relp-port and --relp-tls-port acknowledge what is on disk: they need --intake-log on")
	}
	if c.IntakeLog && c.IntakeSyncInterval <= 0 {
		bad("--intake-sync-interval %v: want more than 0", c.IntakeSyncInterval)
	}
	if c.GELF && len(relp)+len(relpTLS) > 0 {
		bad("--relp-port and --relp-tls-port carry syslog messages: not with --gelf")
	}

	if (c.CertFile == "") != (c.KeyFile == "") {
		bad("--cert and --key: give both or neither")
	}
	if len(tlsPorts)+len(relpTLS)+len(gelfTLS) == 0 {
		for _, f := range []struct{ flag, value string }{
			{"--cert", c.CertFile}, {"--key", c.KeyFile}, {"--client-ca", c.ClientCAFile},
		} {
			if f.value != "" {
				bad("%s given but no --tls-port is enabled", f.flag)
			}
		}
	}
	switch c.ClientAuth {
	case tls.NoClientCert:
	case tls.VerifyClientCertIfGiven, tls.RequireAndVerifyClientCert:
		if c.ClientCAFile == "" {
			bad("--client-auth needs --client-ca")
		}
	default:
		bad("--client-auth: want request or require")
	}
	if len(c.ClientAllow) > 0 && c.ClientCAFile == "" {
		bad("--client-allow needs --client-ca")
	}
	for _, p := range c.ClientAllow {
		if _, err := path.Match(p, ""); err != nil {
			bad("--client-allow %q: malformed pattern", p)
		}
	}

	if c.FlushAge < 0 {
		bad("--flush-age %v: want more than 0", c.FlushAge)
	}
	switch {
	case c.StallTimeout <= 0:
		bad("--stall-timeout %v: want more than 0", c.StallTimeout)
	case c.StallTimeout <= c.FlushAge:
		// A record spooled just after a batch went out waits a flush age for the next one.
		bad("--stall-timeout %v: want more than --flush-age %v, which a spooled record may wait for its batch", c.StallTimeout, c.FlushAge)
	}
	if c.UploadTimeout <= 0 {
		bad("--upload-timeout %v: want more than 0", c.UploadTimeout)
	}
	if c.MaxConnections < 0 {
		bad("--max-connections %d: want 0 (no limit) or more", c.MaxConnections)
	}
	if c.IdleTimeout < 0 {
		bad("--idle-timeout %v: want 0 (never) or more", c.IdleTimeout)
	}
	if c.UDPReaders < 0 {
		bad("--udp-readers %d: want 0 (one per CPU) or more", c.UDPReaders)
	}
	if c.MaxMessageBytes < MinMessageBytes || c.MaxMessageBytes > MaxMessageBytes {
		bad("--max-message-size %d: want %d to %d bytes", c.MaxMessageBytes, MinMessageBytes, MaxMessageBytes)
	}
	if !groupPrefix.MatchString(c.GroupPrefix) || len(c.GroupPrefix) > 0 && c.GroupPrefix[len(c.GroupPrefix)-1] == '/' {
		bad("--group-prefix %q: use letters, digits and . _ / # - only, not ending in /", c.GroupPrefix)
	}
	if c.SpoolMaxBytes < MinSpoolBytes {
		bad("--spool-max-bytes %d: want at least %d", c.SpoolMaxBytes, MinSpoolBytes)
	}
	if c.ShutdownTimeout < 0 {
		bad("--shutdown-timeout %v: want 0 (no last upload) or more", c.ShutdownTimeout)
	}
	switch {
	case c.PrometheusPort < 0 || c.PrometheusPort > maxPort:
		bad("--prometheus-port %d: want a port from 1 to %d, or 0 to disable", c.PrometheusPort, maxPort)
	case c.PrometheusPort != 0 && c.MetricsAddress != prometheusAddress(c.PrometheusPort):
		bad("--prometheus-port and --metrics-address both given: set only one")
	case c.MetricsAddress != "":
		if _, _, err := net.SplitHostPort(c.MetricsAddress); err != nil {
			bad("--metrics-address %q: want host:port", c.MetricsAddress)
		}
	}
	if c.LogFormat != "" && c.LogFormat != LogFormatText && c.LogFormat != LogFormatJSON {
		bad("--log-format %q: want text or json", c.LogFormat)
	}
	return errors.Join(errs...)
}

// checkPorts reports ports out of range and ports given more than once, each once, and returns
// the set of the valid non-zero ports.
func checkPorts(flag string, ports []int, bad func(string, ...any)) map[int]bool {
	set := make(map[int]bool, len(ports))
	seen := make(map[int]int, len(ports))
	for _, p := range ports {
		seen[p]++
		switch {
		case p == 0:
		case p < 0 || p > maxPort:
			if seen[p] == 1 {
				bad("%s %d: want a port from 1 to %d, or 0 to disable", flag, p, maxPort)
			}
		case seen[p] == 2:
			bad("%s %d given more than once", flag, p)
		default:
			set[p] = true
		}
	}
	return set
}

// checkKinesis reports, with bad, what is wrong with c's Kinesis Data Streams destination: a
// name or stream ARN that is not one, a stream given twice (by name or ARN), another destination beside it, or --endpoint-url,
// which is Firehose's.
func checkKinesis(c *Config, bad func(format string, args ...any)) {
	if len(c.KinesisStreams) == 0 {
		return
	}
	if len(c.Streams) > 0 {
		bad("--kinesis-stream and --stream both given: set only one destination")
	}
	if c.OutputDir != "" {
		bad("--kinesis-stream and --output both given: set only one destination")
	}
	if c.EndpointURL != "" {
		bad("--endpoint-url is the Firehose endpoint, unused with --kinesis-stream: set AWS_ENDPOINT_URL_KINESIS instead")
	}
	names := make([]string, 0, len(c.KinesisStreams))
	for _, s := range c.KinesisStreams {
		st, err := kinesis.ParseStream(s)
		if err != nil {
			bad("--kinesis-stream: %v", err)
			continue
		}
		names = append(names, st.Name)
	}
	checkNames("--kinesis-stream", names, kinesisStreamName, "a data stream name is 1 to 128 letters, digits, '_', '.' or '-'", bad)
}

// checkNames reports, with bad, each of names, the values of flag, that pattern (described by
// rule) does not match or that is given twice.
func checkNames(flag string, names []string, pattern *regexp.Regexp, rule string, bad func(format string, args ...any)) {
	for i, name := range names {
		switch {
		case !pattern.MatchString(name):
			bad("%s %q: %s", flag, name, rule)
		case slices.Contains(names[:i], name):
			bad("%s %q given twice: give each stream once", flag, name)
		}
	}
}
