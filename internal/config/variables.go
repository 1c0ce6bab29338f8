package config

import (
	"strings"

	"github.com/spf13/pflag"
)

// A Variable is the environment variable of one option of `kinesyslog listen`, as a file of
// defaults (a systemd drop-in, an /etc/default file) lists it.
type Variable struct {
	// Name is the variable, EnvName of the flag: KINESYSLOG_TCP_PORT.
	Name string
	// Default is the option's default in the variable's syntax: a repeatable option's values
	// separated by spaces. Empty when the option has none or its Usage states it (a zero
	// value that Load resolves, as --flush-age's).
	Default string
	// Usage is what the option means, as `kinesyslog listen --help` says it, on one line.
	Usage string
}

// usageDefault marks a usage that states the option's default itself, because its zero value
// stands for one Load resolves (--flush-age: 60 s, 1 s with --output); pflag's help prints no
// default for a zero value.
const usageDefault = "(default "

// Variables returns the variable of every option RegisterFlags defines, in the order
// `kinesyslog listen --help` lists them, with the defaults of Default. It is the one table of
// options that files listing them are generated from, so that a new option appears there
// without further edits.
func Variables() []Variable {
	c := Default()
	fs := pflag.NewFlagSet("variables", pflag.ContinueOnError)
	fs.SortFlags = false
	c.RegisterFlags(fs)
	var vars []Variable
	fs.VisitAll(func(f *pflag.Flag) {
		_, usage := pflag.UnquoteUsage(f)
		value := f.Value.String()
		if s, ok := f.Value.(pflag.SliceValue); ok {
			value = strings.Join(s.GetSlice(), " ")
		}
		if strings.Contains(usage, usageDefault) {
			// The zero value stands for a default Load resolves, which the usage states:
			// "0s" for --flush-age would read as no wait at all.
			value = ""
		}
		vars = append(vars, Variable{Name: EnvName(f.Name), Default: value, Usage: usage})
	})
	return vars
}
