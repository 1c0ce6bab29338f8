package relay

import (
	"slices"

	"github.com/kinesyslog/kinesyslog/internal/config"
)

// portSet is the listener ports of one format, by protocol.
type portSet struct{ udp, tcp, tls []int }

// formatPorts returns the ports of cfg that read syslog and those that read GELF: the
// --gelf-*-port ones, or every port with --gelf. RELP ports read syslog only (config.Validate).
func formatPorts(cfg config.Config) (syslogPorts, gelfPorts portSet) {
	syslogPorts = portSet{cfg.UDPPorts, cfg.TCPPorts, cfg.TLSPorts}
	gelfPorts = portSet{cfg.GELFUDPPorts, cfg.GELFTCPPorts, cfg.GELFTLSPorts}
	if cfg.GELF {
		return portSet{}, portSet{
			slices.Concat(syslogPorts.udp, gelfPorts.udp),
			slices.Concat(syslogPorts.tcp, gelfPorts.tcp),
			slices.Concat(syslogPorts.tls, gelfPorts.tls),
		}
	}
	return syslogPorts, gelfPorts
}

// numbers returns the port numbers of every protocol, as events and log groups know ports.
func (p portSet) numbers() []uint16 {
	var ports []uint16
	for _, port := range slices.Concat(p.udp, p.tcp, p.tls) {
		ports = append(ports, uint16(port))
	}
	return ports
}

// groupPrefixes returns prefix for each of ports, for encode.Options.PortGroupPrefixes.
func groupPrefixes(prefix string, ports []uint16) map[uint16]string {
	m := make(map[uint16]string, len(ports))
	for _, p := range ports {
		m[p] = prefix
	}
	return m
}
