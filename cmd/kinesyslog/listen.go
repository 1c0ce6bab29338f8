package main

import (
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kinesyslog/kinesyslog/internal/config"
)

// memoryRestBytes is what the relay's soft memory limit leaves beyond the buffers' cap for the
// rest: the batches' unused room and those kept for reuse, the encoders' records, the intake
// log's write buffers, connections' staged events and read buffers, the uploader's records and
// request bodies. Under the Firehose load of bench/run that rest is about 90 MiB of live heap
// (BENCHMARKS.md, session 10), so that the collector works to a goal above it; at 128 MiB the
// TCP load into --output, whose heap reaches some 200 MiB under GOGC alone, collected more often
// and accepted fewer messages a second in four interleaved pairs of four.
const memoryRestBytes = 160 << 20

// memoryLimitBytes returns the relay's soft memory limit for cfg: the buffers' cap, lower with
// the intake log (config.Config.BufferMaxBytes), and memoryRestBytes.
func memoryLimitBytes(cfg config.Config) int64 {
	return cfg.BufferMaxBytes() + memoryRestBytes
}

func (a *app) listenCommand() *cobra.Command {
	cfg := config.Default()
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Run the relay: receive syslog or GELF and deliver it",
		Long: `Run the relay: listen on the given UDP, TCP and TLS ports, and deliver what arrives to the
Firehose delivery stream --stream, or to the local directory --output, through the spool.
SIGTERM or SIGINT stops it: it stops accepting, spools what it holds, makes one last upload
attempt, all within --shutdown-timeout, and exits 0, or 1 when messages were lost; a second
signal ends it at once, with status 1.

Every option can also be set as an environment variable KINESYSLOG_<NAME>: the flag name
upper-cased with '-' as '_'. Repeated values are separated by whitespace, booleans are 1, 0,
true, false, yes or no, and a flag on the command line wins over the environment:

  KINESYSLOG_TCP_PORT="5514 5515" KINESYSLOG_STREAM=my-stream kinesyslog listen`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Load(cmd.Flags(), a.lookupEnv); err != nil {
				return err
			}
			logger := newLogger(a.stderr, cfg)
			if err := cfg.Validate(); err != nil {
				return inJSONLog(logger, cfg, "invalid configuration", err)
			}
			for _, v := range config.UnknownEnv(cmd.Flags(), a.environ()) {
				logger.Warn("environment variable ignored: no option reads it", "variable", v.Name, "did_you_mean", v.Closest)
			}
			// The relay's memory is mostly its buffers and the batches and records that move
			// through the stages: a soft limit a little above the buffers' cap keeps the heap
			// from growing to twice what is live, as GOGC alone lets it (with the intake log,
			// 224 MiB: under the Firehose load the live heap is about 120 MiB, and GOGC let the
			// relay reach 275 MiB). GOMEMLIMIT, when set, wins.
			if _, set := a.lookupEnv("GOMEMLIMIT"); !set {
				debug.SetMemoryLimit(memoryLimitBytes(cfg))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sigs)
			done := make(chan struct{})
			defer close(done)
			go a.exitOnSecondSignal(logger, sigs, done)
			if err := a.relay(ctx, cfg, logger); err != nil {
				return inJSONLog(logger, cfg, "relay failed", failure{err})
			}
			return nil
		},
	}
	// In the order RegisterFlags gives them: destination, listeners, messages, spool, the rest.
	cmd.Flags().SortFlags = false
	cfg.RegisterFlags(cmd.Flags())
	return cmd
}

// newLogger returns the relay's logger on w: in cfg.LogFormat (slog's text or JSON handler), at
// Debug level with cfg.Debug, else at Info.
func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.Debug {
		opts.Level = slog.LevelDebug
	}
	if cfg.LogFormat == config.LogFormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// inJSONLog returns err, first written to logger, one Error line per line of err, when cfg asks
// for a JSON log: a log shipper then reads only JSON lines, the last saying why the relay ended.
func inJSONLog(logger *slog.Logger, cfg config.Config, msg string, err error) error {
	if cfg.LogFormat != config.LogFormatJSON {
		return err
	}
	for line := range strings.SplitSeq(err.Error(), "\n") {
		logger.Error(msg, "error", line)
	}
	return logged{err}
}

// exitOnSecondSignal ends the process at once, with exitFailure, on the second SIGTERM or SIGINT:
// the first starts the shutdown (signal.NotifyContext), which an operator may not want to wait
// out. sigs receives those signals; it returns when done is closed.
func (a *app) exitOnSecondSignal(logger *slog.Logger, sigs <-chan os.Signal, done <-chan struct{}) {
	for seen := 0; ; {
		select {
		case <-done:
			return
		case sig := <-sigs:
			if seen++; seen == 2 {
				logger.Error("second signal during shutdown: exiting at once; messages not yet spooled are lost",
					"signal", sig.String())
				a.exit(exitFailure)
				return
			}
		}
	}
}
