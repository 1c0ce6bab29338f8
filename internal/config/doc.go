// Package config holds the settings of `kinesyslog listen`: one Config field per command-line
// option, the defaults, the binding to flags and to KINESYSLOG_* environment variables, and the
// checks that a Config describes a relay that can run.
//
// It sits before every pipeline stage: cmd/kinesyslog builds a Config and hands it, validated, to
// the relay, which passes each stage the fields it needs. The package starts nothing and touches
// no socket; only DefaultSpoolDir looks at the file system, and it changes nothing there.
//
// # Flags and environment
//
// RegisterFlags defines one flag per field. After the command line is parsed, Load gives every
// flag that was not on the command line the value of the environment variable KINESYSLOG_<NAME>,
// where NAME is the flag name upper-cased with '-' replaced by '_' (--tcp-port is read from
// KINESYSLOG_TCP_PORT). So flags win over the environment, and the environment over defaults. In
// a variable, the values of a repeatable option are separated by whitespace
// (KINESYSLOG_TCP_PORT="5514 5515"); a boolean is 1, 0, true, false, yes or no; an empty
// variable counts as unset. UnknownEnv finds the KINESYSLOG_* variables that no option reads,
// each with the closest one that does, for the command to warn of at start.
//
// # Validation
//
// Validate reports every problem of a Config at once, joined with errors.Join, each message
// naming the flag to change, so that a misconfigured service fails once with the whole list
// rather than once per mistake.
package config
