// Command kinesyslog relays Syslog and GELF received over UDP, TCP and TLS to Amazon Data
// Firehose, as gzip-compressed records shaped like CloudWatch Logs subscription records, through
// an on-disk spool.
//
// Usage:
//
//	kinesyslog listen [flags]     run the relay (options also from KINESYSLOG_* variables)
//	kinesyslog install [flags]    write its systemd unit
//	kinesyslog dump PATH...       print the events of delivered objects (files, s3://) or spool files
//	kinesyslog version            print the version
//
// The command is thin: flags and environment become a config.Config, handed to relay.Run. It
// exits 0 after a clean shutdown, 1 when the work failed and 2 when it was asked wrongly
// (unknown flag, invalid configuration), printing each problem on its own line.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	// --timezone must find IANA zones on hosts without a zoneinfo database, such as minimal
	// container images; this embeds one (about 450 KB) as a fall-back.
	_ "time/tzdata"

	"github.com/spf13/cobra"

	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/relay"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the work failed: a listener, the spool, AWS, a file
	exitUsage   = 2 // the command was asked wrongly: flags, arguments, configuration
)

func main() {
	a := &app{
		stdin:      os.Stdin,
		stdout:     os.Stdout,
		stderr:     os.Stderr,
		lookupEnv:  os.LookupEnv,
		environ:    os.Environ,
		executable: os.Executable,
		version:    version,
		relay:      relay.Run,
		exit:       os.Exit,
	}
	os.Exit(a.run(context.Background(), os.Args[1:]))
}

// app is the command with what it takes from the process, so that tests run it in-process.
type app struct {
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	lookupEnv  func(string) (string, bool)
	environ    func() []string // the NAME=value list lookupEnv reads, to find unknown variables
	executable func() (string, error)
	version    string
	relay      func(context.Context, config.Config, *slog.Logger) error
	exit       func(code int) // ends the process at once: a second signal during shutdown
}

// failure marks an error of the work itself, as opposed to one of how the command was asked:
// every error not wrapped in a failure, cobra's own included, is a usage error.
type failure struct{ error }

func (f failure) Unwrap() error { return f.error }

// logged marks an error already written to the relay's log, as --log-format json writes it, so
// that run does not print it again in another form.
type logged struct{ error }

func (l logged) Unwrap() error { return l.error }

// run executes the command line args and returns the exit code, having printed any error to
// stderr, one problem per line.
func (a *app) run(ctx context.Context, args []string) int {
	root := a.command()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if _, ok := errors.AsType[logged](err); !ok {
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(a.stderr, "kinesyslog: %s\n", line)
		}
	}
	if _, ok := errors.AsType[failure](err); ok {
		return exitFailure
	}
	return exitUsage
}

// command returns the command tree.
func (a *app) command() *cobra.Command {
	root := &cobra.Command{
		Use:   "kinesyslog",
		Short: "Syslog and GELF relay to Amazon Data Firehose",
		Long: `kinesyslog receives Syslog (RFC3164, RFC5424) and GELF over UDP, TCP and TLS and delivers
it to Amazon Data Firehose, or to a local directory, as gzip-compressed JSON records shaped like
CloudWatch Logs subscription records, through an on-disk spool.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.AddCommand(a.listenCommand(), a.installCommand(), a.dumpCommand(), a.versionCommand())
	return root
}
