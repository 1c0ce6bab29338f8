package relp

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"strconv"
)

// Offers of the open command and its response, as librelp 1.11.0 sends them.
const (
	offerVersion  = "relp_version"
	offerSoftware = "relp_software"
	offerCommands = "commands"
	// protocolVersion is the relp_version both sides offer; librelp answers 0 whatever a client
	// offers.
	protocolVersion = "0"
	softwareURL     = "https://github.com/kinesyslog/kinesyslog"
)

// Status texts of rsp frames.
const (
	statusOK = "200 OK"
	// codeOK is the status code of an acknowledgement; any other code refuses.
	codeOK = 200
	// codeError is the status code of a refusal.
	codeError = 500
)

// offers returns the offers this package makes: relp_version, relp_software and
// commands=syslog, LF-separated.
func offers() string {
	version := "(devel)"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		version = info.Main.Version
	}
	return offerVersion + "=" + protocolVersion + "\n" +
		offerSoftware + "=kinesyslog," + version + "," + softwareURL + "\n" +
		offerCommands + "=" + CmdSyslog
}

// offer returns the value of the offer called name in data (LF-separated "name[=value]" lines)
// and whether it is there.
func offer(data []byte, name string) ([]byte, bool) {
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		key, value, _ := bytes.Cut(line, []byte("="))
		if string(key) == name {
			return value, true
		}
	}
	return nil, false
}

// offersSyslog reports whether data, the offers of an open command or its response, has a
// commands offer that lists syslog (a comma-separated list).
func offersSyslog(data []byte) bool {
	commands, ok := offer(data, offerCommands)
	if !ok {
		return false
	}
	for c := range bytes.SplitSeq(commands, []byte(",")) {
		if string(c) == CmdSyslog {
			return true
		}
	}
	return false
}

// parseResponse splits the DATA of an rsp frame, "CODE SP TEXT [LF DATA]", into its parts. An
// empty DATA, which librelp sends in answer to close, is code 200.
func parseResponse(data []byte) (code int, text string, rest []byte, err error) {
	if len(data) == 0 {
		return codeOK, "", nil, nil
	}
	status, rest, _ := bytes.Cut(data, []byte("\n"))
	c, t, _ := bytes.Cut(status, []byte(" "))
	code, err = strconv.Atoi(string(c))
	if err != nil || len(c) != 3 {
		return 0, "", nil, fmt.Errorf("%w: rsp status %q, want a 3-digit code", ErrMalformed, status)
	}
	return code, string(t), rest, nil
}
